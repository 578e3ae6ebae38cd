// The WordPiece tokenizer of BERT-family GGUFs ("bert" vocabularies) against llama.cpp (through
// node-llama-cpp) on the same files, and the HF directory twin against `tokenizers`. The two
// references disagree on some texts (listed in src/tokenizer/wpm.ts); there the GGUF path must
// give llama.cpp's ids and the HF path tokenizers' ids, as the user's other tools would.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';
import { Tokenizer as HfTokenizer } from 'tokenizers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { GgufMetadataValue } from '../src/runtime/addon.js';
import { Encoder } from '../src/runtime/index.js';
import { tokenizerFromDir, tokenizerFromGguf, type Tokenizer } from '../src/tokenizer/index.js';
import { encoderModel } from './helpers/models.js';
import { writeVocabGguf, type VocabGgufValue } from './helpers/vocab-gguf.js';

const utf8 = new TextEncoder();

let llama: Llama;
const loaded: LlamaModel[] = [];
let tmp: string;

/** llama.cpp on a GGUF: its tokenize (special tokens parsed) and the ids its WPM add_special puts around a text. */
interface LlamaWpm {
  tokenize(text: string): number[];
  /** llama_vocab_bos / llama_vocab_sep: what tokenize(text, add_special = true) puts first and last for WPM */
  bos: number | null;
  sep: number | null;
}

async function llamaWpm(file: string): Promise<LlamaWpm> {
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0, vocabOnly: true });
  loaded.push(model);
  return {
    tokenize: (text) => Array.from(model.tokenize(text, true), Number),
    bos: model.tokens.bos,
    sep: model.tokens.sep,
  };
}

/** The GGUF's metadata as the runtime reads it (what the engine gives tokenizerFromGguf). */
async function ggufMetadata(file: string): Promise<Record<string, GgufMetadataValue>> {
  const e = await Encoder.open(file);
  try {
    return e.metadata();
  } finally {
    await e.close();
  }
}

/** `tokenizers` itself on a tokenizer.json (not through our wrapper). */
function hfIds(hf: HfTokenizer, text: string, addSpecial = false): Promise<number[]> {
  return hf.encode(text, null, { addSpecialTokens: addSpecial }).then((e) => e.getIds());
}

/** Deterministic random texts glued from the pool's pieces. */
function mixtures(pool: readonly string[], count: number, seed: number): string[] {
  let s = seed >>> 0;
  const rnd = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  return Array.from({ length: count }, () => {
    let t = '';
    for (let n = 1 + Math.floor(rnd() * 16); n > 0; n--) t += pool[Math.floor(rnd() * pool.length)];
    return t;
  });
}

// texts on which llama.cpp and tokenizers agree
const corpus: Record<string, string> = {
  'plain English': 'The quick brown fox jumps over the lazy dog. Sentence embeddings map text to vectors.',
  uppercase: 'HELLO WORLD, THIS IS LOUD. MiXeD CaSe WoRdS and Title Case',
  accents: 'café naïve Ångström façade résumé Zürich São Paulo coöperate Øresund İstanbul',
  'combining marks written out': 'e\u0301 a\u0308 n\u0303 A\u030a',
  'every ASCII punctuation character': '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~',
  'punctuation runs': '...!!!???---***,,,;;;:::((()))[[[]]]{{{}}} wait...what?! don\'t it\'s e-mail a/b/c «quoted» “smart” — dash',
  digits: '0123456789 3.14159 1,000,000 2024-01-31 007 ①②③ x²³ ٣٤٥ ४५६',
  CJK: '東京は日本の首都です。北京是中国的首都。漢字かなカナ 𠀀𪜀',
  emoji: '😀 👍🏽 🇩🇪 🏳️‍🌈 👨‍👩‍👧‍👦 ❤️ ✨',
  Cyrillic: 'Привет, мир! Съешь же ещё этих мягких французских булок.',
  Greek: 'Ελληνικά: ΣΊΣΥΦΟΣ ἀλήθεια',
  Arabic: 'مرحبا بالعالم، كَيْفَ حالك؟',
  Hebrew: 'שָׁלוֹם עוֹלָם',
  Thai: 'สวัสดีชาวโลก ภาษาไทย',
  'Devanagari without vowel signs': 'नमस्ते',
  'control characters': '\u0000a\u0001b\u0007c\u001bd\u001ce\u007ff\u0080g\u009fh\ufeffi\u200ej\u{E0001}k\uE000l\u{F0000}m',
  'odd whitespace': 'a\tb\r\nc\u00a0d\u2003e\u3000f\u2028g\u202fh\u200bi\u2060j \n\n  k',
  'unmatchable words': 'qzxjqzxj ☃☃ ꙮ xkcdq ∰∰',
  'a word of exactly 100 characters': 'ab'.repeat(50),
  'special tokens written in the text': '[CLS] hello [SEP] [MASK] fills [PAD][UNK] but [cls] and [ MASK ] are text',
  'empty string': '',
  'whitespace only': '  \t\n ',
  'URL and code': 'https://example.com/path?q=1&r=2#frag def f(x): return x**2 // i++',
  'scripts glued together': 'Hello世界Привет123abcالعربية',
  'a lone surrogate': 'a\ud800b \udc00c',
};

