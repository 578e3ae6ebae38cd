// Model and context lifecycle: info and metadata, abort, close while decoding, use after close.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Batch, Model } from '../src/runtime/index.js';
import { testTokens, tinyModel } from './helpers/models.js';

describe('model info', () => {
  it.each([
    ['gemma', { hasPostNorms: false, hasQkNorm: false, slidingWindow: 0, layerIsSwa: [false, false], attnSoftcap: 0 }],
    ['gemma2', { hasPostNorms: true, hasQkNorm: false, slidingWindow: 8, layerIsSwa: [true, false, true, false], attnSoftcap: 1.5, finalSoftcap: 2 }],
    ['gemma3', { hasPostNorms: true, hasQkNorm: true, slidingWindow: 8, layerIsSwa: [true, true, true, true, true, false], ropeBase: 1e6, ropeBaseSwa: 1e4 }],
  ] as const)('%s hyper-parameters', async (family, expected) => {
    const m = await Model.open(tinyModel(family));
    expect(m.info.arch).toBe(family);
    expect(m.info.nVocab).toBe(384);
    expect(m.info.nCtxTrain).toBe(512);
    expect(m.info.weightType).toBe('f32');
    expect(m.info.hparams).toMatchObject({ nEmbd: 64, headDim: 16, queryPreAttnScalar: 16, embdScale: 8, tiedOutput: true, ...expected });
    await m.close();
  });

  it('exposes all GGUF metadata, tokenizer arrays and chat template included', async () => {
    const m = await Model.open(tinyModel('gemma3', 'q8_0'));
    const md = m.metadata();
    expect(md['general.architecture']).toBe('gemma3');
    expect(md['gemma3.attention.sliding_window']).toBe(8);
    const tokens = md['tokenizer.ggml.tokens'] as string[];
    expect(tokens).toHaveLength(384);
    expect(tokens.slice(0, 3)).toEqual(['<pad>', '<eos>', '<bos>']);
    expect(md['tokenizer.ggml.scores']).toBeInstanceOf(Float32Array);
    expect(md['tokenizer.ggml.token_type']).toBeInstanceOf(Int32Array);
    expect(md['tokenizer.ggml.add_bos_token']).toBe(true);
    expect(md['tokenizer.chat_template']).toMatch(/<start_of_turn>/);
    expect(m.info.weightType).toBe('q8_0');
    await m.close();
  });
});

