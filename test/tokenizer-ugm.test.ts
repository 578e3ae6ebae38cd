// The Unigram tokenizer of "t5" GGUF vocabularies (XLM-RoBERTa rerankers) against llama.cpp
// (through node-llama-cpp) on the same file: NFKC through the precompiled charsmap, space
// handling, unknown characters, invalid text, the worker path for long texts. The HF twin's
// tokenizer.json (run by `tokenizers`) agrees except where the two tools differ (trailing
// spaces: tokenizers keeps a '▁' for them, llama.cpp and sentencepiece drop it).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Encoder } from '../src/runtime/index.js';
import { tokenizerFromDir, tokenizerFromGguf, type Tokenizer } from '../src/tokenizer/index.js';
import { withMetadata } from './helpers/gguf-edit.js';
import { xlmrReranker } from './helpers/models.js';

let llama: Llama;
let model: LlamaModel;
let ours: Tokenizer;
let hf: Tokenizer;

beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
  model = await llama.loadModel({ modelPath: xlmrReranker.gguf, gpuLayers: 0, vocabOnly: true });
  const enc = await Encoder.open(xlmrReranker.gguf, { threads: 1 });
  ours = await tokenizerFromGguf(enc.metadata());
  await enc.close();
  hf = await tokenizerFromDir(xlmrReranker.hfDir);
});
afterAll(async () => {
  await ours?.close();
  await hf?.close();
  await model?.dispose();
  await llama?.dispose();
});

const llamaIds = (text: string) => Array.from(model.tokenize(text), Number);

const texts = [
  'This License applies to any program or other work.',
  'Le café coûte trois euros; l\'été dernier, à Paris.',
  'ＦＵＬＬ ｗｉｄｔｈ and ﬁ ligatures ① ② ㎏ Ⅸ ǅ', // NFKC through the charsmap
  'Лицензия 这个许可证 このライセンス Ελληνικά',
  '  leading,   inner   and trailing spaces',
  'tabs\tand\nnew\r\nlines',
  'unknown characters: 😀 ☃ ʬ and a\u0301 (decomposed)',
  'x', '', ' ', '   ', '\n',
  'repeated repeated repeated 1234567890 1234567890',
  '\uD800 a lone surrogate and \uFFFD',
];

describe('UGM ("t5") GGUF vocabularies', () => {
  it('tokenize as llama.cpp does', async () => {
    for (const t of texts) expect(await ours.encode(t), JSON.stringify(t)).toEqual(llamaIds(t));
  });

  it('a long text goes through the worker and gives the same ids', async () => {
    const long = texts.slice(0, 7).join(' ').repeat(300); // past the worker's threshold
    expect(long.length).toBeGreaterThan(16_384);
    expect(await ours.encode(long)).toEqual(llamaIds(long));
  });

  it('add_bos / add_eos put <s> and </s> around a text; the pair template is XLM-R\'s', async () => {
    expect(await ours.encode('hello', { addSpecial: true })).toEqual([0, ...llamaIds('hello'), 2]);
    expect(ours.pairTemplate).toEqual({ before: [[0, 0]], between: [[2, 0], [2, 0]], after: [[2, 0]], firstType: 0, secondType: 0 });
    expect(hf.pairTemplate).toEqual(ours.pairTemplate);
  });

  it('the HF directory\'s tokenizer.json agrees but on trailing spaces', async () => {
    for (const t of texts.filter((x) => x.trimEnd() === x && !x.includes('\uD800'))) {
      expect(await hf.encode(t), JSON.stringify(t)).toEqual(await ours.encode(t));
    }
  });

  it('a corrupt charsmap is a clear error, not a crash', async () => {
    const enc = await Encoder.open(xlmrReranker.gguf, { threads: 1 });
    const md = enc.metadata();
    await enc.close();
    const blob = md['tokenizer.ggml.precompiled_charsmap'] as Uint8Array;
    const cut = { ...md, 'tokenizer.ggml.precompiled_charsmap': blob.subarray(0, 64) };
    await expect(tokenizerFromGguf(cut)).rejects.toMatchObject({ code: 'ERR_BAD_MODEL_FILE', message: /charsmap/ });
    // flipped bytes anywhere in it: ids or that error, nothing else
    let seed = 7;
    const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    for (let i = 0; i < 200; i++) {
      const flipped = Uint8Array.from(blob);
      flipped[rand(flipped.length)] ^= 1 << rand(8);
      try {
        const t = await tokenizerFromGguf({ ...md, 'tokenizer.ggml.precompiled_charsmap': flipped });
        try {
          expect(Array.isArray(await t.encode(texts[2]!))).toBe(true);
        } catch (err) {
          expect(err).toMatchObject({ code: 'ERR_BAD_MODEL_FILE' });
        }
        await t.close();
      } catch (err) {
        expect(err).toMatchObject({ code: 'ERR_BAD_MODEL_FILE' });
      }
    }
    const wrong = { ...md, 'tokenizer.ggml.precompiled_charsmap': 'text' as never };
    await expect(tokenizerFromGguf(wrong)).rejects.toMatchObject({ code: 'ERR_BAD_MODEL_FILE' });
    // a file llama.cpp would load: the same vocabulary without a charsmap (no normalization)
    const file = path.join(os.tmpdir(), `potron-ugm-${process.pid}.gguf`);
    try {
      fs.writeFileSync(file, withMetadata(fs.readFileSync(xlmrReranker.gguf), 'tokenizer.ggml.precompiled_charsmap', undefined));
      const plain = await llama.loadModel({ modelPath: file, gpuLayers: 0, vocabOnly: true });
      const e = await Encoder.open(file, { threads: 1 });
      const t = await tokenizerFromGguf(e.metadata());
      await e.close();
      for (const s of texts.slice(0, 4)) expect(await t.encode(s), s).toEqual(Array.from(plain.tokenize(s), Number));
      await t.close();
      await plain.dispose();
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});
