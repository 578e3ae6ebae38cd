import { describe, expect, it } from 'vitest';

import { Candidates, topKOfRow } from '../src/sampling/candidates.js';
import { samplingParams } from '../src/sampling/options.js';
import { LogitBias, MinP, Penalties, Temperature, TokenHistory, TopK, TopP } from '../src/sampling/processors.js';
import { Rng } from '../src/sampling/rng.js';
import { draw, Sampler } from '../src/sampling/sampler.js';

const row = (...v: number[]) => Float32Array.from(v);
const logs = (...p: number[]) => Float32Array.from(p, Math.log);
const listIds = (c: Candidates) => Array.from(c.ids.subarray(0, c.n));
const close = (a: ArrayLike<number>, b: number[], digits = 6) => {
  expect(a.length).toBe(b.length);
  b.forEach((v, i) => expect(a[i]!).toBeCloseTo(v, digits));
};

describe('row processors', () => {
  it('logit bias adds to the named tokens only', () => {
    const r = row(1, 2, 3, 4);
    new LogitBias(new Map([[0, 5], [3, -100]])).apply(r);
    close(r, [6, 2, 3, -96]);
  });

  it('repetition penalty divides positive and multiplies negative logits of seen tokens', () => {
    const r = row(2, -2, 1, 4);
    const h = new TokenHistory([0, 1]);
    new Penalties(2, 0, 0).apply(r, h);
    close(r, [1, -4, 1, 4]);
  });

  it('presence and frequency penalties count generated tokens only', () => {
    const r = row(1, 1, 1);
    const h = new TokenHistory([0]); // prompt token: no presence/frequency penalty
    h.push(2);
    h.push(2);
    h.push(2);
    h.push(1);
    new Penalties(1, 0.5, 0.25).apply(r, h);
    close(r, [1, 1 - 0.5 - 0.25, 1 - 0.5 - 0.75]);
  });
});

describe('candidate processors', () => {
  it('top-k keeps the k best, ties to the lower id, in order', () => {
    const c = new Candidates(row(0.1, 3, 2, 3, -1));
    new TopK(2).apply(c);
    expect(listIds(c)).toEqual([1, 3]);
    const c3 = new Candidates(row(0.1, 3, 2, 3, -1));
    new TopK(3).apply(c3);
    expect(listIds(c3)).toEqual([1, 3, 2]);
  });

  it('top-k of a large row matches a full sort', () => {
    const rng = new Rng(7);
    const r = Float32Array.from({ length: 5000 }, () => Math.round(rng.next() * 1000) / 10);
    const want = Array.from(r.keys()).sort((a, b) => r[b]! - r[a]! || a - b).slice(0, 50);
    expect(Array.from(topKOfRow(r, 50).ids)).toEqual(want);
  });

  it('top-p keeps the smallest prefix reaching p, from the whole vocabulary or a list', () => {
    for (const [p, n] of [[0.49, 1], [0.79, 2], [0.81, 3], [0.96, 4], [1e-9, 1]] as const) {
      const full = new Candidates(logs(0.15, 0.5, 0.05, 0.3));
      new TopP(p).apply(full);
      expect(listIds(full).sort()).toEqual([1, 3, 0, 2].slice(0, n).sort()); // the native nucleus is unordered
      const list = new Candidates(logs(0.15, 0.5, 0.05, 0.3));
      new TopK(3).apply(list);
      new TopP(p).apply(list);
      // after top-k 3 the list is renormalised: 0.5/0.95, 0.3/0.95, 0.15/0.95
      const nList = p <= 0.5 / 0.95 ? 1 : p <= 0.8 / 0.95 ? 2 : 3;
      expect(listIds(list)).toEqual([1, 3, 0].slice(0, nList));
    }
  });

  it('top-p works at a temperature', () => {
    // at T = 2 the probabilities are proportional to sqrt(p): 0.6, 0.4 -> sqrt 0.7746, 0.6325 -> 0.5505, 0.4495
    const c = new Candidates(logs(0.6, 0.4));
    new Temperature(2).apply(c);
    new TopP(0.55).apply(c);
    expect(listIds(c)).toEqual([0]);
    const d = new Candidates(logs(0.6, 0.4));
    new Temperature(2).apply(d);
    new TopP(0.551).apply(d);
    expect(listIds(d).sort()).toEqual([0, 1]);
  });

  it('min-p drops tokens below min_p times the best', () => {
    const full = new Candidates(logs(0.15, 0.5, 0.05, 0.3));
    new MinP(0.25).apply(full); // threshold 0.125
    expect(listIds(full).sort()).toEqual([0, 1, 3]);
    const list = new Candidates(logs(0.15, 0.5, 0.05, 0.3));
    new TopK(3).apply(list);
    new MinP(0.5).apply(list); // threshold 0.25
    expect(listIds(list)).toEqual([1, 3]);
  });

  it('temperature reshapes the list probabilities as p^(1/T)', () => {
    const c = new Candidates(logs(0.6, 0.4));
    c.setList(Int32Array.from([0, 1]), logs(0.6, 0.4), 2, true);
    new Temperature(2).apply(c);
    const s = Math.sqrt(0.6) + Math.sqrt(0.4);
    close(c.listProbs(), [Math.sqrt(0.6) / s, Math.sqrt(0.4) / s]);
  });
});

