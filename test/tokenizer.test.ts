// The tokenizer layer against two independent implementations: HF `tokenizers` on the real
// Gemma 3 tokenizer.json, and llama.cpp (node-llama-cpp) on a GGUF carrying the same vocabulary.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { GgufMetadataValue } from '../src/runtime/addon.js';
import { Model } from '../src/runtime/index.js';
import { tokenizerFromDir, tokenizerFromGguf, type Tokenizer } from '../src/tokenizer/index.js';
import { gemma3TokenizerDir, gemma3VocabModel, tinyModel } from './helpers/models.js';

const utf8 = new TextEncoder();

let llama: Llama;
const oracles: LlamaModel[] = [];

interface LlamaTokenizer {
  /** llama.cpp's own tokenization of the GGUF's vocabulary (special tokens parsed, no BOS) */
  encode(text: string): number[];
  /** llama.cpp's detokenization, special tokens rendered */
  decode(ids: number[]): string;
}

async function llamaTokenizer(file: string): Promise<LlamaTokenizer> {
  const m = await llama.loadModel({ modelPath: file, gpuLayers: 0, vocabOnly: true });
  oracles.push(m);
  return {
    encode: (text) => Array.from(m.tokenize(text, true), Number),
    decode: (ids) => m.detokenize(ids as unknown as Parameters<LlamaModel['detokenize']>[0], true),
  };
}

async function ggufMetadata(file: string): Promise<Record<string, GgufMetadataValue>> {
  const m = await Model.open(file);
  try {
    return m.metadata();
  } finally {
    await m.close();
  }
}

/** Deterministic random strings built from pieces that stress merges, whitespace and specials. */
function fuzzStrings(pool: string[], count: number, seed: number): string[] {
  let s = seed;
  const rnd = (): number => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const out: string[] = [];
  for (let k = 0; k < count; k++) {
    let t = '';
    const n = 1 + Math.floor(rnd() * 20);
    for (let i = 0; i < n; i++) t += pool[Math.floor(rnd() * pool.length)];
    out.push(t);
  }
  return out;
}

const longText = [
  'Tokenizers split text into pieces. ',
  'def encode(self, text):\n    for line in text.splitlines():\n\t\tyield line.strip()\n\n\n',
  '東京は日本の首都です。北京是中国的首都。서울은 한국의 수도입니다. ',
  'القاهرة هي عاصمة مصر. ',
  'Family: 👨‍👩‍👧‍👦, flags 🇯🇵🇫🇷, skin 👋🏾. ',
  '<start_of_turn>user\nQ?<end_of_turn>\n',
  '     spaced     out     ',
].join('').repeat(30);

const corpus: Record<string, string> = {
  'English prose': 'The quick brown fox jumps over the lazy dog. It\'s 3.14159 — “quoted” text… (and more)!',
  'Python with indentation': 'def f(x):\n    if x > 0:\n        return x * 2\n    return -x\n',
  'code with tabs': 'int main() {\n\tfor (int i = 0; i < 10; i++) {\n\t\tprintf("%d\\n", i);\n\t}\n}\n',
  'JavaScript': 'const a = [1, 2, 3].map((v) => v ** 2); // squares\nexport default a;\n',
  CJK: '日本語のテキストと中文文本，以及한국어 텍스트가 섞여 있습니다。',
  Arabic: 'مرحبا بالعالم، كيف حالك اليوم؟',
  emoji: '😀 👍🏽 🇩🇪 🏳️‍🌈',
  'emoji ZWJ sequences': '👨‍👩‍👧‍👦👩🏽‍💻🧑‍🤝‍🧑',
  'runs of spaces and newlines': 'a     b\n\n\n\nc\t\t\td' + ' '.repeat(70) + 'e' + '\n'.repeat(40) + 'f',
  'leading and trailing spaces': '   leading and trailing   ',
  'single space': ' ',
  'single newline': '\n',
  'special tokens as text': '<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n',
  'more specials': '<bos><eos><pad><unk><mask>[multimodal]<unused5><start_of_image>',
  'HTML tags (user-defined tokens)': '<table><tr><td>cell</td></tr></table><h1>x</h1>',
  'byte-fallback characters': '\u0000\u0001\u007f \uE000\uF8FF \u{10FFFF} 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ꙮ \u{E0041}',
  'combining marks': 'e\u0301 n\u0303 Ünïcödé façade',
  'repeated punctuation': '----------======..........__________!!!???',
  'byte token text': '<0x41><0x0A>',
  URL: 'https://example.com/path?q=1&r=2#frag',
  'CRLF and NBSP': 'a\r\nb\u00a0c\u200bd',
  'empty string': '',
  'long text': longText,
};

