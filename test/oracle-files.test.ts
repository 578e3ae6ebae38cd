// Our logits against llama.cpp's on files shaped like the hub's and on settings the plain oracle
// suite never used: GGUFs written as older converters wrote them (keys missing), models with odd
// shapes, context sizes that are not a multiple of anything, sequences longer than 256 cells and
// than one ubatch, and sequence copies into a sequence that already holds cells.
//
// Tolerance on log-probabilities: 1e-3 with an F32 cache and no flash attention (see
// oracle.test.ts for how sharp that is on these chaotic tiny models); 1e-2 with the default F16
// cache and flash attention, as in oracle.test.ts: there Gemma 1 and 2 agree to 1e-5 but Gemma 3
// (whose tiny models slide a window of 8) to 7e-4..1.6e-3 (measured), already on the files that
// always passed. The argmax must agree at every position in every mode. The mistakes these
// tests were written for moved logits by 0.03 to 17.
import { afterAll, describe, expect, it } from 'vitest';

import { Batch, Model, type ContextOptions } from '../src/runtime/index.js';
import { argmax, logSoftmax, maxAbsDiff } from './helpers/compare.js';
import { testTokens, tinyModel, variantHfDir, variantModel, type Variant, type WeightType } from './helpers/models.js';
import { disposeOracle, oracleLogprobs, type OracleOptions } from './helpers/oracle.js';

const tolerance = (mode: Mode) => (mode.kvType === 'f32' && !mode.flashAttn ? 1e-3 : 1e-2);

afterAll(disposeOracle);

interface Mode {
  nCtx: number;
  kvType: 'f16' | 'f32';
  flashAttn: boolean;
  nUbatch?: number;
}

async function ours(path: string, tokens: number[], mode: Mode, open: { repack?: boolean } = {}): Promise<Float64Array[]> {
  const model = await Model.open(path, open);
  try {
    const opts: ContextOptions = { nCtx: mode.nCtx, kvType: mode.kvType, flashAttn: mode.flashAttn };
    if (mode.nUbatch) opts.nUbatch = mode.nUbatch;
    const ctx = await model.createContext(opts);
    const batch = new Batch();
    tokens.forEach((t, i) => batch.add(t, i, 0, true));
    const logits = await ctx.decode(batch);
    return tokens.map((_, i) => logSoftmax(logits.row(i)));
  } finally {
    await model.close();
  }
}

function theirs(path: string, tokens: number[], nVocab: number, mode: Mode): Promise<Float64Array[]> {
  const o: OracleOptions = { kvType: mode.kvType, flashAttn: mode.flashAttn, contextSize: mode.nCtx };
  if (mode.nUbatch) o.batchSize = mode.nUbatch;
  return oracleLogprobs(path, tokens, nVocab, o);
}

function expectSame(mine: Float64Array[], ref: Float64Array[], what: string, mode: Mode): number {
  let worst = 0;
  for (let p = 0; p < ref.length; p++) {
    const d = maxAbsDiff(mine[p]!, ref[p]!);
    worst = Math.max(worst, d);
    expect(d, `${what}: position ${p}`).toBeLessThanOrEqual(tolerance(mode));
    expect(argmax(mine[p]!), `${what}: argmax at position ${p}`).toBe(argmax(ref[p]!));
  }
  console.log(`${what}: max |Δ logprob| = ${worst.toExponential(2)}`);
  return worst;
}

async function nVocabOf(path: string): Promise<number> {
  const m = await Model.open(path);
  const v = m.info.nVocab;
  await m.close();
  return v;
}

const plain: Mode = { nCtx: 64, kvType: 'f32', flashAttn: false };
const fast: Mode = { nCtx: 64, kvType: 'f16', flashAttn: true }; // the runtime's default mode

describe('GGUFs as older converters wrote them', () => {
  // what the family fills in where the file is silent, as llama.cpp fills it
  const filled: Record<string, object> = {
    'gemma-legacy': { attnSoftcap: 0, finalSoftcap: 0, slidingWindow: 0, ropeBase: 10000 },
    'gemma2-legacy': { attnSoftcap: 50, finalSoftcap: 30, slidingWindow: 4096, ropeBase: 10000, ropeBaseSwa: 10000, layerIsSwa: [true, false, true, false] },
    'gemma3-legacy': { ropeBase: 1e6, ropeBaseSwa: 10000, slidingWindow: 8, finalSoftcap: 0 },
    'gemma3-legacy-q4_k': { ropeBase: 1e6, ropeBaseSwa: 10000 },
  };
  const cases = Object.keys(filled).flatMap((name) => [plain, fast].map((mode) => ({ name: name as Variant, mode })));
  it.each(cases)('$name, $mode.kvType cache, flash attention $mode.flashAttn', async ({ name, mode }) => {
    const path = variantModel(name);
    const m = await Model.open(path);
    expect(m.info.hparams).toMatchObject(filled[name]!);
    const V = m.info.nVocab;
    await m.close();
    const tokens = testTokens(24, V);
    expectSame(await ours(path, tokens, mode), await theirs(path, tokens, V, mode), name, mode);
  });

  it.each(['gemma-legacy', 'gemma2-legacy', 'gemma3-legacy'] as const)(
    '%s: its HF directory (config.json as transformers 4.50 wrote it) gives the same logits',
    async (name) => {
      const tokens = testTokens(24, 384);
      const a = await ours(variantModel(name), tokens, plain);
      const b = await ours(variantHfDir(name)!, tokens, plain);
      for (let p = 0; p < tokens.length; p++) expect(maxAbsDiff(a[p]!, b[p]!), `position ${p}`).toBe(0);
    },
  );
});

