// Rerankers (BERT cross-encoders): scores against an independent float64 transformers forward
// pass (scripts/reference-cross-encoder: [CLS] q [SEP] d [SEP], the document's tokens of type 1,
// pooler then classifier), for the HF directory, its GGUF twin and a GGUF as llama.cpp's converter
// writes one today (no pooler); then /v1/rerank on a real server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadEmbedder } from '../src/engine/embedder.js';
import { loadReranker, type Reranker } from '../src/engine/reranker.js';
import { type RunningServer, startServer } from '../src/server/start.js';
import { encoderModels, referenceCrossEncoder, rerankerModel } from './helpers/models.js';
import { postJson } from './helpers/server.js';

const fixture = rerankerModel(); // token type rows differ, as real cross-encoders'
const asConverted = rerankerModel({ asConverted: true });
const logit = (p: number) => Math.log(p / (1 - p));
// ggml's GELU is the tanh form (as llama.cpp's), the reference runs it too; what is left is F32
// against float64 (measured: ≤ 1e-3 on these logits, which lie within ±1)
const TOL = 2e-3;

const query = 'where do lighthouse keepers live';
const docs = [
  'The keeper lived in a small house at the foot of the lighthouse.',
  'Bananas are rich in potassium.',
  'Lighthouse keepers often lived on remote islands with their families.',
  'a',
];

/** The reference's logits for our tokenization of (query, doc) pairs. */
async function reference(r: Reranker, dir: string, flags: string[] = []): Promise<number[]> {
  const q = await r.tokenizer.encode(query);
  const pairs = await Promise.all(docs.map(async (d) => [q, await r.tokenizer.encode(d)] as const));
  return referenceCrossEncoder(dir, pairs, ['--gelu', 'tanh', ...flags]);
}

