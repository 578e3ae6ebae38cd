// The sampler's native kernels and processors against any input: NaN, ±inf, ±3.4e38, denormals
// and ties in the logits; scales from 1e-30 to +inf; top-p of 1e-9, top-k of the whole
// vocabulary. Expected values come from plain float64 loops written from the rules in
// native/runtime/sampling_kernels.h (a NaN logit cannot be drawn, +inf logits share all the
// probability, -inf logits share it when nothing is larger, and a row of only NaN gives the
// first index), not from the kernels.
// Once, one HTTP request with temperature 1e-39 and top_p 0.9 crashed the server: the scale
// overflowed, logits became NaN and the top-p kernel indexed its histogram with (int)NaN.
import { describe, expect, it } from 'vitest';

import { argmax, Candidates, logPartition, nucleus, sampleSoftmax, selectAtLeast, topKOfRow } from '../src/sampling/candidates.js';
import { samplingParams } from '../src/sampling/options.js';
import { Rng } from '../src/sampling/rng.js';
import { logprobOf, MIN_LOGPROB, Sampler } from '../src/sampling/sampler.js';

const F32_MAX = 3.4028234663852886e38;

/** A row mixing ordinary values with the ones that break naive code. */
function hostileRow(rng: Rng, n: number, nastiness: number): Float32Array {
  const specials = [NaN, Infinity, -Infinity, F32_MAX, -F32_MAX, 1e-45, -1e-45, 0, 1e30, -1e30];
  const r = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = rng.next();
    if (u < nastiness) r[i] = specials[Math.floor(rng.next() * specials.length)]!;
    else if (u < nastiness + 0.1) r[i] = r[Math.floor(rng.next() * Math.max(1, i))] ?? 0; // ties
    else r[i] = (rng.next() - 0.5) * 40;
  }
  return r;
}

// --- the reference: plain loops in float64 over float32 inputs ---------------------------------

const rank = (v: number) => (Number.isNaN(v) ? -Infinity : v);

function refMax(x: Float32Array): number {
  let m = -Infinity;
  for (const v of x) if (v > m) m = v;
  return m;
}

/** Unnormalised probabilities under the kernels' rules (float32 scale, as the kernels get it). */
function refWeights(x: Float32Array, scale: number): Float64Array {
  const s = Math.fround(scale);
  const m = refMax(x);
  const w = Float64Array.from(x, (v) => {
    if (v === m) return 1;
    const d = Math.fround(Math.fround(v - m) * s);
    return Number.isNaN(d) ? 0 : Math.exp(d);
  });
  return w;
}

function refArgmax(x: Float32Array): number {
  const m = refMax(x);
  const i = x.findIndex((v) => v === m);
  return i < 0 ? 0 : i;
}

function refTopK(x: Float32Array, k: number): number[] {
  const order = Array.from(x.keys());
  order.sort((a, b) => (rank(x[b]!) > rank(x[a]!) ? 1 : rank(x[b]!) < rank(x[a]!) ? -1 : a - b));
  return order.slice(0, Math.min(k, x.length));
}

const scales = [1e-30, 1e-5, 0.5, 1, 3, 1e5, 1e30, 1e39 /* overflows float32: +inf */, Infinity];