describe('lifecycle', () => {
  let model: Model;
  beforeAll(async () => {
    model = await Model.open(tinyModel('gemma3'));
  });
  afterAll(() => model.close());

  const longBatch = () => new Batch().addSequence(testTokens(1500, 384, 1), 0, 0, true);

  it('abort stops a long prefill between ubatches and leaves the cache as it was', async () => {
    const ctx = await model.createContext({ nCtx: 2048, nUbatch: 1 });
    await ctx.decode(new Batch().addSequence([2, 9], 0, 1, false));
    const controller = new AbortController();
    const started = Date.now();
    const p = ctx.decode(longBatch(), { signal: controller.signal });
    setTimeout(() => controller.abort(), 30);
    await expect(p).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(ctx.state().kvUsed).toBe(2);
    expect(ctx.seqPosMax(0)).toBe(-1);
    // the context still works
    const l = await ctx.decode(new Batch().addSequence([2, 5, 6], 0, 0, true));
    expect(l.rows).toBe(1);
    await ctx.close();
  });

  it('a batch that flags no position returns no logits but fills the cache', async () => {
    const ctx = await model.createContext({ nCtx: 64 });
    const l = await ctx.decode(new Batch().addSequence([2, 5, 6, 7], 0, 0, false));
    expect(l.rows).toBe(0);
    expect(l.data).toHaveLength(0);
    expect(ctx.seqPosMax(0)).toBe(3);
    await ctx.close();
  });

  it('an already-aborted signal never starts the decode', async () => {
    const ctx = await model.createContext({ nCtx: 64 });
    await expect(ctx.decode(new Batch().add(2, 0, 0, true), { signal: AbortSignal.abort() })).rejects.toMatchObject({
      code: 'ERR_ABORTED',
    });
    expect(ctx.state().kvUsed).toBe(0);
    await ctx.close();
  });

  it('sequence operations during a decode throw ERR_BUSY; close waits for the decode', async () => {
    const ctx = await model.createContext({ nCtx: 2048, nUbatch: 64 });
    const p = ctx.decode(longBatch());
    expect(() => ctx.seqRemove(0)).toThrow(expect.objectContaining({ code: 'ERR_BUSY' }));
    expect(ctx.state().busy).toBe(true);
    await ctx.close();
    const logits = await p; // finished normally, before close freed the cache
    expect(logits.rows).toBe(1);
    expect(Number.isFinite(logits.row(0)[0])).toBe(true);
    expect(ctx.closed).toBe(true);
    expect(() => ctx.state()).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    await expect(ctx.decode(new Batch().add(2, 0, 0))).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    await ctx.close(); // twice is fine
  });

  it('closing the model waits for its contexts and closes them', async () => {
    const m = await Model.open(tinyModel('gemma2'));
    const ctx = await m.createContext({ nCtx: 2048, nUbatch: 64 });
    const p = ctx.decode(longBatch());
    await m.close();
    await expect(p).resolves.toBeDefined();
    expect(ctx.closed).toBe(true);
    expect(() => m.metadata()).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    await expect(m.createContext()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });

  it('rejects bad context options', async () => {
    await expect(model.createContext({ nSeqMax: 1000 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(model.createContext({ kvType: 'q4' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(model.createContext({ nCtx: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  });

  it('runs decodes of two contexts at the same time', async () => {
    const [a, b] = await Promise.all([model.createContext({ nCtx: 64 }), model.createContext({ nCtx: 64 })]);
    const tokens = testTokens(20, 384, 3);
    const [la, lb] = await Promise.all([
      a.decode(new Batch().addSequence(tokens, 0, 0, true)),
      b.decode(new Batch().addSequence(tokens, 0, 0, true)),
    ]);
    expect(Array.from(la.row(0))).toEqual(Array.from(lb.row(0)));
    await Promise.all([a.close(), b.close()]);
  });
});

describe('addon version', () => {
  it('the loaded addon, the TypeScript and the install script agree on the surface version', async () => {
    const { native, SURFACE_VERSION } = await import('../src/runtime/native.js');
    expect(native().surfaceVersion).toBe(SURFACE_VERSION);
    const fs = await import('node:fs');
    const script = fs.readFileSync(new URL('../scripts/install-native.mjs', import.meta.url), 'utf8');
    expect(script).toContain(`const SURFACE_VERSION = ${SURFACE_VERSION};`);
  });
});

describe('decode into a caller-owned buffer', () => {
  it('gives the same logits as a fresh buffer, as a view of it; a buffer too small is refused', async () => {
    const m = await Model.open(tinyModel('gemma3', 'q8_0'));
    try {
      const a = await m.createContext({ nCtx: 64, nSeqMax: 2 });
      const b = await m.createContext({ nCtx: 64, nSeqMax: 2 });
      const tokens = testTokens(12, m.info.nVocab);
      const batch = () => new Batch().addSequence(tokens, 0, 0).add(tokens[3]!, 0, 1, true);
      const fresh = await a.decode(batch());
      const out = new Float32Array(3 * m.info.nVocab).fill(Number.NaN);
      const into = await b.decode(batch(), { out });
      expect(into.data.buffer).toBe(out.buffer);
      expect(into.rows).toBe(2);
      expect(Array.from(into.data)).toEqual(Array.from(fresh.data));
      expect(Number.isNaN(out[2 * m.info.nVocab])).toBe(true); // the rest is left alone
      // too small: an error, and the cache is as before (the same step then succeeds)
      const before = b.state().kvUsed;
      await expect(b.decode(new Batch().add(7, 12, 0, true).add(8, 1, 1, true), { out: new Float32Array(m.info.nVocab) }))
        .rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
      expect(b.state().kvUsed).toBe(before);
      await a.decode(new Batch().add(7, 12, 0, true).add(8, 1, 1, true));
      const again = await b.decode(new Batch().add(7, 12, 0, true).add(8, 1, 1, true), { out });
      expect(again.rows).toBe(2);
    } finally {
      await m.close();
    }
  });
});

describe('the JS boundary under misuse', () => {
  let m: Model;
  beforeAll(async () => {
    m = await Model.open(tinyModel('gemma3', 'q8_0'));
  });
  afterAll(async () => {
    await m.close();
  });
  const long = (n = 600) => new Batch().addSequence(testTokens(n, 384, 5), 0, 0, true);

  it('an out buffer transferred while the decode runs is never written; the decode rejects and the context goes on', async () => {
    const ctx = await m.createContext({ nCtx: 1024, nUbatch: 64 });
    const out = new Float32Array(2 * m.info.nVocab);
    const p = ctx.decode(long(), { out });
    const moved = structuredClone(out.buffer, { transfer: [out.buffer] }); // detaches out.buffer
    expect(out.buffer.byteLength).toBe(0);
    await expect(p).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(/detached or transferred/) });
    expect(new Float32Array(moved).every((v) => v === 0)).toBe(true); // the new owner's memory is untouched
    expect(ctx.state()).toMatchObject({ busy: false, kvUsed: 600 }); // the step itself ran
    const fresh = new Float32Array(m.info.nVocab);
    const next = await ctx.decode(new Batch().add(7, 600, 0, true), { out: fresh });
    expect(Number.isFinite(next.row(0)[0])).toBe(true);
    await ctx.close();
  });

  it('state() during a decode is the cache as the decode found it; seqPosMax is ERR_BUSY', async () => {
    const ctx = await m.createContext({ nCtx: 2048, nUbatch: 64, nSeqMax: 2 });
    await ctx.decode(new Batch().addSequence(testTokens(30, 384, 1), 0, 1, false));
    const p = ctx.decode(long(1200));
    for (let i = 0; i < 50; i++) expect(ctx.state()).toMatchObject({ busy: true, kvUsed: 30 });
    expect(() => ctx.seqPosMax(1)).toThrow(expect.objectContaining({ code: 'ERR_BUSY' }));
    await p;
    expect(ctx.state()).toMatchObject({ busy: false, kvUsed: 1230 });
    expect(ctx.seqPosMax(0)).toBe(1199);
    await ctx.close();
  });

  it('one long-lived signal: no listener stays behind, whether the decode succeeds, fails at once or is aborted', async () => {
    const { getEventListeners } = await import('node:events');
    const ctx = await m.createContext({ nCtx: 1024, nSeqMax: 2, nUbatch: 32 });
    const signal = new AbortController().signal;
    for (let i = 0; i < 300; i++) {
      const p = ctx.decode(new Batch().add(6 + (i % 300), i, 0, true), { signal });
      // a second decode while the first runs throws ERR_BUSY before it starts
      await expect(ctx.decode(new Batch().add(7, i, 1, true), { signal })).rejects.toMatchObject({ code: 'ERR_BUSY' });
      await p;
      expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    }
    const ac = new AbortController();
    const p = ctx.decode(new Batch().addSequence(testTokens(400, 384, 9), 300, 0, true), { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    await ctx.close();
  });

  it('a context still being created when the model closes is closed too', async () => {
    const other = await Model.open(tinyModel('gemma2'));
    const pending = other.createContext({ nCtx: 4096 });
    await other.close();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });

  it('NaN, 1e20 and fractions in integer arguments are ERR_INVALID_ARG', async () => {
    const ctx = await m.createContext({ nCtx: 64, nSeqMax: 2 });
    for (const bad of [NaN, 1e20, -1e20, 0.5, Infinity]) {
      expect(() => ctx.seqRemove(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
      expect(() => ctx.seqCopy(0, 1, bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
      expect(() => ctx.seqPosMax(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
      await expect(m.createContext({ nCtx: bad })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
      await expect(m.createContext({ threads: bad })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    }
    await expect(m.createContext({ threads: 513 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    const { native } = await import('../src/runtime/native.js');
    const k = native().kernels;
    for (const bad of [NaN, 1e20, -1, 0.5]) {
      expect(() => k.topK(Float32Array.of(1, 2), bad, new Int32Array(2), new Float32Array(2))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    }
    await ctx.close();
  });
});