const fuzzPool = [' ', '  ', '\n', '\t', 'a', 'e', 'the', 'ing', ' the', 'Hello', '.', ',', '-', '=', '_', '日', '本', '語',
  'é', 'ü', 'ß', 'م', 'ر', '😀', '\u200d', '👩', '🏽', '<', '>', '/', 'td', '<td>', '<start_of_turn>', '<end_of_turn>', '<eos>',
  '0x', '1', '23', '\u0301', 'ǅ', '\r\n', '\u200b', '\u00a0', 'ab', 'ba', 'bb', 'xyz', '{', '}', '(', ')'];

beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
});

afterAll(async () => {
  for (const m of oracles) await m.dispose();
  await llama?.dispose();
});

describe('Gemma 3 vocabulary: tokenizer.json, the GGUF and llama.cpp agree', () => {
  let dir: Tokenizer;
  let gguf: Tokenizer;
  let ref: LlamaTokenizer;
  let md: Record<string, GgufMetadataValue>;

  beforeAll(async () => {
    dir = await tokenizerFromDir(gemma3TokenizerDir);
    md = await ggufMetadata(gemma3VocabModel);
    gguf = await tokenizerFromGguf(md);
    ref = await llamaTokenizer(gemma3VocabModel);
  });

  it('the GGUF carries the vocabulary as published gemma-3 GGUFs do', () => {
    const types = md['tokenizer.ggml.token_type'] as Int32Array;
    const scores = md['tokenizer.ggml.scores'] as Float32Array;
    expect(Array.from(types.slice(0, 6))).toEqual([3, 3, 3, 3, 3, 4]); // <pad> <eos> <bos> <unk> <mask> control, [multimodal] user-defined
    expect(Array.from(scores.slice(0, 4))).toEqual([-1000, -1000, -1000, -1000]);
    expect(md['tokenizer.ggml.eos_token_id']).toBe(106);
    expect(md['tokenizer.ggml.add_space_prefix']).toBe(false);
    expect((md['tokenizer.ggml.tokens'] as string[])[138]).toBe('  '); // user-defined '▁▁' written with spaces
  });

  it('exposes the same ids and flags from both sources', () => {
    expect(gguf.vocabSize).toBe(262144);
    expect(dir.vocabSize).toBe(262145); // tokenizer.json also has <image_soft_token>, which text GGUFs drop
    for (const t of [dir, gguf]) {
      expect(t.bosId).toBe(2);
      expect(t.eosId).toBe(106);
      expect(t.addBos).toBe(true);
      expect(t.addSpacePrefix).toBe(false);
      expect(t.tokenId('<end_of_turn>')).toBe(106);
      expect(t.tokenId('<start_of_turn>')).toBe(105);
      expect(t.tokenId('no such token, surely')).toBeUndefined();
    }
  });

  for (const [name, text] of Object.entries(corpus)) {
    it(`encodes ${name} identically and decodes it back`, async () => {
      const fromGguf = await gguf.encode(text);
      expect(fromGguf).toEqual(ref.encode(text));
      expect(await dir.encode(text)).toEqual(fromGguf);
      expect(gguf.decode(fromGguf)).toBe(text);
      expect(dir.decode(fromGguf)).toBe(text);
      expect(ref.decode(fromGguf)).toBe(text);
    });
  }

  it('a long text (encoded on a worker thread) gets the same ids as llama.cpp and tokenizer.json, and the event loop keeps running', async () => {
    const long = fuzzStrings(fuzzPool, 400, 777).join(' ') + Object.values(corpus).join('\n');
    expect(long.length).toBeGreaterThan(16_384); // past the off-thread threshold
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const fromGguf = await gguf.encode(long);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0); // timers ran while it was encoded
    expect(fromGguf).toEqual(ref.encode(long));
    expect(await dir.encode(long)).toEqual(fromGguf);
  });

  it('the worker runs only on idle CPU (SCHED_IDLE), starts at once when asked, and ends with close()', async () => {
    // threads of this process and their scheduling policy: field 41 of /proc/<pid>/task/<tid>/stat
    const SCHED_IDLE = 5;
    const idleThreads = (): Set<string> => new Set(fs.readdirSync('/proc/self/task').filter((tid) => {
      try {
        const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[41 - 3]) === SCHED_IDLE;
      } catch {
        return false; // a thread that ended meanwhile
      }
    }));
    const before = idleThreads();
    const t = await tokenizerFromGguf(md, { startWorker: true });
    const long = Object.values(corpus).join('\n').repeat(20);
    expect(long.length).toBeGreaterThan(16_384);
    expect(await t.encode(long)).toEqual(ref.encode(long)); // answered by the started worker
    const ours = [...idleThreads()].filter((tid) => !before.has(tid));
    expect(ours).toHaveLength(1);
    await t.close();
    expect(idleThreads().has(ours[0]!)).toBe(false);
    expect(await t.encode(long)).toEqual(ref.encode(long)); // a later long text starts it again
    await t.close();
  });

  it('agrees on 300 random mixtures of tricky pieces', async () => {
    for (const text of fuzzStrings(fuzzPool, 300, 12345)) {
      const ids = await gguf.encode(text);
      expect(ids, JSON.stringify(text)).toEqual(ref.encode(text));
      expect(await dir.encode(text), JSON.stringify(text)).toEqual(ids);
      expect(gguf.decode(ids)).toBe(text);
    }
  });

  it('follows llama.cpp where tokenizer.json differs: a literal "▁" in the text', async () => {
    // HF normalizes ' ' to '▁' before matching, so a literal '▁' behaves like a space there;
    // llama.cpp matches the user-defined space runs on the raw text. The GGUF path must match llama.cpp.
    for (const text of ['x  ▁y', '▁▁ ▁', 'a ▁\tb']) expect(await gguf.encode(text)).toEqual(ref.encode(text));
  });

  it('adds BOS only when asked', async () => {
    for (const t of [dir, gguf]) {
      expect(await t.encode('', { addSpecial: true })).toEqual([2]);
      expect(await t.encode('')).toEqual([]);
      const ids = await t.encode('Hello world', { addSpecial: true });
      expect(ids[0]).toBe(2);
      expect(ids.slice(1)).toEqual(await t.encode('Hello world'));
    }
  });

  it('gives every token the same bytes from both sources', () => {
    let differing = 0;
    for (let id = 0; id < gguf.vocabSize; id++) {
      const a = gguf.tokenBytes(id);
      const b = dir.tokenBytes(id);
      if (a.length !== b.length || a.some((x, i) => x !== b[i])) differing++;
    }
    expect(differing).toBe(0);
  });

  it('maps byte tokens to their byte, ▁ to a space, control tokens to their text', () => {
    for (const t of [dir, gguf]) {
      expect(Array.from(t.tokenBytes(t.tokenId('<0x0A>')!))).toEqual([0x0a]);
      expect(Array.from(t.tokenBytes(t.tokenId('<0xE2>')!))).toEqual([0xe2]);
      expect(t.tokenBytes(t.tokenId('▁the')!)).toEqual(utf8.encode(' the'));
      expect(t.tokenBytes(t.tokenId('▁')!)).toEqual(utf8.encode(' '));
      expect(t.tokenBytes(106)).toEqual(utf8.encode('<end_of_turn>'));
      expect(t.tokenBytes(2)).toEqual(utf8.encode('<bos>'));
      expect(t.tokenBytes(108)).toEqual(utf8.encode('\n\n'));
      expect(t.tokenBytes(138)).toEqual(utf8.encode('  '));
    }
  });

  it('flags control tokens as special and text as not', () => {
    for (const t of [dir, gguf]) {
      for (const s of ['<pad>', '<eos>', '<bos>', '<unk>', '<start_of_turn>', '<end_of_turn>']) expect(t.isSpecial(t.tokenId(s)!), s).toBe(true);
      for (const s of ['▁the', 'Hello', '<0x41>', '<table>']) expect(t.isSpecial(t.tokenId(s)!), s).toBe(false);
      expect(t.isSpecial(108)).toBe(false); // '\n\n'
    }
  });

  it('decodes with and without special tokens; broken UTF-8 becomes U+FFFD', async () => {
    for (const t of [dir, gguf]) {
      const ids = await t.encode('<start_of_turn>user\nHi<end_of_turn>', { addSpecial: true });
      expect(t.decode(ids)).toBe('<bos><start_of_turn>user\nHi<end_of_turn>');
      expect(t.decode(ids, { skipSpecial: true })).toBe('user\nHi');
      // '€' is E2 82 AC: a lone lead byte is not text
      expect(t.decode([t.tokenId('<0xE2>')!, t.tokenId('<0x82>')!, t.tokenId('<0xAC>')!])).toBe('€');
      expect(t.decode([t.tokenId('<0xE2>')!, t.tokenId('a')!])).toBe('\uFFFDa');
    }
    // a character outside the vocabulary falls back to its UTF-8 bytes
    const ids = await gguf.encode('\u{10FFFF}');
    expect(ids.map((id) => gguf.tokenBytes(id)[0])).toEqual([0xf4, 0x8f, 0xbf, 0xbf]);
  });

  it('rejects ids outside the vocabulary with a coded error', () => {
    for (const t of [dir, gguf]) {
      expect(() => t.tokenBytes(-1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
      expect(() => t.tokenBytes(t.vocabSize)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
      expect(() => t.decode([1.5])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
      expect(() => t.isSpecial(1e9)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    }
  });
});

describe('the tiny fake vocabulary (test models)', () => {
  let gguf: Tokenizer;
  let ref: LlamaTokenizer;
  let md: Record<string, GgufMetadataValue>;

  beforeAll(async () => {
    md = await ggufMetadata(tinyModel('gemma3'));
    gguf = await tokenizerFromGguf(md);
    ref = await llamaTokenizer(tinyModel('gemma3'));
  });

  it('reads ids and flags from the metadata', () => {
    expect(gguf.vocabSize).toBe(384);
    expect([gguf.bosId, gguf.eosId, gguf.addBos, gguf.addSpacePrefix]).toEqual([2, 1, true, false]);
    expect(gguf.tokenId('<start_of_turn>')).toBe(4);
    expect(gguf.isSpecial(4)).toBe(true);
    expect(gguf.isSpecial(3)).toBe(true); // <unk> (UNKNOWN) counts as special, as in HF
    expect(gguf.isSpecial(gguf.tokenId('▁a')!)).toBe(false);
  });

  it('tokenizes as llama.cpp does, even where a merge joins pieces that are not tokens', async () => {
    // '▁' and 'a' are not tokens here, '▁a' is: llama.cpp merges them, a BPE merge table could not
    const pool = [...fuzzPool, '▁', 'b', 'd', ' a', 'abab', ' bd', '<bos>', '<unk>', 'zz', ' q'];
    const texts = [...Object.values(corpus), ...fuzzStrings(pool, 300, 777)];
    for (const text of texts) {
      const ids = await gguf.encode(text);
      expect(ids, JSON.stringify(text)).toEqual(ref.encode(text));
      // no round trip here: a space that joins no token stays the byte-fallback '▁' (U+2581), in llama.cpp too
      expect(gguf.decode(ids)).toBe(ref.decode(ids));
    }
    expect(await gguf.encode(' a')).toEqual([gguf.tokenId('▁a')]);
  });

  it('maps byte tokens and ▁-pieces to bytes', () => {
    expect(Array.from(gguf.tokenBytes(6))).toEqual([0x00]); // <0x00>
    expect(Array.from(gguf.tokenBytes(6 + 0x41))).toEqual([0x41]);
    expect(gguf.tokenBytes(gguf.tokenId('▁a')!)).toEqual(utf8.encode(' a'));
    expect(gguf.tokenBytes(5)).toEqual(utf8.encode('<end_of_turn>'));
  });

  it('puts a space before text after BOS or a special token when add_space_prefix is set', async () => {
    const t = await tokenizerFromGguf({ ...md, 'tokenizer.ggml.add_space_prefix': true });
    const a = gguf.tokenId('▁a')!;
    expect(t.addSpacePrefix).toBe(true);
    expect(await t.encode('a')).toEqual([a]);
    expect(await t.encode('a<end_of_turn>a', { addSpecial: true })).toEqual([2, a, 5, a]);
    expect(t.decode([2, a, 5, a], { skipSpecial: true })).toBe('a a');
  });
});

describe('bad input', () => {
  it('tokenizerFromDir: a missing directory or a broken tokenizer.json', async () => {
    await expect(tokenizerFromDir('/nonexistent/model')).rejects.toMatchObject({ code: 'ERR_NO_TOKENIZER' });
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'potron-tok-'));
    try {
      fs.writeFileSync(path.join(tmp, 'tokenizer.json'), '{"model": ');
      await expect(tokenizerFromDir(tmp)).rejects.toMatchObject({ code: 'ERR_BAD_TOKENIZER_FILE' });
      fs.writeFileSync(path.join(tmp, 'tokenizer.json'), '{"model": {"type": "NoSuchModel"}}');
      await expect(tokenizerFromDir(tmp)).rejects.toMatchObject({ code: 'ERR_BAD_TOKENIZER_FILE' });
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('tokenizerFromGguf: missing, malformed or unsupported vocabulary metadata', async () => {
    const md = await ggufMetadata(tinyModel('gemma3'));
    await expect(tokenizerFromGguf({})).rejects.toMatchObject({ code: 'ERR_BAD_MODEL_FILE' });
    await expect(tokenizerFromGguf({ ...md, 'tokenizer.ggml.model': 'gpt2' })).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_TOKENIZER' });
    await expect(tokenizerFromGguf({ ...md, 'tokenizer.ggml.tokens': [] })).rejects.toMatchObject({ code: 'ERR_BAD_MODEL_FILE' });
    await expect(tokenizerFromGguf({ ...md, 'tokenizer.ggml.scores': new Float32Array(3) })).rejects.toMatchObject({ code: 'ERR_BAD_MODEL_FILE' });
    await expect(tokenizerFromGguf({ ...md, 'tokenizer.ggml.token_type': 'x' })).rejects.toMatchObject({ code: 'ERR_BAD_MODEL_FILE' });
    await expect(tokenizerFromGguf({ ...md, 'tokenizer.ggml.bos_token_id': -1 })).rejects.toMatchObject({ code: 'ERR_BAD_MODEL_FILE' });
    await expect(tokenizerFromGguf({ ...md, 'tokenizer.ggml.add_bos_token': 'yes' })).rejects.toMatchObject({ code: 'ERR_BAD_MODEL_FILE' });
  });

  it('encode() rejects what is not a string', async () => {
    const t = await tokenizerFromGguf(await ggufMetadata(tinyModel('gemma3')));
    await expect(t.encode(42 as unknown as string)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });
});