describe('native kernels on hostile rows agree with plain loops', () => {
  const rng = new Rng(2024);
  const rows = Array.from({ length: 60 }, (_, j) => {
    const n = [1, 2, 7, 63, 64, 65, 129, 1000, 3000][j % 9]!;
    return hostileRow(rng, n, [0, 0.01, 0.2, 0.6, 1][j % 5]!);
  });
  // and the degenerate rows
  rows.push(Float32Array.of(NaN, NaN, NaN), Float32Array.of(-Infinity, NaN, -Infinity), Float32Array.of(Infinity, 1, Infinity, NaN));
  rows.push(new Float32Array(200).fill(NaN), new Float32Array(130).fill(Infinity), new Float32Array(70).fill(-F32_MAX));

  it('argmax: the first of the maxima, NaN never', () => {
    for (const x of rows) expect(argmax(x)).toBe(refArgmax(x));
  });

  it('topK: the k best, ties to the lower index, NaN ranked last, k up to the whole row', () => {
    for (const x of rows) {
      for (const k of [1, 5, x.length, x.length + 10]) {
        const got = topKOfRow(x, k);
        expect(Array.from(got.ids)).toEqual(refTopK(x, k));
        expect(Array.from(got.logits)).toEqual(Array.from(got.ids, (id) => Math.fround(rank(x[id]!))));
      }
    }
  });

  it('logPartition: log of the plain sum; +inf with an +inf logit, -inf with no finite one', () => {
    for (const x of rows) {
      for (const scale of scales.filter((s) => s <= 1e30)) {
        const m = refMax(x);
        const got = logPartition(x, scale);
        if (m === Infinity || m === -Infinity) {
          expect(got).toBe(m);
          continue;
        }
        const w = refWeights(x, scale);
        const want = m * Math.fround(scale) + Math.log(w.reduce((a, b) => a + b, 0));
        expect(Number.isFinite(got) || !Number.isFinite(want), `scale ${scale}`).toBe(true);
        if (Number.isFinite(want)) expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want)));
      }
    }
  });

  it('sampleSoftmax: an index in range with positive probability, where u falls in the plain cumulative sum', () => {
    for (const x of rows) {
      for (const scale of scales) {
        const w = refWeights(x, scale);
        const total = w.reduce((a, b) => a + b, 0);
        for (const u of [0, 1e-12, 0.25, 0.5, 0.999999, 1 - 2 ** -53]) {
          const got = sampleSoftmax(x, scale, u);
          expect(Number.isInteger(got) && got >= 0 && got < x.length).toBe(true);
          if (total === 0) { // only NaN: nothing can be drawn, the first index stands in
            expect(got).toBe(0);
            continue;
          }
          expect(w[got], `scale ${scale} u ${u}: drew a token of probability 0`).toBeGreaterThan(0);
          // the plain cumulative position of u, allowing float-vs-double rounding at the boundary
          let before = 0;
          for (let i = 0; i < got; i++) before += w[i]!;
          expect(u * total).toBeGreaterThanOrEqual(before - 1e-5 * total);
          expect(u * total).toBeLessThanOrEqual(before + w[got]! + 1e-5 * total);
        }
      }
    }
  });

  it('topP: the fewest best tokens reaching p, at least one, never out of range', () => {
    for (const x of rows) {
      for (const scale of scales) {
        const w = refWeights(x, scale);
        const total = w.reduce((a, b) => a + b, 0);
        for (const p of [1e-9, 0.3, 0.9, 0.999, 1]) {
          const got = nucleus(x, scale, p);
          expect(got.n).toBeGreaterThanOrEqual(1);
          expect(got.n).toBeLessThanOrEqual(x.length);
          const ids = Array.from(got.ids.subarray(0, got.n));
          expect(new Set(ids).size).toBe(ids.length);
          expect(ids.every((id) => id >= 0 && id < x.length)).toBe(true);
          if (total === 0) continue; // only NaN: any one token (checked above) stands in
          const mass = ids.reduce((a, id) => a + w[id]!, 0) / total;
          expect(mass, `scale ${scale} p ${p}`).toBeGreaterThanOrEqual(Math.min(p, 1) - 1e-5);
          // nothing left out is more likely than the least likely token kept
          const kept = new Set(ids);
          let leastKept = Infinity, bestLeft = 0;
          for (const id of ids) leastKept = Math.min(leastKept, w[id]!);
          w.forEach((v, i) => { if (!kept.has(i)) bestLeft = Math.max(bestLeft, v); });
          expect(bestLeft).toBeLessThanOrEqual(leastKept * (1 + 1e-6));
        }
      }
    }
  });

  it('selectAtLeast: exactly the entries >= the threshold (NaN never), in index order', () => {
    for (const x of rows) {
      for (const t of [NaN, -Infinity, -1, 0, 1e30, Infinity]) {
        const got = selectAtLeast(x, t);
        const want = Array.from(x.keys()).filter((i) => x[i]! >= Math.fround(t));
        expect(Array.from(got.ids.subarray(0, got.n))).toEqual(want);
      }
    }
  });
});