describe('draw', () => {
  it('follows the distribution (full vocabulary and list)', () => {
    const rng = new Rng(123);
    const counts = [0, 0, 0];
    const countsList = [0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++) {
      counts[draw(new Candidates(logs(0.5, 0.3, 0.2)), rng.next())]!++;
      const c = new Candidates(logs(0.5, 0.3, 0.2));
      c.setList(Int32Array.from([0, 1, 2]), logs(0.5, 0.3, 0.2), 3, true);
      countsList[draw(c, rng.next())]!++;
    }
    for (const cs of [counts, countsList]) {
      expect(cs[0]! / n).toBeCloseTo(0.5, 1);
      expect(Math.abs(cs[1]! / n - 0.3)).toBeLessThan(0.02);
      expect(Math.abs(cs[2]! / n - 0.2)).toBeLessThan(0.02);
    }
  });

  it('u at the edges stays inside the candidates', () => {
    expect(draw(new Candidates(logs(0.5, 0.5)), 0)).toBe(0);
    expect(draw(new Candidates(logs(0.5, 0.5)), 0.999999999)).toBe(1);
  });
});

describe('Sampler', () => {
  const V = 1000;
  const logitsFor = (step: number) => {
    const rng = new Rng(1000 + step);
    return Float32Array.from({ length: V }, () => rng.next() * 4);
  };
  const run = (opts: Parameters<typeof samplingParams>[0], steps = 100) => {
    const s = new Sampler(samplingParams(opts, V), [1, 2, 3]);
    return Array.from({ length: steps }, (_, i) => s.sample(logitsFor(i)).id);
  };

  it('the same seed reproduces the same tokens; another seed does not', () => {
    const opts = { temperature: 0.9, topK: 40, topP: 0.95, minP: 0.01, repetitionPenalty: 1.1, presencePenalty: 0.3, seed: 42 };
    expect(run(opts)).toEqual(run(opts));
    expect(run(opts)).not.toEqual(run({ ...opts, seed: 43 }));
    expect(run({ temperature: 1, seed: 5 })).toEqual(run({ temperature: 1, seed: 5 }));
  });

  it('temperature 0 is greedy after bias and penalties, whatever top_k/top_p say', () => {
    const s = new Sampler(samplingParams({ temperature: 0, topK: 1, topP: 0.1, logitBias: { 7: 100 } }, V));
    expect(s.sample(logitsFor(0)).id).toBe(7);
    const g = new Sampler(samplingParams({ temperature: 0 }, 4));
    expect(g.sample(row(1, 5, 5, 2)).id).toBe(1);
  });

  it('logit bias acts before top-k (the order is fixed)', () => {
    const s = new Sampler(samplingParams({ temperature: 1, topK: 1, logitBias: { 3: 100 }, seed: 1 }, 4));
    expect(s.sample(row(4, 3, 2, 1)).id).toBe(3);
  });

  it('penalties act on what was generated', () => {
    const s = new Sampler(samplingParams({ temperature: 0, frequencyPenalty: 2 }, 3));
    expect(s.sample(row(3, 2, 0)).id).toBe(0); // 3 vs 2
    expect(s.sample(row(3, 2, 0)).id).toBe(1); // 0 was penalised by 2: 1 < 2
  });

  it('logprobs are the raw distribution, with the top alternatives', () => {
    const s = new Sampler(samplingParams({ temperature: 0, logprobs: true, topLogprobs: 2, logitBias: { 2: 100 } }, 3));
    const t = s.sample(logs(0.5, 0.3, 0.2));
    expect(t.id).toBe(2);
    expect(t.logprob!).toBeCloseTo(Math.log(0.2), 5);
    expect(t.top!.map((x) => x.id)).toEqual([0, 1]);
    expect(t.top![0]!.logprob).toBeCloseTo(Math.log(0.5), 5);
  });

  it('a sampler without a seed draws its own and reports it', () => {
    const s = new Sampler(samplingParams({}, 4));
    expect(Number.isInteger(s.seed)).toBe(true);
  });
});

