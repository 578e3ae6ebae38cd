// The native encoder (embedding models: bert, nomic-bert) against llama.cpp on the same GGUF:
// each input's pooled vector, computed in batches of mixed lengths, matches llama.cpp's
// embedding of that input alone.
import { afterAll, describe, expect, it } from 'vitest';

import { Encoder } from '../src/runtime/encoder.js';
import { cosine } from './helpers/compare.js';
import { encoderModels, tinyModel } from './helpers/models.js';
import { disposeOracle, oracleEmbeddings } from './helpers/oracle.js';

// llama.cpp's own kernels give these vectors; ours differ by summation order only (measured:
// cosine >= 0.99999990 with flash attention, the default of both; 0.9999999 without)
const COSINE = 0.99999;

afterAll(() => disposeOracle());

/** Inputs as a tokenizer makes them: [CLS] ids [SEP], lengths from 2 up to `longest`. */
function inputsFor(enc: Encoder, count: number, longest: number): number[][] {
  const md = enc.metadata();
  const cls = md['tokenizer.ggml.bos_token_id'] as number;
  const sep = md['tokenizer.ggml.seperator_token_id'] as number;
  const V = enc.info.nVocab;
  return Array.from({ length: count }, (_, i) => {
    const n = i === 0 ? 0 : 1 + ((i * 37) % (longest - 2));
    return [cls, ...Array.from({ length: n }, (_, j) => 5 + ((i * 131 + j * 17) % (V - 5))), sep];
  });
}

describe.each(encoderModels.map((f) => [f.name, f] as const))('%s', (_, fixture) => {
  it.each([true, false])('a batch of mixed lengths matches llama.cpp input by input (flash attention %s)', async (flashAttn) => {
    const enc = await Encoder.open(fixture.gguf, { flashAttn, threads: 2 });
    try {
      expect(enc.info.pooling).toBe(fixture.pooling);
      const inputs = inputsFor(enc, 12, 60);
      const ours = await enc.encode(inputs);
      const ref = await oracleEmbeddings(fixture.gguf, inputs);
      let worst = 1;
      for (let i = 0; i < inputs.length; i++) {
        expect(ours[i]!.length).toBe(enc.info.nEmbd);
        expect(ours[i]!.every(Number.isFinite)).toBe(true);
        worst = Math.min(worst, cosine(ours[i]!, ref[i]!));
      }
      console.log(`${fixture.name} flash attention ${flashAttn}: worst cosine vs llama.cpp ${worst.toFixed(9)}`);
      expect(worst).toBeGreaterThanOrEqual(COSINE);
      // and the vectors differ from input to input (a mix-up of rows or pooling would not)
      expect(cosine(ours[1]!, ours[2]!)).toBeLessThan(0.999);
    } finally {
      await enc.close();
    }
  });

  it('packs inputs into several ubatches without changing any vector', async () => {
    const whole = await Encoder.open(fixture.gguf, { threads: 2 });
    const small = await Encoder.open(fixture.gguf, { threads: 2, nUbatch: 64 });
    try {
      const inputs = inputsFor(whole, 40, 60); // ~1,200 tokens: about 20 ubatches of 64
      const a = await whole.encode(inputs);
      const b = await small.encode(inputs);
      const alone: Float32Array[] = [];
      for (const i of [0, 17, 39]) alone.push((await whole.encode([inputs[i]!]))[0]!);
      // the batch's shape changes matmul tiling (summation order) only: measured >= 0.9999998;
      // another input's row or a wrong mask would be far off
      for (let i = 0; i < inputs.length; i++) expect(cosine(a[i]!, b[i]!), `input ${i}`).toBeGreaterThanOrEqual(0.999999);
      [0, 17, 39].forEach((i, k) => expect(cosine(a[i]!, alone[k]!), `input ${i} alone`).toBeGreaterThanOrEqual(0.999999));
    } finally {
      await whole.close();
      await small.close();
    }
  });
});

