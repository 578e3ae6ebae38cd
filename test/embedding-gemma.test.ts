// EmbeddingGemma (GGUF architecture gemma-embedding; HF: a Gemma 3 text model with bidirectional
// attention and sentence-transformers' Pooling and Dense modules) against llama.cpp on the same
// GGUF: the Gemma graph builder read bidirectionally, a symmetric window on the sliding layers,
// mean pooling, then the two Dense projections. A GGUF converted without them is refused.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import OpenAI from 'openai';
import { afterAll, describe, expect, it } from 'vitest';

import { loadEmbedder } from '../src/engine/embedder.js';
import { Encoder } from '../src/runtime/encoder.js';
import { Model } from '../src/runtime/model.js';
import { startServer } from '../src/server/start.js';
import { cosine } from './helpers/compare.js';
import { withMetadata } from './helpers/gguf-edit.js';
import { embeddingGemmaModel } from './helpers/models.js';
import { disposeOracle, oracleEmbeddings } from './helpers/oracle.js';

const fixture = embeddingGemmaModel('f32');
// as the encoder tests: llama.cpp's kernels against ours differ in summation order only
const COSINE = 0.99999;
const BOS = 2;
const EOS = 1;

afterAll(() => disposeOracle());

/** <bos> ids <eos>, as EmbeddingGemma's tokenizer wraps a text; lengths from 2 to `longest`
 * (the tiny model's window is 8, so most inputs reach past it on the sliding layers). */
function inputs(count: number, longest: number, nVocab: number): number[][] {
  return Array.from({ length: count }, (_, i) => {
    const n = i === 0 ? 0 : 1 + ((i * 29) % (longest - 2));
    return [BOS, ...Array.from({ length: n }, (_, j) => 10 + ((i * 7919 + j * 104729) % (nVocab - 10))), EOS];
  });
}

function tmpCopy(src: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potron-eg-'));
  fs.cpSync(src, dir, { recursive: true });
  return dir;
}