describe('loadReranker', () => {
  it('the HF directory and its GGUF twin score as transformers does, token types included', async () => {
    const hf = await loadReranker(fixture.hfDir, { threads: 2 });
    const gguf = await loadReranker(fixture.gguf, { threads: 2 });
    try {
      expect([hf.info.pooling, gguf.info.pooling]).toEqual(['rank', 'rank']);
      const ref = await reference(hf, fixture.hfDir);
      const a = await hf.rerank(query, docs);
      const b = await gguf.rerank(query, docs);
      expect(b).toEqual(a); // the same numbers
      const byIndex = [...a.results].sort((x, y) => x.index - y.index);
      byIndex.forEach((r, i) => expect(Math.abs(logit(r.relevanceScore) - ref[i]!), `document ${i}`).toBeLessThanOrEqual(TOL));
      // best first; ties by index
      for (let i = 1; i < a.results.length; i++) expect(a.results[i - 1]!.relevanceScore).toBeGreaterThanOrEqual(a.results[i]!.relevanceScore);
      // the document's tokens are type 1: with type 0 throughout (llama.cpp's shortcut) the scores differ
      const zero = await reference(hf, fixture.hfDir, ['--token-types', 'zero']);
      expect(Math.max(...zero.map((z, i) => Math.abs(z - ref[i]!)))).toBeGreaterThan(10 * TOL);
      const q = (await hf.tokenizer.encode(query, { addSpecial: true })).length;
      expect(a.promptTokens).toBe(await docs.reduce(async (n, d) => (await n) + q + (await hf.tokenizer.encode(d)).length + 1, Promise.resolve(0)));
    } finally {
      await hf.close();
      await gguf.close();
    }
  });

  it('a GGUF as llama.cpp converts a cross-encoder (no pooling key, no pooler) is a reranker scoring classifier(h_CLS)', async () => {
    const r = await loadReranker(asConverted.gguf, { threads: 2 });
    try {
      expect(r.info.pooling).toBe('rank');
      const ref = await reference(r, asConverted.hfDir, ['--no-pooler']);
      const got = [...(await r.rerank(query, docs)).results].sort((x, y) => x.index - y.index);
      got.forEach((x, i) => expect(Math.abs(logit(x.relevanceScore) - ref[i]!), `document ${i}`).toBeLessThanOrEqual(TOL));
    } finally {
      await r.close();
    }
  });

  it('top_n, long documents cut to fit, bad input refused; embedding models and rerankers are not mixed up', async () => {
    const r = await loadReranker(fixture.gguf, { threads: 2 });
    try {
      const all = await r.rerank(query, docs);
      expect((await r.rerank(query, docs, { topN: 2 })).results).toEqual(all.results.slice(0, 2));
      const long = 'lighthouse '.repeat(2000);
      const cut = await r.rerank(query, [long]);
      expect(cut.promptTokens).toBe(r.info.maxTokens);
      await expect(r.rerank('', docs)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', param: 'query' });
      await expect(r.rerank(query, [])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', param: 'documents' });
      await expect(r.rerank(query, ['x', ''])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', param: 'documents' });
      await expect(r.rerank(query, docs, { topN: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', param: 'top_n' });
      await expect(r.rerank(long, docs)).rejects.toMatchObject({ code: 'ERR_CONTEXT_LENGTH', param: 'query' });
    } finally {
      await r.close();
    }
    await expect(loadReranker(encoderModels[1]!.gguf, { threads: 1 })).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_MODEL', message: /embedding model/ });
    await expect(loadEmbedder(fixture.gguf, { threads: 1 })).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED_MODEL', message: /reranker/ });
  });
});

describe('POST /v1/rerank', () => {
  let server: RunningServer;
  let direct: Reranker;
  beforeAll(async () => {
    direct = await loadReranker(fixture.gguf, { threads: 1 });
    const r = await loadReranker(fixture.gguf, { threads: 2 });
    server = await startServer({ port: 0, logger: false, rerankers: [{ model: r, id: 'rr' }] });
  });
  afterAll(async () => {
    await server?.close(1000);
    await direct?.close();
  });

  it('answers in the Jina / Cohere / llama-server shape, best first, on /v1/rerank and /rerank', async () => {
    const want = await direct.rerank(query, docs);
    for (const route of ['/v1/rerank', '/rerank']) {
      const res = await postJson(`${server.url}${route}`, { model: 'rr', query, documents: docs, return_documents: true });
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ object: 'list', model: 'rr', usage: { prompt_tokens: want.promptTokens, total_tokens: want.promptTokens } });
      expect(res.json.results).toEqual(want.results.map((x) => ({ index: x.index, relevance_score: x.relevanceScore, document: { text: docs[x.index] } })));
    }
    const top = await postJson(`${server.url}/v1/rerank`, { model: 'rr', query, documents: docs.map((text) => ({ text })), top_n: 1 });
    expect(top.json.results).toEqual([{ index: want.results[0]!.index, relevance_score: want.results[0]!.relevanceScore }]);
    const models = await (await fetch(`${server.url}/v1/models`)).json();
    expect(models.data).toMatchObject([{ id: 'rr', kind: 'rerank', max_input_tokens: 512 }]);
  });

  it('bad requests are OpenAI-shaped 4xx naming the field', async () => {
    const bad = async (body: unknown, status: number, param: string | null) => {
      const r = await postJson(`${server.url}/v1/rerank`, body);
      expect(r.status, JSON.stringify(body).slice(0, 60)).toBe(status);
      expect(r.json.error.param, JSON.stringify(body).slice(0, 60)).toBe(param);
    };
    await bad({ model: 'rr', query: '', documents: ['x'] }, 400, 'query');
    await bad({ model: 'rr', query: 'q', documents: [] }, 400, 'documents');
    await bad({ model: 'rr', query: 'q', documents: [''] }, 400, 'documents[0]');
    await bad({ model: 'rr', query: 'q', documents: ['x'], top_n: 0 }, 400, 'top_n');
    await bad({ model: 'rr', query: 'q', documents: ['x'], rank_fields: ['a'] }, 400, 'rank_fields');
    await bad({ model: 'other', query: 'q', documents: ['x'] }, 404, 'model');
    await bad({ model: 'rr', query: 'lighthouse '.repeat(2000), documents: ['x'] }, 400, 'query');
  });
});