describe('token types', () => {
  it('type 0 everywhere equals no types; type 1 uses the second row of the table; bad types are refused', async () => {
    const enc = await Encoder.open(encoderModels[1]!.gguf, { threads: 2 }); // bert, two token types
    try {
      const [a, b] = [[101, 2054, 2003, 102, 7592, 102], [101, 7592, 102]];
      const plain = await enc.encode([a, b]);
      const zeros = await enc.encode([a, b], { types: [a.map(() => 0), b.map(() => 0)] });
      expect(zeros.map((v) => Array.from(v))).toEqual(plain.map((v) => Array.from(v)));
      const pair = await enc.encode([a, b], { types: [[0, 0, 0, 0, 1, 1], b.map(() => 0)] });
      expect(cosine(pair[0]!, plain[0]!)).toBeLessThan(0.9999);
      // the other input of the batch is untouched by its neighbour's types
      expect(cosine(pair[1]!, plain[1]!)).toBeGreaterThanOrEqual(0.999999);
      await expect(enc.encode([a], { types: [[0, 0]] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: /6 tokens but 2 token types/ });
      await expect(enc.encode([a], { types: [a.map(() => 2)] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: /not one of this model's 2/ });
      await expect(enc.encode([a, b], { types: [a.map(() => 0)] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: /every input or for none/ });
    } finally {
      await enc.close();
    }
  });
});

describe('bad input and misuse', () => {
  const fixture = encoderModels[0]!;

  it('refuses empty input lists, empty inputs, tokens outside the vocabulary and inputs past the context', async () => {
    const enc = await Encoder.open(fixture.gguf, { threads: 2, nUbatch: 32 });
    try {
      await expect(enc.encode([])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: /no inputs/ });
      await expect(enc.encode([[2, 3], []])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: /input 1 has no tokens/ });
      await expect(enc.encode([[2, enc.info.nVocab]])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: /outside the vocabulary/ });
      await expect(enc.encode([[2, -1]])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
      await expect(enc.encode([Array(33).fill(5)])).rejects.toMatchObject({ code: 'ERR_CONTEXT_LENGTH', message: /at most 32/ });
      // and it still works
      expect((await enc.encode([[2, 7, 3]]))[0]!.length).toBe(enc.info.nEmbd);
    } finally {
      await enc.close();
    }
  });

  it('one encode at a time; abort rejects a running one; close waits for it; a decoder GGUF is refused', async () => {
    const enc = await Encoder.open(fixture.gguf, { threads: 2 });
    const many = Array.from({ length: 3000 }, () => Array.from({ length: 60 }, (_, j) => 5 + j));
    const ac = new AbortController();
    const running = enc.encode(many, { signal: ac.signal });
    await expect(enc.encode([[2, 3]])).rejects.toMatchObject({ code: 'ERR_BUSY' });
    ac.abort();
    await expect(running).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    const again = enc.encode([[2, 9, 3]]);
    await enc.close();
    expect((await again)[0]!.length).toBe(enc.info.nEmbd);
    expect(() => enc.metadata()).toThrow(/closed/);
    await expect(Encoder.open(tinyModel('gemma3'))).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_ARCH', message: /not an embedding model/ });
    await expect(Encoder.open('/nonexistent.gguf')).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_/) });
  });
});

describe('HF directories (config.json, safetensors, sentence-transformers modules)', () => {
  it.each(encoderModels.map((f) => [f.name, f] as const))('%s: the same vectors as its GGUF twin, bit for bit', async (_, fixture) => {
    const gguf = await Encoder.open(fixture.gguf, { threads: 2 });
    const hf = await Encoder.open(fixture.hfDir, { threads: 2 });
    try {
      expect(hf.info).toMatchObject({ format: 'hf', arch: fixture.arch, pooling: fixture.pooling, nEmbd: gguf.info.nEmbd, nCtxTrain: gguf.info.nCtxTrain });
      expect(hf.metadata()['general.architecture']).toBe(fixture.arch);
      const inputs = inputsFor(gguf, 6, 40);
      const a = await gguf.encode(inputs);
      const b = await hf.encode(inputs);
      for (let i = 0; i < inputs.length; i++) expect(Array.from(b[i]!)).toEqual(Array.from(a[i]!));
    } finally {
      await gguf.close();
      await hf.close();
    }
  });

  it('pooling comes from the Pooling module; modules that would change the vector are refused, not skipped', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const src = encoderModels[0]!.hfDir; // CLS pooling
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'potron-st-'));
    try {
      fs.cpSync(src, tmp, { recursive: true });
      const pooling = (cfg: Record<string, boolean>) => fs.writeFileSync(path.join(tmp, '1_Pooling', 'config.json'), JSON.stringify({ word_embedding_dimension: 64, ...cfg }));
      const open = async () => (await Encoder.open(tmp, { threads: 1 })).info.pooling;
      pooling({ pooling_mode_mean_tokens: true });
      expect(await open()).toBe('mean');
      pooling({ pooling_mode_lasttoken: true });
      expect(await open()).toBe('last');
      pooling({ pooling_mode_max_tokens: true });
      await expect(open()).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_MODEL', message: /pooling_mode_max_tokens/ });
      pooling({ pooling_mode_cls_token: true, pooling_mode_mean_tokens: true });
      await expect(open()).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_MODEL', message: /several pooling modes/ });
      pooling({});
      await expect(open()).rejects.toMatchObject({ code: 'ERR_BAD_MODEL_FILE', message: /names no pooling mode/ });
      const modules = JSON.parse(fs.readFileSync(path.join(src, 'modules.json'), 'utf8')) as object[];
      fs.writeFileSync(path.join(tmp, 'modules.json'), JSON.stringify([...modules, { idx: 3, name: '3', path: '3_Dense', type: 'sentence_transformers.models.Dense' }]));
      await expect(open()).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_MODEL', message: /Dense module/ });
      fs.writeFileSync(path.join(tmp, 'modules.json'), JSON.stringify([{ idx: 1, name: '1', path: '../elsewhere', type: 'sentence_transformers.models.Pooling' }]));
      await expect(open()).rejects.toMatchObject({ code: 'ERR_BAD_MODEL_FILE', message: /inside the model directory/ });
      // a plain transformers directory: sentence-transformers' default, mean pooling
      fs.rmSync(path.join(tmp, 'modules.json'));
      expect(await open()).toBe('mean');
      const cfg = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
      fs.writeFileSync(path.join(tmp, 'config.json'), JSON.stringify({ ...cfg, model_type: 'roberta' }));
      await expect(open()).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_ARCH', message: /roberta/ });
      fs.writeFileSync(path.join(tmp, 'config.json'), JSON.stringify({ ...cfg, vocab_size: 99 }));
      await expect(open()).rejects.toMatchObject({ code: 'ERR_BAD_MODEL_FILE', message: /vocab_size 99/ });
      fs.writeFileSync(path.join(tmp, 'config.json'), JSON.stringify({ ...cfg, position_embedding_type: 'relative_key' }));
      await expect(open()).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_MODEL', message: /relative_key/ });
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
