// Several sequences in one context: batched together they give what each gives alone, and
// the sequence operations (copy for prefix reuse, remove, clear) keep the cache consistent.
import { beforeAll, afterAll, describe, expect, it } from 'vitest';

import { Batch, Model, type Context } from '../src/runtime/index.js';
import { argmax, logSoftmax, maxAbsDiff } from './helpers/compare.js';
import { families, testTokens, tinyModel } from './helpers/models.js';
import { disposeOracle, oracleLogprobs } from './helpers/oracle.js';

// Batched and solo runs differ only by summation order inside F32 matmuls (llamafile's sgemm
// tiles change with the number of rows); the chaotic tiny random models turn that float noise
// into 1.4e-4..2.1e-4 in log-probabilities (measured), while Q8_0 models, whose matmuls are
// integer sums, give bit-identical logits batched and alone. A real mix-up (wrong mask,
// another sequence's cells, a wrong position) moves them by 0.1 or more.
// The models load with repack: false. On CPUs with AMX, ggml's tile kernels (which llama.cpp
// uses too) give a row a result that depends on where it falls within a 16-row tile: measured
// on a Xeon with AMX-INT8, two positions of the tiny Gemma 2 Q8_0 moved by 4e-2 when other
// sequences' rows came before them. That is the kernel's, not the batching's, so the batching
// is checked on the plain kernels, which are exact for Q8_0 on every CPU; the default
// layouts are checked against llama.cpp in oracle.test.ts.
const SAME_TOL = 1e-3;
const ORACLE_TOL = 1e-3;

let model: Model;
let V: number;

beforeAll(async () => {
  model = await Model.open(tinyModel('gemma3', 'f32'), { repack: false });
  V = model.info.nVocab;
});
afterAll(async () => {
  await model.close();
  await disposeOracle();
});

async function solo(tokens: number[], m: Model = model): Promise<Float32Array[]> {
  const ctx = await m.createContext({ nCtx: 128, kvType: 'f32', flashAttn: false });
  const batch = new Batch();
  tokens.forEach((t, i) => batch.add(t, i, 0, true));
  const l = await ctx.decode(batch);
  await ctx.close();
  return tokens.map((_, i) => l.row(i).slice());
}

function expectClose(a: Float32Array, b: Float32Array, tol: number, what: string) {
  expect(maxAbsDiff(logSoftmax(a), logSoftmax(b)), what).toBeLessThanOrEqual(tol);
  expect(argmax(a), what).toBe(argmax(b));
}

describe.each(families.flatMap((f) => (['f32', 'q8_0'] as const).map((t) => [f, t] as const)))(
  '%s %s: several sequences in one batch',
  (family, type) => {
    it('interleaved prefill of three sequences equals each alone and llama.cpp', async () => {
      const path = tinyModel(family, type);
      const m = await Model.open(path, { repack: false });
      const seqs = [testTokens(20, V, 1), testTokens(13, V, 2), testTokens(17, V, 3)];
      const ctx = await m.createContext({ nCtx: 128, nSeqMax: 4, kvType: 'f32', flashAttn: false });
      const batch = new Batch();
      const rowOf: Array<Array<number>> = seqs.map(() => []);
      // round-robin interleaving: the sequences' tokens alternate within the batch
      let row = 0;
      for (let i = 0; i < 20; i++) {
        seqs.forEach((s, k) => {
          if (i < s.length) {
            batch.add(s[i]!, i, k, true);
            rowOf[k]!.push(row++);
          }
        });
      }
      const logits = await ctx.decode(batch);
      let worstAlone = 0;
      let worstOracle = 0;
      for (let k = 0; k < seqs.length; k++) {
        const alone = await solo(seqs[k]!, m);
        const oracle = await oracleLogprobs(path, seqs[k]!, V, { kvType: 'f32', flashAttn: false });
        for (let p = 0; p < seqs[k]!.length; p++) {
          const mine = logits.row(rowOf[k]![p]!);
          expectClose(mine, alone[p]!, SAME_TOL, `seq ${k} pos ${p} vs alone`);
          const d = maxAbsDiff(logSoftmax(mine), oracle[p]!);
          expect(d, `seq ${k} pos ${p} vs llama.cpp`).toBeLessThanOrEqual(ORACLE_TOL);
          expect(argmax(mine), `seq ${k} pos ${p} argmax vs llama.cpp`).toBe(argmax(oracle[p]!));
          worstAlone = Math.max(worstAlone, maxAbsDiff(logSoftmax(mine), logSoftmax(alone[p]!)));
          worstOracle = Math.max(worstOracle, d);
        }
      }
      expect(ctx.state().kvUsed).toBe(20 + 13 + 17);
      console.log(`${family} ${type} batched: vs alone ${worstAlone.toExponential(2)}, vs llama.cpp ${worstOracle.toExponential(2)}`);
      await m.close();
    });
  },
);

