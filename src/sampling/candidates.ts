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
    order.sort((a, b) => logits[b]! - logits[a]! || ids[a]! - ids[b]!);
    const ids2 = new Int32Array(this.n);
    const logits2 = new Float32Array(this.n);
    for (let i = 0; i < this.n; i++) {
      ids2[i] = ids[order[i]!]!;
      logits2[i] = logits[order[i]!]!;
    }
    this.setList(ids2, logits2, this.n, true);
  }

  /** Softmax of a list at the current temperature (Float64 so long tails sum exactly enough). */
  listProbs(): Float64Array {
    const { logits, n, invTemp } = this;
    let max = -Infinity;
    for (let i = 0; i < n; i++) if (logits[i]! > max) max = logits[i]!;
    const p = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += p[i] = Math.exp((logits[i]! - max) * invTemp);
    for (let i = 0; i < n; i++) p[i]! /= sum;
    return p;
  }
}

/** Max of a row. */
export function rowMax(row: Float32Array): number {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > m) m = row[i]!;
  return m;
}

/** Index of the largest value (the lowest index on ties, as llama.cpp's greedy sampler). */
export function argmax(row: Float32Array): number {
  let best = 0;
  let m = row[0]!;
  for (let i = 1; i < row.length; i++) {
    if (row[i]! > m) {
      m = row[i]!;
      best = i;
    }
  }
  return best;
}

/**
 * The k largest entries of a row, in descending order (ties: lower id first), in one pass with a
 * min-heap of k: a 262k row costs about one comparison per entry.
 */
export function topKOfRow(row: Float32Array, k: number): { ids: Int32Array; logits: Float32Array } {
  k = Math.min(k, row.length);
  const hv = new Float32Array(k);
  const hi = new Int32Array(k);
  // worse(a, b): a ranks below b (smaller value, or equal value and larger id)
  const below = (va: number, ia: number, vb: number, ib: number) => va < vb || (va === vb && ia > ib);
  let size = 0;
  const siftDown = (pos: number) => {
    const v = hv[pos]!;
    const id = hi[pos]!;
    for (;;) {
      let c = 2 * pos + 1;
      if (c >= size) break;
      if (c + 1 < size && below(hv[c + 1]!, hi[c + 1]!, hv[c]!, hi[c]!)) c++;
      if (!below(hv[c]!, hi[c]!, v, id)) break;
      hv[pos] = hv[c]!;
      hi[pos] = hi[c]!;
      pos = c;
    }
    hv[pos] = v;
    hi[pos] = id;
  };
  for (let i = 0; i < row.length; i++) {
    const v = row[i]!;
    if (size < k) {
      // sift up
      let pos = size++;
      while (pos > 0) {
        const parent = (pos - 1) >> 1;
        if (!below(v, i, hv[parent]!, hi[parent]!)) break;
        hv[pos] = hv[parent]!;
        hi[pos] = hi[parent]!;
        pos = parent;
      }
      hv[pos] = v;
      hi[pos] = i;
    } else if (v > hv[0]!) {
      // strictly greater only: on a tie the earlier (lower) id already in the heap stays
      hv[0] = v;
      hi[0] = i;
      siftDown(0);
    }
  }
  // pop into descending order
  const ids = new Int32Array(k);
  const logits = new Float32Array(k);
  for (let out = k - 1; out >= 0; out--) {
    ids[out] = hi[0]!;
    logits[out] = hv[0]!;
    size--;
    hv[0] = hv[size]!;
    hi[0] = hi[size]!;
    siftDown(0);
  }
  return { ids, logits };
}