describe('EmbeddingGemma against llama.cpp', () => {
  it.each([true, false])('a batch of mixed lengths matches llama.cpp input by input (flash attention %s)', async (flashAttn) => {
    const enc = await Encoder.open(fixture.gguf, { flashAttn, threads: 2 });
    try {
      expect(enc.info).toMatchObject({ arch: 'gemma-embedding', pooling: 'mean', nEmbd: 64, nOut: 64, format: 'gguf' });
      const batch = inputs(10, 60, enc.info.nVocab);
      const ours = await enc.encode(batch);
      const ref = await oracleEmbeddings(fixture.gguf, batch);
      let worst = 1;
      for (let i = 0; i < batch.length; i++) {
        expect(ours[i]!.every(Number.isFinite)).toBe(true);
        worst = Math.min(worst, cosine(ours[i]!, ref[i]!));
      }
      console.log(`EmbeddingGemma flash attention ${flashAttn}: worst cosine vs llama.cpp ${worst.toFixed(9)}`);
      expect(worst).toBeGreaterThanOrEqual(COSINE);
      expect(cosine(ours[1]!, ours[2]!)).toBeLessThan(0.999);
    } finally {
      await enc.close();
    }
  });

  it('packs inputs into several ubatches without changing any vector', async () => {
    const whole = await Encoder.open(fixture.gguf, { threads: 2 });
    const small = await Encoder.open(fixture.gguf, { threads: 2, nUbatch: 64 });
    try {
      const batch = inputs(24, 60, whole.info.nVocab);
      const a = await whole.encode(batch);
      const b = await small.encode(batch);
      for (let i = 0; i < batch.length; i++) expect(cosine(a[i]!, b[i]!), `input ${i}`).toBeGreaterThanOrEqual(0.999999);
    } finally {
      await whole.close();
      await small.close();
    }
  });

  it('a GGUF converted without the Dense layers is refused (llama.cpp would run it and give other vectors)', async () => {
    await expect(Encoder.open(fixture.ggufNoDense)).rejects.toMatchObject({
      code: 'ERR_UNSUPPORTED_MODEL', message: /lacks its Dense layers.*--sentence-transformers-dense-modules/,
    });
    const enc = await Encoder.open(fixture.gguf, { threads: 2 });
    try {
      const batch = inputs(3, 30, enc.info.nVocab);
      const withDense = await enc.encode(batch);
      const skipped = await oracleEmbeddings(fixture.ggufNoDense, batch);
      for (let i = 0; i < batch.length; i++) expect(cosine(withDense[i]!, skipped[i]!)).toBeLessThan(0.9);
    } finally {
      await enc.close();
    }
  });

  it('the HF directory runs the modules its modules.json lists: without the Dense modules, llama.cpp\'s dense-less vectors', async () => {
    const tmp = tmpCopy(fixture.hfDir);
    try {
      const modules = JSON.parse(fs.readFileSync(path.join(tmp, 'modules.json'), 'utf8')) as { type: string }[];
      fs.writeFileSync(path.join(tmp, 'modules.json'), JSON.stringify(modules.filter((m) => !m.type.endsWith('.Dense'))));
      const enc = await Encoder.open(tmp, { threads: 2 });
      try {
        const batch = inputs(4, 40, enc.info.nVocab);
        const ours = await enc.encode(batch);
        const ref = await oracleEmbeddings(fixture.ggufNoDense, batch);
        for (let i = 0; i < batch.length; i++) expect(cosine(ours[i]!, ref[i]!)).toBeGreaterThanOrEqual(COSINE);
      } finally {
        await enc.close();
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('EmbeddingGemma files', () => {
  it('the GGUF and the HF directory give the same vectors, bit for bit', async () => {
    const gguf = await Encoder.open(fixture.gguf, { threads: 2 });
    const hf = await Encoder.open(fixture.hfDir, { threads: 2 });
    try {
      expect(hf.info).toMatchObject({ format: 'hf', arch: 'gemma-embedding', pooling: 'mean', nEmbd: 64, nOut: 64, nCtxTrain: gguf.info.nCtxTrain });
      expect(hf.metadata()['general.architecture']).toBe('gemma-embedding');
      const batch = inputs(6, 50, gguf.info.nVocab);
      const a = await gguf.encode(batch);
      const b = await hf.encode(batch);
      for (let i = 0; i < batch.length; i++) expect(Array.from(b[i]!)).toEqual(Array.from(a[i]!));
    } finally {
      await gguf.close();
      await hf.close();
    }
  });

  it('Dense modules it cannot run, and a GGUF without its window, are refused', async () => {
    const tmp = tmpCopy(fixture.hfDir);
    try {
      const dense = path.join(tmp, '2_Dense', 'config.json');
      const cfg = JSON.parse(fs.readFileSync(dense, 'utf8')) as Record<string, unknown>;
      fs.writeFileSync(dense, JSON.stringify({ ...cfg, activation_function: 'torch.nn.modules.activation.Tanh' }));
      await expect(Encoder.open(tmp)).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_MODEL', message: /activation.*Tanh/ });
      fs.writeFileSync(dense, JSON.stringify({ ...cfg, bias: true }));
      await expect(Encoder.open(tmp)).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_MODEL', message: /bias/ });
      fs.rmSync(path.join(tmp, '3_Dense', 'model.safetensors'));
      fs.writeFileSync(dense, JSON.stringify(cfg));
      await expect(Encoder.open(tmp)).rejects.toMatchObject({ code: 'ERR_BAD_MODEL_FILE', message: /3_Dense/ });
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    const file = path.join(os.tmpdir(), `potron-eg-${process.pid}.gguf`);
    try {
      fs.writeFileSync(file, withMetadata(fs.readFileSync(fixture.gguf), 'gemma-embedding.attention.sliding_window', undefined));
      await expect(Encoder.open(file)).rejects.toMatchObject({ code: 'ERR_BAD_MODEL_FILE', message: /sliding_window/ });
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('is refused as a chat model, in both forms', async () => {
    for (const p of [fixture.gguf, fixture.hfDir]) {
      await expect(Model.open(p)).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_MODEL', message: /embedding model.*loadEmbedder/ });
    }
  });

  it('loadEmbedder: both forms tokenize a text as <bos> ... <eos>, apply given task prefixes, and embed alike', async () => {
    const prefixes = { query: 'task: search result | query: ', document: 'title: none | text: ' };
    const gguf = await loadEmbedder(fixture.gguf, { threads: 2, prefixes });
    const hf = await loadEmbedder(fixture.hfDir, { threads: 2, prefixes });
    try {
      const texts = ['Which planet is known as the red planet?', 'Mars, often called the red planet, has a thin atmosphere of carbon dioxide.'];
      for (const t of texts) {
        const ids = await gguf.tokenizer.encode(t, { addSpecial: true });
        expect(ids[0]).toBe(BOS);
        expect(ids[ids.length - 1]).toBe(EOS);
        expect(await hf.tokenizer.encode(t, { addSpecial: true })).toEqual(ids);
      }
      const q = await gguf.embed([texts[0]!], { task: 'query' });
      const qHf = await hf.embed([texts[0]!], { task: 'query' });
      const plain = await gguf.embed([texts[0]!]);
      const byHand = await gguf.embed([prefixes.query + texts[0]!]);
      expect(qHf.inputTokens).toEqual(q.inputTokens);
      expect(cosine(q.vectors[0]!, qHf.vectors[0]!)).toBeGreaterThanOrEqual(0.9999999);
      expect(Array.from(q.vectors[0]!)).toEqual(Array.from(byHand.vectors[0]!));
      expect(q.inputTokens[0]).toBeGreaterThan(plain.inputTokens[0]!);
      let norm = 0;
      for (const x of q.vectors[0]!) norm += x * x;
      expect(Math.sqrt(norm)).toBeCloseTo(1, 5);
    } finally {
      await gguf.close();
      await hf.close();
    }
  });
});

describe('EmbeddingGemma served', () => {
  it('/v1/embeddings through the openai SDK: llama.cpp\'s vectors for the tokens transformers\' tokenizer makes, task prefixes on request', async () => {
    const prefixes = { query: 'task: search result | query: ', document: 'title: none | text: ' };
    const model = await loadEmbedder(fixture.hfDir, { threads: 2, prefixes });
    const server = await startServer({ port: 0, logger: false, embeddings: [{ model, id: 'embeddinggemma-tiny' }] });
    try {
      const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const texts = ['Which planet is known as the red planet?', 'Mars has a thin atmosphere.'];
      const r = await client.embeddings.create({ model: 'embeddinggemma-tiny', input: texts });
      const asQuery = await client.embeddings.create({ model: 'embeddinggemma-tiny', input: texts[0]!, task: 'query' } as never);
      const listed = await client.models.list();
      expect(listed.data[0]).toMatchObject({ id: 'embeddinggemma-tiny', kind: 'embedding', dimensions: 64 });
      // the HF directory's tokenizer.json read by the tokenizers library; the GGUF in llama.cpp
      const ids = [];
      for (const t of [...texts, prefixes.query + texts[0]!]) ids.push(await model.tokenizer.encode(t, { addSpecial: true }));
      const ref = await oracleEmbeddings(fixture.gguf, ids);
      expect(r.data.map((d) => d.index)).toEqual([0, 1]);
      for (let i = 0; i < 2; i++) expect(cosine(r.data[i]!.embedding, ref[i]!)).toBeGreaterThanOrEqual(COSINE);
      expect(cosine(asQuery.data[0]!.embedding, ref[2]!)).toBeGreaterThanOrEqual(COSINE);
      expect(r.usage.prompt_tokens).toBe(ids[0]!.length + ids[1]!.length);
    } finally {
      await server.close(1000);
    }
  });
});
