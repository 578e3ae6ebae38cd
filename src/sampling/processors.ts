import { argmax, Candidates, logPartition, nucleus, rowMax, selectAtLeast, topKOfRow } from './candidates.js';

/**
 * Logits processors, applied in this fixed order (see Sampler):
 *   1. LogitBias          row, in place (sparse)
 *   2. Penalties          row, in place (sparse: only tokens seen)
 *   3. Temperature        candidates (a factor, no rewrite)
 *   4. TopK               candidates → list of k
 *   5. TopP               candidates → nucleus
 *   6. MinP               candidates → those >= min_p * best
 * Row processors change the logits a token has; candidate processors choose which tokens remain.
 */

/** Tokens a request has seen, kept up to date as it generates, for the penalties. */
export class TokenHistory {
  /** prompt and output tokens (repetition penalty) */
  readonly seen = new Set<number>();
  /** output tokens and how often each came (presence and frequency penalties) */
  readonly outputCounts = new Map<number, number>();

  constructor(prompt: Iterable<number> = []) {
    for (const t of prompt) this.seen.add(t);
  }

  push(token: number): void {
    this.seen.add(token);
    this.outputCounts.set(token, (this.outputCounts.get(token) ?? 0) + 1);
  }
}

export interface RowProcessor {
  apply(row: Float32Array, history: TokenHistory): void;
}

export interface CandidateProcessor {
  apply(c: Candidates): void;
}

/** OpenAI logit_bias: adds a fixed amount to chosen tokens' logits. */
export class LogitBias implements RowProcessor {
  constructor(private readonly bias: ReadonlyMap<number, number>) {}
  apply(row: Float32Array): void {
    for (const [id, b] of this.bias) row[id] = row[id]! + b;
  }
}

/**
 * Repetition penalty (CTRL, as HF and llama.cpp apply it: positive logits divided, negative ones
 * multiplied) over prompt and output; then OpenAI's presence and frequency penalties over the
 * output only (as vLLM does): logit -= presence * [count > 0] + frequency * count.
 */
export class Penalties implements RowProcessor {
  constructor(
    private readonly repetition: number,
    private readonly presence: number,
    private readonly frequency: number,
  ) {}

  apply(row: Float32Array, history: TokenHistory): void {
    const r = this.repetition;
    if (r !== 1) {
      for (const id of history.seen) {
        const l = row[id]!;
        row[id] = l > 0 ? l / r : l * r;
      }
    }
    if (this.presence !== 0 || this.frequency !== 0) {
      for (const [id, count] of history.outputCounts) row[id] = row[id]! - this.presence - this.frequency * count;
    }
  }
}

export class Temperature implements CandidateProcessor {
  constructor(private readonly t: number) {}
  apply(c: Candidates): void {
    c.invTemp = 1 / this.t;
  }
}

export class TopK implements CandidateProcessor {
  constructor(private readonly k: number) {}
  apply(c: Candidates): void {
    if (this.k <= 0 || this.k >= c.size) return;
    if (c.full) {
      const { ids, logits } = topKOfRow(c.row, this.k);
      c.setList(ids, logits, ids.length, true);
    } else {
      c.sortList();
      c.truncate(this.k);
    }
  }
}

/** Nucleus: the most likely tokens whose probabilities (at this temperature) sum to at least p. */
export class TopP implements CandidateProcessor {
  constructor(private readonly p: number) {}

  apply(c: Candidates): void {
    if (this.p >= 1) return;
    if (c.full) {
      // A trained model's nucleus is usually a few tokens: try the best 64 against the full
      // normaliser first; only a flat distribution needs the native mass histogram.
      const logZ = logPartition(c.row, c.invTemp);
      const top = topKOfRow(c.row, Math.min(64, c.row.length));
      let mass = 0;
      for (let i = 0; i < top.ids.length; i++) {
        mass += Math.exp(top.logits[i]! * c.invTemp - logZ);
        if (mass >= this.p) {
          c.setList(top.ids, top.logits, i + 1, true);
          return;
        }
      }
      const { ids, logits, n } = nucleus(c.row, c.invTemp, this.p);
      c.setList(ids, logits, n, false);
      return;
    }
    c.sortList();
    const probs = c.listProbs();
    let mass = 0;
    for (let i = 0; i < c.n; i++) {
      mass += probs[i]!;
      if (mass >= this.p) {
        c.truncate(i + 1);
        return;
      }
    }
  }
}

/** Keeps tokens with probability >= min_p * (probability of the best token). */
export class MinP implements CandidateProcessor {
  constructor(private readonly minP: number) {}

  apply(c: Candidates): void {
    if (this.minP <= 0) return;
    // p_i / p_max >= min_p  <=>  (l_i - l_max) * invTemp >= ln(min_p)
    const cut = Math.log(this.minP) / c.invTemp;
    if (c.full) {
      const { ids, logits, n } = selectAtLeast(c.row, rowMax(c.row) + cut);
      if (n > 0) c.setList(ids, logits, n, false);
      else c.setList(Int32Array.of(argmax(c.row)), Float32Array.of(c.row[argmax(c.row)]!), 1, true); // a row of NaN
      return;
    }
    let max = -Infinity;
    for (let i = 0; i < c.n; i++) if (c.logits[i]! > max) max = c.logits[i]!;
    const threshold = max + cut;
    let j = 0;
    for (let i = 0; i < c.n; i++) {
      if (c.logits[i]! >= threshold) {
        c.ids[j] = c.ids[i]!;
        c.logits[j++] = c.logits[i]!;
      }
    }
    c.n = Math.max(j, 1); // order is kept, so a sorted list stays sorted; a list of NaN keeps one
  }
}