describe('the sampler on hostile rows and parameters', () => {
  it('never throws, never returns a token outside the vocabulary, never reports NaN', () => {
    const rng = new Rng(7);
    const V = 777;
    const params = [
      { temperature: 1e-39, topP: 0.9 }, // the request that crashed the server
      { temperature: 1e-6 }, { temperature: 1e-5 }, { temperature: 0.3, topK: V }, { temperature: 5, topP: 1e-9 },
      { temperature: 1, minP: 1 }, { temperature: 1, minP: 1e-9, topK: 1 }, { temperature: 1e6, topP: 0.5, minP: 0.5 },
      { temperature: 0.7, repetitionPenalty: 1e-300, presencePenalty: 2, frequencyPenalty: -2 },
      { temperature: 2, logitBias: { 3: 100, 4: -100 } },
    ];
    for (const [j, opts] of params.entries()) {
      const s = new Sampler(samplingParams({ ...opts, seed: j, logprobs: true, topLogprobs: 20 }, V), [1, 2, 3]);
      for (let step = 0; step < 40; step++) {
        const row = hostileRow(rng, V, [0, 0.05, 0.5, 1][step % 4]!);
        if (step % 10 === 9) row.fill(NaN);
        const t = s.sample(row);
        expect(Number.isInteger(t.id) && t.id >= 0 && t.id < V, JSON.stringify(opts)).toBe(true);
        expect(Number.isNaN(t.logprob)).toBe(false);
        expect(t.logprob!).toBeGreaterThanOrEqual(MIN_LOGPROB);
        for (const a of t.top!) expect(a.logprob).toBeGreaterThanOrEqual(MIN_LOGPROB);
      }
    }
  });

  it('a temperature below 1e-5 is greedy (as vLLM), however the other options are set', () => {
    const rng = new Rng(3);
    const rows = Array.from({ length: 30 }, () => hostileRow(rng, 500, 0.02));
    for (const temperature of [1e-39, 1e-12, 9.9e-6]) {
      const s = new Sampler(samplingParams({ temperature, topP: 0.9, topK: 40, seed: 1 }, 500));
      for (const r of rows) expect(s.sample(r.slice()).id).toBe(refArgmax(r));
    }
  });

  it('a NaN logit is never drawn; +inf logits take all the probability', () => {
    const s = new Sampler(samplingParams({ temperature: 1, seed: 5 }, 6));
    for (let i = 0; i < 200; i++) {
      expect([1, 4]).toContain(s.sample(Float32Array.of(NaN, Infinity, 3, NaN, Infinity, -Infinity)).id);
      expect(s.sample(Float32Array.of(NaN, 0, NaN)).id).toBe(1);
    }
  });

  it('log-probabilities of odd logits are clamped, never NaN', () => {
    expect(logprobOf(Infinity, Infinity)).toBe(0);
    expect(logprobOf(1, Infinity)).toBe(MIN_LOGPROB);
    expect(logprobOf(NaN, 3)).toBe(MIN_LOGPROB);
    expect(logprobOf(-Infinity, -Infinity)).toBe(MIN_LOGPROB);
    expect(logprobOf(-1e30, 0)).toBe(MIN_LOGPROB);
    expect(logprobOf(2, 3)).toBe(-1);
  });

  it('list probabilities follow the same rules as the kernels', () => {
    const c = new Candidates(new Float32Array(0));
    c.setList(Int32Array.of(0, 1, 2, 3), Float32Array.of(NaN, Infinity, 1, Infinity), 4, false);
    expect(Array.from(c.listProbs())).toEqual([0, 0.5, 0, 0.5]);
    c.setList(Int32Array.of(0, 1), Float32Array.of(NaN, NaN), 2, false);
    expect(Array.from(c.listProbs())).toEqual([0.5, 0.5]);
  });
});