// texts on which they differ: llama.cpp's WPM preprocessing (src/llama-vocab.cpp) vs
// BertNormalizer / BertPreTokenizer / WordPiece (tokenizers), with the pieces each gives
const differences: Array<{ name: string; text: string; llama: string[]; tokenizers: string[] }> = [
  // NFD keeps the first code point only: a Hangul syllable keeps its leading consonant
  { name: 'Hangul syllables', text: '한국', llama: ['▁ᄒ', 'ᄀ'], tokenizers: ['ᄒ', '##ᅡ', '##ᆫ', '##ᄀ', '##ᅮ', '##ᆨ'] },
  // every mark is stripped (Mn, Mc, Me), tokenizers strips Mn only: U+093F (Mc) is gone
  { name: 'a spacing vowel sign (Mc)', text: 'हि', llama: ['▁ह'], tokenizers: ['ह', '##ि'] },
  { name: 'an enclosing mark (Me)', text: 'x\u20dd', llama: ['▁x'], tokenizers: ['[UNK]'] },
  // U+000B, U+000C, U+0085 are whitespace to llama.cpp, control characters (removed) to tokenizers
  { name: 'vertical tab, form feed, NEL', text: 'a\u000bb\u000cc\u0085d', llama: ['▁a', '▁b', '▁c', '▁d'], tokenizers: ['abc', '##d'] },
  // no max_input_chars_per_word (100) in llama.cpp
  { name: 'a word of 101 characters', text: 'x'.repeat(101), llama: ['▁xx', ...Array<string>(49).fill('xx'), 'x'], tokenizers: ['[UNK]'] },
  // a literal '▁' (U+2581, a symbol kept inside words) matches as a word-start piece
  { name: "a literal '▁' inside a word", text: 'x▁x', llama: ['▁x', '▁x'], tokenizers: ['[UNK]'] },
  // tokenizers' Unicode tables are older: U+061D (Po since Unicode 14) is a letter to it
  { name: 'punctuation added in Unicode 14', text: 'a\u061db', llama: ['▁a', '[UNK]', '▁b'], tokenizers: ['[UNK]'] },
];

const pool = [' ', '  ', '\n', '\t', '\r\n', '\u00a0', '\u200b', 'the', 'The', 'THE', 'ing', 'un', 'believ', 'able', 'café', 'NAÏVE',
  'Ångström', '.', ',', '!', '?', '...', '-', '(', ')', '"', "'", '#', '@', '$', '%', '^', '&', '*', '_', '=', '+', '[', ']', '{', '}',
  '|', '\\', '/', ':', ';', '<', '>', '`', '~', '0', '42', '3.14', '東', '京', 'の', '中文', '😀', '👍🏽', 'Привет', 'مرحبا', 'नमस्ते',
  'สวัสดี', 'Ελλάδα', 'e\u0301', '\u0000', '\u0007', '[CLS]', '[SEP]', '[MASK]', '[UNK]', '[cls]', 'qzxj', 'ꙮ', 'x'.repeat(30),
  '한국', 'हिंदी', '\u000b']; // the last three: where tokenizers differs

