// XLM-RoBERTa cross-encoders (BAAI/bge-reranker-base / -v2-m3 layout): SentencePiece Unigram
// tokens as transformers' tokenizer.json and llama.cpp make them; scores
// against the float64 transformers forward pass (scripts/reference-cross-encoder) for the HF
// directory, and against llama.cpp's reranking on the GGUF llama.cpp's converter writes (its
// UGM vocabulary tokenized by src/tokenizer/ugm.ts).
import { afterAll, describe, expect, it } from 'vitest';

import { loadReranker } from '../src/engine/reranker.js';
import { Encoder } from '../src/runtime/encoder.js';
import { referenceCrossEncoder, xlmrReranker } from './helpers/models.js';
import { disposeOracle, oracleRank, oracleTokens } from './helpers/oracle.js';

const fixture = xlmrReranker;
const logit = (p: number) => Math.log(p / (1 - p));
const TOL = 2e-3; // as the BERT reranker: F32 against float64, ggml's tanh GELU on both sides
const [BOS, EOS] = [0, 2];

afterAll(() => disposeOracle());

const texts = [
  'This License applies to any program or other work.',
  'Le café coûte trois euros; l\'été dernier, à Paris.',
  'ＦＵＬＬ ｗｉｄｔｈ and ﬁ ligatures ①',
  'Лицензия распространяется на каждую копию.',
  '这个许可证适用于所有的副本。',
  'unseen words: xylophone quizzically 12345',
];

describe('XLM-RoBERTa rerankers', () => {
  it('the GGUF (its UGM vocabulary) reranks as the HF directory and as llama.cpp\'s reranking', async () => {
    const gguf = await loadReranker(fixture.gguf, { threads: 2 });
    const hf = await loadReranker(fixture.hfDir, { threads: 2 });
    try {
      const query = texts[0]!;
      const docs = texts.slice(1);
      const a = await gguf.rerank(query, docs);
      expect(await hf.rerank(query, docs)).toEqual(a);
      const q = await oracleTokens(fixture.gguf, query);
      const llama = await oracleRank(fixture.gguf, await Promise.all(docs.map(async (d) => [q, await oracleTokens(fixture.gguf, d)] as const)));
      const byIndex = [...a.results].sort((x, y) => x.index - y.index);
      byIndex.forEach((x, i) => expect(Math.abs(logit(x.relevanceScore) - logit(llama[i]!)), `document ${i}`).toBeLessThanOrEqual(TOL));
    } finally {
      await gguf.close();
      await hf.close();
    }
  });

  it('tokenize as transformers\' tokenizer.json and llama.cpp (its UGM on the GGUF) do', async () => {
    const r = await loadReranker(fixture.hfDir, { threads: 2 });
    try {
      for (const t of texts) expect(await r.tokenizer.encode(t), t).toEqual(await oracleTokens(fixture.gguf, t));
      expect(await r.tokenizer.encode(texts[0]!, { addSpecial: true })).toEqual([BOS, ...(await oracleTokens(fixture.gguf, texts[0]!)), EOS]);
    } finally {
      await r.close();
    }
  });

  it('the HF directory scores <s> q </s> </s> d </s> as transformers does', async () => {
    const r = await loadReranker(fixture.hfDir, { threads: 2 });
    try {
      expect(r.info.pooling).toBe('rank');
      const query = texts[0]!;
      const docs = texts.slice(1);
      const q = await r.tokenizer.encode(query);
      const pairs = await Promise.all(docs.map(async (d) => [q, await r.tokenizer.encode(d)] as const));
      const ref = referenceCrossEncoder(fixture.hfDir, pairs, ['--gelu', 'tanh']);
      const got = await r.rerank(query, docs);
      const byIndex = [...got.results].sort((x, y) => x.index - y.index);
      byIndex.forEach((x, i) => expect(Math.abs(logit(x.relevanceScore) - ref[i]!), `document ${i}`).toBeLessThanOrEqual(TOL));
      // four specials per pair: <s>, </s> </s> between, </s> last
      expect(got.promptTokens).toBe(pairs.reduce((n, [a, b]) => n + a.length + b.length + 4, 0));
    } finally {
      await r.close();
    }
  });

  it('the GGUF (as llama.cpp converts it) and the HF directory give the same logits, and llama.cpp\'s reranking agrees', async () => {
    const gguf = await Encoder.open(fixture.gguf, { threads: 2 });
    const hf = await Encoder.open(fixture.hfDir, { threads: 2 });
    try {
      expect(gguf.info).toMatchObject({ arch: 'bert', pooling: 'rank', nOut: 1, nCtxTrain: 512 });
      expect(hf.info).toMatchObject({ arch: 'bert', pooling: 'rank', nOut: 1, nCtxTrain: 512 });
      const ids = await Promise.all(texts.map((t) => oracleTokens(fixture.gguf, t)));
      const pairs = ids.slice(1).map((d) => [ids[0]!, d] as const);
      const inputs = pairs.map(([q, d]) => [BOS, ...q, EOS, EOS, ...d, EOS]);
      const a = await gguf.encode(inputs);
      const b = await hf.encode(inputs);
      for (let i = 0; i < inputs.length; i++) expect(b[i]![0]).toBe(a[i]![0]);
      const llama = await oracleRank(fixture.gguf, pairs);
      // measured: ours within 3e-4 of the float64 reference on these logits, llama.cpp within 7e-4
      llama.forEach((p, i) => expect(Math.abs(a[i]![0]! - logit(p)), `pair ${i}`).toBeLessThanOrEqual(TOL));
    } finally {
      await gguf.close();
      await hf.close();
    }
  });
});