describe('sampling options are checked', () => {
  const bad: [Record<string, unknown>, string][] = [
    [{ temperature: -1 }, 'temperature'],
    [{ temperature: Number.NaN }, 'temperature'],
    [{ temperature: '1' }, 'temperature'],
    [{ topK: 1.5 }, 'top_k'],
    [{ topK: -1 }, 'top_k'],
    [{ topP: 0 }, 'top_p'],
    [{ topP: 1.01 }, 'top_p'],
    [{ minP: 2 }, 'min_p'],
    [{ repetitionPenalty: 0 }, 'repetition_penalty'],
    [{ presencePenalty: 2.5 }, 'presence_penalty'],
    [{ frequencyPenalty: -3 }, 'frequency_penalty'],
    [{ seed: 1.5 }, 'seed'],
    [{ seed: 2 ** 60 }, 'seed'],
    [{ topLogprobs: 21, logprobs: true }, 'top_logprobs'],
    [{ topLogprobs: 2 }, 'top_logprobs'],
    [{ logprobs: 'yes' }, 'logprobs'],
    [{ logitBias: { 10: 1 } }, 'logit_bias'],
    [{ logitBias: { abc: 1 } }, 'logit_bias'],
    [{ logitBias: { 1: 101 } }, 'logit_bias'],
    [{ logitBias: [1] }, 'logit_bias'],
  ];
  for (const [opts, param] of bad) {
    it(`rejects ${JSON.stringify(opts)}`, () => {
      expect(() => samplingParams(opts as never, 10)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG', param }));
    });
  }
  it('fills defaults', () => {
    const p = samplingParams({}, 10);
    expect(p).toMatchObject({ temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1, logprobs: false });
  });
});

describe('native kernels agree with plain computations', () => {
  const rng = new Rng(99);
  const V = 262144;
  const big = Float32Array.from({ length: V }, () => (rng.next() - 0.5) * 30);

  it('logPartition at several scales (a 262k row, values -15..15)', async () => {
    const { logPartition } = await import('../src/sampling/candidates.js');
    for (const scale of [1, 0.5, 2, 1 / 0.7]) {
      let max = -Infinity;
      for (const v of big) max = Math.max(max, v * scale);
      let s = 0;
      for (const v of big) s += Math.exp(v * scale - max);
      expect(Math.abs(logPartition(big, scale) - (max + Math.log(s)))).toBeLessThan(1e-6);
    }
  });

  it('argmax takes the first of equal maxima; selectAtLeast keeps index order', async () => {
    const { argmax, selectAtLeast } = await import('../src/sampling/candidates.js');
    expect(argmax(row(1, 7, 3, 7))).toBe(1);
    expect(argmax(row(-5, -1, -3))).toBe(1);
    const r = selectAtLeast(row(1, 7, 3, 7, 2), 3);
    expect([Array.from(r.ids.subarray(0, r.n)), Array.from(r.logits.subarray(0, r.n))]).toEqual([[1, 2, 3], [7, 3, 7]]);
  });

  it('sampleSoftmax finds where u falls in the cumulative distribution', async () => {
    const { sampleSoftmax } = await import('../src/sampling/candidates.js');
    const r = logs(0.25, 0.25, 0.5);
    expect(sampleSoftmax(r, 1, 0)).toBe(0);
    expect(sampleSoftmax(r, 1, 0.26)).toBe(1);
    expect(sampleSoftmax(r, 1, 0.51)).toBe(2);
    expect(sampleSoftmax(r, 1, 0.9999)).toBe(2);
    // on a 262k row (the block path): against a plain cumulative scan
    let max = -Infinity;
    for (const v of big) max = Math.max(max, v);
    const e = Float64Array.from(big, (v) => Math.exp(v - max));
    const total = e.reduce((a, b) => a + b, 0);
    for (const u of [0.001, 0.3, 0.77, 0.999]) {
      let acc = 0;
      let want = 0;
      for (let i = 0; i < V; i++) {
        acc += e[i]!;
        if (u * total < acc) {
          want = i;
          break;
        }
      }
      const got = sampleSoftmax(big, 1, u);
      // float vs double partial sums may move the boundary by a token or two
      expect(Math.abs(got - want)).toBeLessThanOrEqual(2);
    }
  });

  it('topP on a flat 262k row: the fewest tokens reaching p', async () => {
    const { nucleus } = await import('../src/sampling/candidates.js');
    for (const [scale, p] of [[1, 0.9], [1 / 0.7, 0.5], [2, 0.99]] as const) {
      const got = nucleus(big, scale, p);
      const chosen = Array.from(got.logits.subarray(0, got.n));
      let max = -Infinity;
      for (const v of big) max = Math.max(max, v * scale);
      let z = 0;
      for (const v of big) z += Math.exp(v * scale - max);
      const mass = chosen.reduce((a, v) => a + Math.exp(v * scale - max) / z, 0);
      expect(mass).toBeGreaterThanOrEqual(p - 1e-9);
      // minimal: without its smallest member the set falls short of p
      const smallest = Math.min(...chosen);
      expect(mass - Math.exp(smallest * scale - max) / z).toBeLessThan(p);
      // and nothing left out is more likely than something kept
      const kept = new Set(got.ids.subarray(0, got.n));
      let bestLeft = -Infinity;
      big.forEach((v, i) => { if (!kept.has(i)) bestLeft = Math.max(bestLeft, v); });
      expect(bestLeft).toBeLessThanOrEqual(smallest);
    }
  });

  it('the top-p processor: the best 64 when they hold p, the mass histogram when the distribution is flat', () => {
    const peaked = big.slice();
    for (let j = 0; j < 5; j++) peaked[1000 + j] = 40 - j; // ~all the mass in 5 tokens
    const c = new Candidates(peaked);
    new TopP(0.9).apply(c);
    expect(c.sorted).toBe(true);
    expect(listIds(c)).toEqual([1000, 1001, 1002]); // masses 0.64, 0.23, 0.09, ...: two reach 0.87, three 0.96
    const flat = new Candidates(big);
    new TopP(0.9).apply(flat);
    expect(flat.n).toBeGreaterThan(64);
    let max = -Infinity;
    for (const v of big) max = Math.max(max, v);
    let z = 0;
    for (const v of big) z += Math.exp(v - max);
    let mass = 0;
    for (let i = 0; i < flat.n; i++) mass += Math.exp(flat.logits[i]! - max) / z;
    expect(mass).toBeGreaterThanOrEqual(0.9 - 1e-9);
  });

  it('rejects arguments of the wrong type instead of crashing', async () => {
    const { native } = await import('../src/runtime/native.js');
    const k = native().kernels;
    expect(() => k.argmax(new Float64Array(3) as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => k.topK(row(1, 2), 2, new Int32Array(1), new Float32Array(2))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => k.sampleSoftmax(row(1), 1, 1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => k.selectAtLeast(row(1, 2), 0, new Int32Array(1), new Float32Array(1))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
  });
});