/** A text tokenizers treats differently from llama.cpp (the kinds of `differences`). */
function diverges(text: string): boolean {
  return /[\uac00-\ud7a3\u000b\u000c\u0085\u2581\u061d]|\p{Mc}|\p{Me}/u.test(text)
    || text.split(/[\s\p{P}]/u).some((w) => [...w].length > 100);
}

beforeAll(async () => {
  // vocabulary-only files have no tensors: node-llama-cpp's resource estimate fails to load them
  // (and says so) before the vocabulary-only load, which works
  const estimate = /missing tensor|failed to load model|simulating model resource usage/;
  llama = await getLlama({
    gpu: false, build: 'never', logLevel: 'error' as never,
    logger: (_level, message) => { if (!estimate.test(message)) console.error(message); },
  });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'potron-wpm-'));
});

afterAll(async () => {
  for (const m of loaded) await m.dispose();
  await llama?.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('bert-base-uncased vocabulary: the GGUF as llama.cpp, the HF directory as tokenizers', () => {
  const fixture = encoderModel('bert', { vocab: 'bert', pooling: 'mean' });
  let md: Record<string, GgufMetadataValue>;
  let gguf: Tokenizer;
  let dir: Tokenizer;
  let ref: LlamaWpm;
  let hf: HfTokenizer;
  const pieces = (ids: number[]): string[] => ids.map((id) => (md['tokenizer.ggml.tokens'] as string[])[id]!);

  beforeAll(async () => {
    md = await ggufMetadata(fixture.gguf);
    gguf = await tokenizerFromGguf(md);
    dir = await tokenizerFromDir(fixture.hfDir);
    ref = await llamaWpm(fixture.gguf);
    hf = HfTokenizer.fromString(fs.readFileSync(path.join(fixture.hfDir, 'tokenizer.json'), 'utf8'));
  });

  afterAll(async () => {
    await gguf?.close();
  });

  it('the GGUF holds the vocabulary as convert_hf_to_gguf.py writes it', () => {
    const tokens = md['tokenizer.ggml.tokens'] as string[];
    expect(md['tokenizer.ggml.model']).toBe('bert');
    expect(tokens.slice(99, 105)).toEqual(['▁[unused98]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '▁[unused99]']);
    expect(tokens[1996]).toBe('▁the');
    expect(tokens[2015]).toBe('s'); // "##s"
    expect(Array.from((md['tokenizer.ggml.token_type'] as Int32Array).slice(100, 104))).toEqual([3, 3, 3, 3]);
  });

  it('both sources report the same special ids and flags', () => {
    for (const t of [gguf, dir]) {
      expect(t.vocabSize).toBe(30522);
      expect([t.bosId, t.eosId, t.addBos, t.addSpacePrefix]).toEqual([101, 102, true, true]);
      expect(t.tokenId('[CLS]')).toBe(101);
      expect(t.tokenId('[MASK]')).toBe(103);
      for (const s of ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']) expect(t.isSpecial(t.tokenId(s)!), s).toBe(true);
    }
    expect([ref.bos, ref.sep]).toEqual([101, 102]);
    // each source looks pieces up in its own form
    expect(gguf.tokenId('▁the')).toBe(1996);
    expect(dir.tokenId('the')).toBe(1996);
    expect(gguf.tokenId('s')).toBe(2015);
    expect(dir.tokenId('##s')).toBe(2015);
  });

  for (const [name, text] of Object.entries(corpus)) {
    it(`${name}: llama.cpp's ids from the GGUF, and tokenizers agrees`, async () => {
      const ids = await gguf.encode(text);
      expect(ids).toEqual(ref.tokenize(text));
      expect(ids).toEqual(await hfIds(hf, text));
      expect(await dir.encode(text)).toEqual(ids);
    });
  }

  for (const d of differences) {
    it(`where llama.cpp and tokenizers differ: ${d.name}`, async () => {
      const ids = await gguf.encode(d.text);
      expect(ids).toEqual(ref.tokenize(d.text));
      expect(pieces(ids)).toEqual(d.llama);
      const fromDir = await dir.encode(d.text);
      expect(fromDir).toEqual(await hfIds(hf, d.text));
      expect(fromDir.map((id) => hf.idToToken(id))).toEqual(d.tokenizers);
      expect(diverges(d.text)).toBe(true);
    });
  }

  it('wraps the text in [CLS] ... [SEP] with addSpecial, as llama.cpp (GGUF) and the post-processor (HF) do', async () => {
    for (const text of [...Object.values(corpus), ...differences.map((d) => d.text)]) {
      const g = await gguf.encode(text, { addSpecial: true });
      expect(g, JSON.stringify(text)).toEqual([ref.bos, ...ref.tokenize(text), ref.sep]);
      expect(await dir.encode(text, { addSpecial: true }), JSON.stringify(text)).toEqual(await hfIds(hf, text, true));
      if (!diverges(text)) expect(await dir.encode(text, { addSpecial: true })).toEqual(g);
    }
    expect(await gguf.encode('', { addSpecial: true })).toEqual([101, 102]);
    expect(await dir.encode('', { addSpecial: true })).toEqual([101, 102]);
  });

  it('agrees with llama.cpp on 400 random mixtures, and with tokenizers where it does not diverge', async () => {
    let compared = 0;
    for (const text of mixtures(pool, 400, 20240531)) {
      const ids = await gguf.encode(text);
      expect(ids, JSON.stringify(text)).toEqual(ref.tokenize(text));
      if (diverges(text)) continue;
      compared++;
      expect(await hfIds(hf, text), JSON.stringify(text)).toEqual(ids);
    }
    expect(compared).toBeGreaterThan(200);
  });

  it('a long text (on the worker thread) gets llama.cpp\'s ids while the event loop runs', async () => {
    const long = mixtures(pool, 600, 7).join(' ') + Object.values(corpus).join('\n').repeat(10);
    expect(long.length).toBeGreaterThan(16_384);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const ids = await gguf.encode(long);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
    expect(ids).toEqual(ref.tokenize(long));
  });

  it('gives every token the same bytes from both sources: word starts with a space, continuations without', () => {
    const differing: number[] = [];
    for (let id = 0; id < gguf.vocabSize; id++) {
      const a = gguf.tokenBytes(id);
      const b = dir.tokenBytes(id);
      if (a.length !== b.length || a.some((x, i) => x !== b[i])) differing.push(id);
    }
    expect(differing).toEqual([]);
    for (const t of [gguf, dir]) {
      expect(t.tokenBytes(1996)).toEqual(utf8.encode(' the'));
      expect(t.tokenBytes(2015)).toEqual(utf8.encode('s'));
      expect(t.tokenBytes(101)).toEqual(utf8.encode('[CLS]'));
    }
  });

  it('decodes to readable text, the first word\'s space dropped, specials kept or skipped', async () => {
    for (const t of [gguf, dir]) {
      const ids = await t.encode('Unbelievable, isn\'t it? [MASK]', { addSpecial: true });
      expect(t.decode(ids)).toBe('[CLS] unbelievable , isn \' t it ?[MASK][SEP]');
      expect(t.decode(ids, { skipSpecial: true })).toBe('unbelievable , isn \' t it ?');
    }
  });
});

describe('other BERT GGUFs', () => {
  it('a made-up vocabulary with [PAD] [UNK] [CLS] [SEP] [MASK] at 0-4: the ids come from the file', async () => {
    const fixture = encoderModel('bert', { vocab: 'tiny', pooling: 'cls' });
    const gguf = await tokenizerFromGguf(await ggufMetadata(fixture.gguf));
    const ref = await llamaWpm(fixture.gguf);
    const hf = HfTokenizer.fromString(fs.readFileSync(path.join(fixture.hfDir, 'tokenizer.json'), 'utf8'));
    expect([gguf.bosId, gguf.eosId]).toEqual([2, 3]);
    expect([ref.bos, ref.sep]).toEqual([2, 3]);
    for (const text of [...Object.values(corpus), ...mixtures(pool, 200, 99)]) {
      const ids = await gguf.encode(text, { addSpecial: true });
      expect(ids, JSON.stringify(text)).toEqual([ref.bos, ...ref.tokenize(text), ref.sep]);
      if (!diverges(text)) expect(ids, JSON.stringify(text)).toEqual(await hfIds(hf, text, true));
    }
    await gguf.close();
  });

  it('nomic-bert: the vocabulary padded with UNUSED [PADn] tokens', async () => {
    const fixture = encoderModel('nomic-bert', { vocab: 'bert', pooling: 'mean' });
    const md = await ggufMetadata(fixture.gguf);
    const gguf = await tokenizerFromGguf(md);
    const ref = await llamaWpm(fixture.gguf);
    expect(gguf.vocabSize).toBe((md['tokenizer.ggml.tokens'] as string[]).length);
    expect(gguf.vocabSize % 64).toBe(0);
    for (const text of [...Object.values(corpus), ...mixtures(pool, 100, 5)]) {
      expect(await gguf.encode(text, { addSpecial: true }), JSON.stringify(text)).toEqual([ref.bos, ...ref.tokenize(text), ref.sep]);
    }
    await gguf.close();
  });
});

describe('every code point, as llama.cpp normalizes and splits it', () => {
  // A vocabulary holding every assigned code point c (outside private use) as '▁c' and 'c': for
  // "x<c>x" the ids then show what became of c: nothing (dropped), a word break (whitespace), a
  // word of its own (punctuation, CJK), or which code point joined the word (after NFD and
  // lowercasing). Planes 0-3 and 14 hold all assigned characters but private use. The unified
  // CJK ideographs (no decomposition, no case) stay out of the vocabulary, which keeps it at a
  // third of the size: "x<c>x" still shows them as words of their own ([UNK] between two x).
  const ranges: Array<[number, number]> = [[1, 0x3ffff], [0xe0000, 0xe0fff]];
  const codePoints: number[] = [];
  for (const [a, b] of ranges) for (let c = a; c <= b; c++) if (c < 0xd800 || c > 0xdfff) codePoints.push(c);
  codePoints.push(0xf0000, 0xffffd, 0x100000, 0x10fffd); // private use (dropped) and unassigned planes
  for (let c = 0x40000; c < 0xe0000; c += 0x1003) codePoints.push(c);

  function sweepVocabulary(): Record<string, VocabGgufValue> {
    const tokens = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
    const types = [3, 3, 3, 3, 3];
    const listed = /^[^\p{Cn}\p{Co}\p{Cs}]$/u;
    const unified = (c: number): boolean => (c >= 0x3400 && c <= 0x9fff) || (c >= 0x20000 && c <= 0x3ffff && !(c >= 0x2f800 && c <= 0x2fa1f));
    for (const c of codePoints) {
      const ch = String.fromCodePoint(c);
      if (!listed.test(ch) || unified(c)) continue;
      tokens.push('▁' + ch, ch);
      types.push(1, 1);
    }
    return {
      'tokenizer.ggml.model': 'bert', 'tokenizer.ggml.tokens': tokens, 'tokenizer.ggml.token_type': Int32Array.from(types),
      'tokenizer.ggml.bos_token_id': 2, 'tokenizer.ggml.seperator_token_id': 3, 'tokenizer.ggml.unknown_token_id': 1,
      'tokenizer.ggml.padding_token_id': 0,
    };
  }

  // uncased BERT (lowercase, strip accents: the default), cased BERT, and lowercase without stripping
  for (const [lowercase, stripAccents] of [[true, true], [false, false], [true, false]] as const) {
    it(`lowercase ${lowercase}, strip_accents ${stripAccents}`, async () => {
      const md = { ...sweepVocabulary(), 'tokenizer.ggml.normalizer.lowercase': lowercase, 'tokenizer.ggml.normalizer.strip_accents': stripAccents };
      const file = path.join(tmp, `sweep-${lowercase}-${stripAccents}.gguf`);
      writeVocabGguf(file, md);
      const ref = await llamaWpm(file);
      const ours = await tokenizerFromGguf(md as Record<string, GgufMetadataValue>);
      const differing: string[] = [];
      for (let k = 0; k < codePoints.length; k += 4000) {
        const chunk = codePoints.slice(k, k + 4000);
        const text = chunk.map((c) => `x${String.fromCodePoint(c)}x`).join(' ');
        // (a long text: this also runs the worker thread)
        if ((await ours.encode(text)).join() === ref.tokenize(text).join()) continue;
        for (const c of chunk) {
          const t = `x${String.fromCodePoint(c)}x`;
          if ((await ours.encode(t)).join() !== ref.tokenize(t).join()) differing.push(`U+${c.toString(16).toUpperCase()}`);
        }
      }
      expect(differing).toEqual([]);
      await ours.close();
    });
  }
});

describe('bad input', () => {
  const base = (): Record<string, GgufMetadataValue> => ({
    'tokenizer.ggml.model': 'bert',
    'tokenizer.ggml.tokens': ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '▁a', 'a'],
    'tokenizer.ggml.token_type': Int32Array.from([3, 3, 3, 3, 1, 1]),
    'tokenizer.ggml.bos_token_id': 2,
    'tokenizer.ggml.seperator_token_id': 3,
    'tokenizer.ggml.unknown_token_id': 1,
  });

  it('other tokenizer models are refused, naming the two that are supported', async () => {
    const err = await tokenizerFromGguf({ ...base(), 'tokenizer.ggml.model': 'gpt2' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_UNSUPPORTED_TOKENIZER' });
    expect((err as Error).message).toMatch(/'llama'.*'bert'/);
  });

  it('without a [CLS] or [SEP] id, encoding works and addSpecial is refused (llama.cpp aborts there)', async () => {
    // the ids default to BERT's 101 and 102, outside this vocabulary: none
    for (const drop of ['tokenizer.ggml.bos_token_id', 'tokenizer.ggml.seperator_token_id']) {
      const md = base();
      delete md[drop];
      const t = await tokenizerFromGguf(md);
      expect(await t.encode('a aa')).toEqual([4, 4, 5]);
      await expect(t.encode('a', { addSpecial: true })).rejects.toMatchObject({ code: 'ERR_BAD_MODEL_FILE' });
      await t.close();
    }
  });

  it('add_bos_token / add_sep_token do not change what addSpecial adds (llama.cpp reads them only for rerank pairs)', async () => {
    const t = await tokenizerFromGguf({ ...base(), 'tokenizer.ggml.add_bos_token': false, 'tokenizer.ggml.add_sep_token': false, 'tokenizer.ggml.add_eos_token': false });
    expect(await t.encode('a', { addSpecial: true })).toEqual([2, 4, 3]);
    await t.close();
    await expect(tokenizerFromGguf({ ...base(), 'tokenizer.ggml.add_sep_token': 'yes' })).rejects.toMatchObject({ code: 'ERR_BAD_MODEL_FILE' });
    await expect(tokenizerFromGguf({ ...base(), 'tokenizer.ggml.normalizer.lowercase': 1 })).rejects.toMatchObject({ code: 'ERR_BAD_MODEL_FILE' });
  });

  it('a word with no piece at some position is [UNK] as a whole; an empty token text is renamed as llama.cpp does', async () => {
    const t = await tokenizerFromGguf({ ...base(), 'tokenizer.ggml.tokens': ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '▁a', ''] });
    expect(await t.encode('a aa ab b')).toEqual([4, 1, 1, 1]);
    expect(t.tokenId('[EMPTY_5]')).toBe(5);
    expect(t.tokenId('')).toBeUndefined();
    await t.close();
  });
});