describe('several sequences in one batch', () => {
  it('mixes a prefill chunk of one sequence with single-token steps of another', async () => {
    const a = testTokens(16, V, 4);
    const b = testTokens(12, V, 5);
    const ctx = await model.createContext({ nCtx: 128, nSeqMax: 2, kvType: 'f32', flashAttn: false });
    await ctx.decode(new Batch().addSequence(a.slice(0, 10), 0, 0, false));
    const got: Float32Array[] = [];
    // step a one token at a time while b is prefilled in chunks of 4 within the same batches
    for (let step = 0; step < 6; step++) {
      const batch = new Batch().add(a[10 + step]!, 10 + step, 0, true);
      if (step < 3) batch.addSequence(b.slice(step * 4, step * 4 + 4), step * 4, 1, true);
      const l = await ctx.decode(batch);
      got.push(l.row(0).slice());
      if (step === 2) expectClose(l.row(1), (await solo(b))[11]!, SAME_TOL, 'b after its last chunk');
    }
    const alone = await solo(a);
    got.forEach((row, step) => expectClose(row, alone[10 + step]!, SAME_TOL, `a at ${10 + step}`));
    await ctx.close();
  });

  it('splits a long batch into ubatches without changing the result', async () => {
    const tokens = testTokens(40, V, 6);
    const ctx = await model.createContext({ nCtx: 128, nUbatch: 7, kvType: 'f32', flashAttn: false });
    const batch = new Batch();
    tokens.forEach((t, i) => batch.add(t, i, 0, true));
    const l = await ctx.decode(batch);
    const alone = await solo(tokens);
    tokens.forEach((_, p) => expectClose(l.row(p), alone[p]!, SAME_TOL, `pos ${p}`));
    await ctx.close();
  });
});