describe('odd but valid models', () => {
  const cases = (['gemma3-3-layers', 'gemma3-head-dim-32', 'gemma3-rope-scaled'] as const).flatMap((name) =>
    [plain, fast].map((mode) => ({ name, mode })),
  );
  it.each(cases)('$name, $mode.kvType cache, flash attention $mode.flashAttn', async ({ name, mode }) => {
    const path = variantModel(name);
    const V = await nVocabOf(path);
    const tokens = testTokens(40, V); // past the rope-scaled model's 8x stretch of 24 positions
    expectSame(await ours(path, tokens, mode), await theirs(path, tokens, V, mode), name, mode);
  });

  it('reads the shapes it was given', async () => {
    const three = await Model.open(variantModel('gemma3-3-layers'));
    expect(three.info.hparams.layerIsSwa).toEqual([true, true, true]);
    await three.close();
    const wide = await Model.open(variantModel('gemma3-head-dim-32'));
    expect(wide.info.hparams).toMatchObject({ headDim: 32, nEmbd: 64, nHead: 4, queryPreAttnScalar: 32 });
    await wide.close();
    const scaled = await Model.open(variantModel('gemma3-rope-scaled'));
    expect(scaled.info.hparams).toMatchObject({ ropeFreqScale: 0.125 });
    await scaled.close();
  });
});

describe('any context size, long sequences, several ubatches', () => {
  const cases: Array<{ type: WeightType; n: number; mode: Mode }> = [
    { type: 'q8_0', n: 72, mode: { nCtx: 72, kvType: 'f32', flashAttn: false } }, // the logits CLI's sizing
    { type: 'q8_0', n: 72, mode: { nCtx: 72, kvType: 'f16', flashAttn: true } },
    { type: 'f32', n: 100, mode: { nCtx: 100, kvType: 'f32', flashAttn: false } },
    { type: 'q4_k', n: 100, mode: { nCtx: 100, kvType: 'f16', flashAttn: true } },
    { type: 'q8_0', n: 600, mode: { nCtx: 1000, kvType: 'f32', flashAttn: false, nUbatch: 128 } },
    { type: 'q4_k', n: 600, mode: { nCtx: 1000, kvType: 'f16', flashAttn: true, nUbatch: 128 } },
  ];
  it.each(cases)('gemma3 $type, $n tokens in $mode.nCtx cells, $mode.kvType cache, flash attention $mode.flashAttn, ubatch $mode.nUbatch', async ({ type, n, mode }) => {
    const path = tinyModel('gemma3', type);
    const V = await nVocabOf(path);
    const tokens = testTokens(n, V, 7);
    expectSame(await ours(path, tokens, mode), await theirs(path, tokens, V, mode), `gemma3 ${type} ctx ${mode.nCtx}`, mode);
  });
});

describe('sequence copies against llama.cpp', () => {
  it('a ranged copy into a sequence that already holds cells replaces them; continuing it equals a cold run', async () => {
    const path = tinyModel('gemma2', 'q8_0');
    const V = await nVocabOf(path);
    const a = testTokens(30, V, 11), b = testTokens(20, V, 12), tail = testTokens(12, V, 13).slice(1);
    const model = await Model.open(path);
    const ctx = await model.createContext({ nCtx: 100, nSeqMax: 2, kvType: 'f32', flashAttn: false });
    await ctx.decode(new Batch().addSequence(a, 0, 0, false));
    await ctx.decode(new Batch().addSequence(b, 0, 1, false));
    // seq 1's positions [0, 18) become seq 0's; its own 18 and 19 stay until removed
    ctx.seqCopy(0, 1, 0, 18);
    expect(ctx.seqPosMax(1)).toBe(19);
    ctx.seqRemove(1, 18, -1);
    expect(ctx.seqPosMax(1)).toBe(17);
    const cont = new Batch();
    tail.forEach((t, i) => cont.add(t, 18 + i, 1, true));
    const l = await ctx.decode(cont);
    const mine = tail.map((_, i) => logSoftmax(l.row(i)));
    // seq 0 is untouched by the copy: its next token still follows all 30 of its own
    const l0 = await ctx.decode(new Batch().add(tail[0]!, 30, 0, true));
    await model.close();

    const cold = [...a.slice(0, 18), ...tail];
    const mode: Mode = { nCtx: 100, kvType: 'f32', flashAttn: false };
    const ref = await theirs(path, cold, V, mode);
    expectSame(mine, ref.slice(18), 'copied prefix + tail', mode);
    const ref0 = await theirs(path, [...a, tail[0]!], V, mode);
    expectSame([logSoftmax(l0.row(0))], ref0.slice(30), 'the source after the copy', mode);
  });
});
