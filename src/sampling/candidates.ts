import type { NativeKernels } from '../runtime/addon.js';
import { native } from '../runtime/native.js';

let cached: NativeKernels | null = null;
/** The whole-vocabulary loops run natively (native/runtime/sampling_kernels.cpp): ~100x faster than JS here. */
function kernels(): NativeKernels {
  return (cached ??= native().kernels);
}

/**
 * The tokens still in the running during one sampling step. It starts as the whole vocabulary
 * (a view of the logits row, nothing copied) and becomes an explicit list once a processor cuts
 * it down, so a 262,144-token vocabulary is scanned only by the processors that must.
 *
 * Temperature is kept as a factor (invTemp) applied where probabilities are formed: the cuts by
 * rank (top-k) do not depend on it, and the row is not rewritten.
 */
export class Candidates {
  /** true: every token of `row` is a candidate; false: ids[0..n) are. */
  full = true;
  ids: Int32Array = new Int32Array(0);
  logits: Float32Array = new Float32Array(0);
  n = 0;
  /** ids are in descending logit order */
  sorted = false;
  invTemp = 1;

  constructor(readonly row: Float32Array) {}

  get size(): number {
    return this.full ? this.row.length : this.n;
  }

  /** Replaces the set by an explicit list (arrays are owned by the caller of this step). */
  setList(ids: Int32Array, logits: Float32Array, n: number, sorted: boolean): void {
    this.full = false;
    this.ids = ids;
    this.logits = logits;
    this.n = n;
    this.sorted = sorted;
  }

  /** Keeps the first n of a list. */
  truncate(n: number): void {
    this.n = Math.max(1, Math.min(this.n, n));
  }

  sortList(): void {
    if (this.full || this.sorted) return;
    const order = Array.from({ length: this.n }, (_, i) => i);
    const { ids, logits } = this;
    order.sort((a, b) => compareDesc(logits[a]!, logits[b]!) || ids[a]! - ids[b]!);
    const ids2 = new Int32Array(this.n);
    const logits2 = new Float32Array(this.n);
    for (let i = 0; i < this.n; i++) {
      ids2[i] = ids[order[i]!]!;
      logits2[i] = logits[order[i]!]!;
    }
    this.setList(ids2, logits2, this.n, true);
  }

  /**
   * Softmax of a list at the current temperature (Float64 so long tails sum exactly enough),
   * with the kernels' rules for odd values (sampling_kernels.h): NaN has probability 0, +inf
   * entries share all of it, -inf ones share it when nothing is larger; a list of only NaN is
   * taken as uniform (something must be drawn).
   */
  listProbs(): Float64Array {
    const { logits, n, invTemp } = this;
    let max = -Infinity;
    for (let i = 0; i < n; i++) if (logits[i]! > max) max = logits[i]!;
    const p = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const x = logits[i]!;
      const d = x === max ? 0 : (x - max) * invTemp;
      sum += p[i] = Number.isNaN(d) ? 0 : Math.exp(d);
    }
    if (sum === 0) return p.fill(1 / n);
    for (let i = 0; i < n; i++) p[i]! /= sum;
    return p;
  }
}

/** Descending order of logits for sorting, NaN last (a strict weak order, unlike b - a). */
export function compareDesc(a: number, b: number): number {
  const x = Number.isNaN(a) ? -Infinity : a, y = Number.isNaN(b) ? -Infinity : b;
  return x > y ? -1 : x < y ? 1 : 0;
}

/** Largest value of a row (native: the row may hold 262,144 entries). */
export function rowMax(row: Float32Array): number {
  return row[kernels().argmax(row)]!;
}

/** Index of the largest value (the lowest index on ties, as llama.cpp's greedy sampler). */
export function argmax(row: Float32Array): number {
  return kernels().argmax(row);
}

/** The k largest entries of a row, in descending order (ties: lower id first). */
export function topKOfRow(row: Float32Array, k: number): { ids: Int32Array; logits: Float32Array } {
  k = Math.min(k, row.length);
  const ids = new Int32Array(k);
  const logits = new Float32Array(k);
  kernels().topK(row, k, ids, logits);
  return { ids, logits };
}

/** Entries >= threshold, in index order. */
export function selectAtLeast(row: Float32Array, threshold: number): { ids: Int32Array; logits: Float32Array; n: number } {
  const ids = new Int32Array(row.length);
  const logits = new Float32Array(row.length);
  const n = kernels().selectAtLeast(row, threshold, ids, logits);
  return { ids, logits, n };
}

/** Nucleus of softmax(scale * row), unordered. */
export function nucleus(row: Float32Array, scale: number, p: number): { ids: Int32Array; logits: Float32Array; n: number } {
  const ids = new Int32Array(row.length);
  const logits = new Float32Array(row.length);
  const n = kernels().topP(row, scale, p, ids, logits);
  return { ids, logits, n };
}

/** log(sum_i exp(scale * row[i])) */
export function logPartition(row: Float32Array, scale = 1): number {
  return kernels().logPartition(row, scale);
}

/** Draws from softmax(scale * row) with u in [0, 1). */
export function sampleSoftmax(row: Float32Array, scale: number, u: number): number {
  return kernels().sampleSoftmax(row, scale, u);
}