describe('sequence operations', () => {
  let ctx: Context;
  beforeAll(async () => {
    ctx = await model.createContext({ nCtx: 128, nSeqMax: 4, kvType: 'f32', flashAttn: false });
  });
  afterAll(() => ctx.close());

  it('seqCopy shares a cached prefix: both continuations match fresh runs', async () => {
    ctx.clear();
    const prefix = testTokens(14, V, 7);
    const s1 = [31, 32, 33];
    const s2 = [41, 42, 43, 44];
    await ctx.decode(new Batch().addSequence(prefix, 0, 0, false));
    const used = ctx.state().kvUsed;
    ctx.seqCopy(0, 1);
    expect(ctx.state().kvUsed, 'copying shares cells').toBe(used);
    expect(ctx.seqPosMax(1)).toBe(13);
    const batch = new Batch().addSequence(s1, 14, 0, true).addSequence(s2, 14, 1, true);
    const l = await ctx.decode(batch);
    expectClose(l.row(0), (await solo([...prefix, ...s1]))[16]!, SAME_TOL, 'continuation 1');
    expectClose(l.row(1), (await solo([...prefix, ...s2]))[17]!, SAME_TOL, 'continuation 2');
  });

  it('seqRemove drops a tail so it can be decoded differently', async () => {
    ctx.clear();
    const tokens = testTokens(18, V, 8);
    await ctx.decode(new Batch().addSequence(tokens, 0, 0, false));
    ctx.seqRemove(0, 12, -1);
    expect(ctx.seqPosMax(0)).toBe(11);
    const other = [50, 51, 52];
    const l = await ctx.decode(new Batch().addSequence(other, 12, 0, true));
    expectClose(l.row(0), (await solo([...tokens.slice(0, 12), ...other]))[14]!, SAME_TOL, 'rewritten tail');
  });

  it('removing one sequence leaves a sequence that shares its cells intact', async () => {
    ctx.clear();
    const prefix = testTokens(10, V, 9);
    await ctx.decode(new Batch().addSequence(prefix, 0, 0, false));
    ctx.seqCopy(0, 2);
    ctx.seqRemove(0);
    expect(ctx.seqPosMax(0)).toBe(-1);
    expect(ctx.state().kvUsed).toBe(10);
    const l = await ctx.decode(new Batch().add(60, 10, 2, true));
    expectClose(l.row(0), (await solo([...prefix, 60]))[10]!, SAME_TOL, 'seq 2 after seq 0 was removed');
  });

  it('seqSave / seqRestore: a tail swapped out and back (into other cells, another sequence) continues as a fresh run', async () => {
    ctx.clear();
    const tokens = testTokens(24, V, 12);
    await ctx.decode(new Batch().addSequence(tokens, 0, 0, false));
    // another sequence's cells in between, so the restored rows land in different cells
    await ctx.decode(new Batch().addSequence(testTokens(9, V, 13), 0, 3, false));
    const saved = ctx.seqSave(0, 10, 24);
    // a 16-byte header, then per position (f32 cache, one pool in a context this small):
    // 2 tensors x layers x row of head_dim * kv heads floats
    const { hparams } = model.info;
    expect(saved.byteLength).toBe(16 + 14 * 2 * hparams.nLayer * hparams.headDim * hparams.nHeadKv * 4);
    ctx.seqRemove(0, 10, -1);
    ctx.seqRemove(3);
    await ctx.decode(new Batch().addSequence(testTokens(5, V, 14), 0, 2, false)); // takes the freed cells
    ctx.seqCopy(0, 1, 0, 10);
    ctx.seqRemove(0);
    ctx.seqRestore(1, 10, saved);
    expect(ctx.seqPosMax(1)).toBe(23);
    expect(ctx.state().kvUsed).toBe(24 + 5);
    const l = await ctx.decode(new Batch().add(70, 24, 1, true));
    expectClose(l.row(0), (await solo([...tokens, 70]))[24]!, SAME_TOL, 'after the restore');
    const oracle = await oracleLogprobs(tinyModel('gemma3', 'f32'), [...tokens, 70], V, { kvType: 'f32', flashAttn: false });
    expect(maxAbsDiff(logSoftmax(l.row(0)), oracle.at(-1)!), 'after the restore vs llama.cpp').toBeLessThanOrEqual(ORACLE_TOL);
  });

  it('seqSave refuses positions the sequence does not hold; seqRestore refuses foreign data and a full cache', async () => {
    ctx.clear();
    await ctx.decode(new Batch().addSequence(testTokens(6, V, 15), 0, 0, false));
    expect(() => ctx.seqSave(0, 2, 9)).toThrow(/holds no position 6/);
    expect(() => ctx.seqSave(1, 0, 1)).toThrow(/holds no position 0/);
    expect(() => ctx.seqSave(0, 4, 2)).toThrow(/not a range/);
    const saved = ctx.seqSave(0, 0, 6);
    expect(() => ctx.seqRestore(1, 0, saved.subarray(0, saved.byteLength - 1))).toThrow(/does not fit this context/);
    expect(() => ctx.seqRestore(1, 0, new Uint8Array(saved.byteLength))).toThrow(/does not fit this context/);
    expect(() => ctx.seqRestore(1, 0, new Float32Array(4) as unknown as Uint8Array)).toThrow(/Uint8Array/);
    await ctx.decode(new Batch().addSequence(testTokens(120, V, 16), 0, 2, false));
    expect(() => ctx.seqRestore(1, 0, saved)).toThrow(/KV cache is full/);
    expect(ctx.seqPosMax(1)).toBe(-1);
  });

  it('rejects positions that go backwards, unknown sequences, tokens outside the vocabulary', async () => {
    ctx.clear();
    await ctx.decode(new Batch().addSequence([2, 10, 11], 0, 0, false));
    await expect(ctx.decode(new Batch().add(12, 1, 0))).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(ctx.decode(new Batch().add(12, 3, 9))).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(ctx.decode(new Batch().add(V, 3, 0))).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(ctx.decode(new Batch())).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    expect(() => ctx.seqRemove(99)).toThrow(/out of range/);
    expect(ctx.seqPosMax(0), 'failed decodes leave the cache as it was').toBe(2);
  });

  it('a batch larger than the free cache fails with ERR_CONTEXT_FULL and changes nothing', async () => {
    ctx.clear();
    await ctx.decode(new Batch().addSequence(testTokens(100, V, 10), 0, 0, false));
    await expect(ctx.decode(new Batch().addSequence(testTokens(40, V, 11), 0, 1, false))).rejects.toMatchObject({
      code: 'ERR_CONTEXT_FULL',
    });
    expect(ctx.state().kvUsed).toBe(100);
    expect(ctx.seqPosMax(1)).toBe(-1);
  });
});
