import { argmax, Candidates, logPartition, sampleSoftmax, topKOfRow } from './candidates.js';
import type { SamplingParams } from './options.js';
import {
  type CandidateProcessor,
  LogitBias,
  MinP,
  Penalties,
  type RowProcessor,
  Temperature,
  TokenHistory,
  TopK,
  TopP,
} from './processors.js';
import { randomSeed, Rng } from './rng.js';

export interface TokenLogprob {
  id: number;
  logprob: number;
}

export interface SampledToken {
  id: number;
  /** log-probability of `id` under the model's own distribution (before any processor) */
  logprob?: number;
  /** the most likely tokens under that distribution, best first */
  top?: TokenLogprob[];
}

/**
 * Temperatures below this are greedy, as vLLM treats them (its _SAMPLING_EPS): 1 / t would
 * overflow the logits' float range long before it changed which token wins.
 */
export const GREEDY_BELOW = 1e-5;

/** Log-probabilities are clamped here, as vLLM clamps them: JSON has no -Infinity. */
export const MIN_LOGPROB = -9999;

/** log p of a logit x given the row's log-partition lse, never NaN (see MIN_LOGPROB). */
export function logprobOf(x: number, lse: number): number {
  const lp = x - lse;
  if (Number.isNaN(lp)) return x === Infinity ? 0 : MIN_LOGPROB; // inf - inf; a NaN logit
  return Math.max(lp, MIN_LOGPROB);
}

/**
 * One request's sampler: the processors in their fixed order (processors.ts), then a draw from
 * the request's own seeded generator, or argmax below GREEDY_BELOW. Logprobs describe the model's
 * raw distribution, as vLLM reports them, so they do not change with the sampling settings.
 */
export class Sampler {
  readonly history: TokenHistory;
  readonly seed: number;
  private readonly rng: Rng;
  private readonly rowProcessors: RowProcessor[] = [];
  private readonly candidateProcessors: CandidateProcessor[] = [];
  private readonly greedy: boolean;

  constructor(
    private readonly params: SamplingParams,
    prompt: readonly number[] = [],
  ) {
    this.seed = params.seed ?? randomSeed();
    this.rng = new Rng(this.seed);
    const needsSeen = params.repetitionPenalty !== 1;
    this.history = new TokenHistory(needsSeen ? prompt : []);
    if (params.logitBias.size) this.rowProcessors.push(new LogitBias(params.logitBias));
    if (params.repetitionPenalty !== 1 || params.presencePenalty !== 0 || params.frequencyPenalty !== 0) {
      this.rowProcessors.push(new Penalties(params.repetitionPenalty, params.presencePenalty, params.frequencyPenalty));
    }
    this.greedy = params.temperature < GREEDY_BELOW;
    if (!this.greedy) {
      this.candidateProcessors.push(new Temperature(params.temperature));
      if (params.topK > 0) this.candidateProcessors.push(new TopK(params.topK));
      if (params.topP < 1) this.candidateProcessors.push(new TopP(params.topP));
      if (params.minP > 0) this.candidateProcessors.push(new MinP(params.minP));
    }
  }

  /**
   * Picks the next token from a logits row. The row is modified in place (it is this step's
   * scratch copy from the runtime); the token is added to the history.
   */
  sample(row: Float32Array): SampledToken {
    let raw: Float32Array | undefined;
    if (this.params.logprobs) raw = row.slice();
    for (const p of this.rowProcessors) p.apply(row, this.history);

    let id: number;
    if (this.greedy) {
      id = argmax(row);
    } else {
      const c = new Candidates(row);
      for (const p of this.candidateProcessors) p.apply(c);
      id = draw(c, this.rng.next());
    }
    this.history.push(id);

    if (!raw) return { id };
    const lse = logPartition(raw, 1);
    const out: SampledToken = { id, logprob: logprobOf(raw[id]!, lse) };
    if (this.params.topLogprobs > 0) {
      const top = topKOfRow(raw, this.params.topLogprobs);
      out.top = Array.from(top.ids, (t, i) => ({ id: t, logprob: logprobOf(top.logits[i]!, lse) }));
    }
    return out;
  }
}

/** Draws from the candidates' distribution with u in [0, 1). */
export function draw(c: Candidates, u: number): number {
  if (!c.full) {
    if (c.n <= 1) return c.n === 1 ? c.ids[0]! : argmax(c.row);
    // a long list (a wide nucleus): the native loop over its logits
    if (c.n > 1024) return c.ids[sampleSoftmax(c.logits.subarray(0, c.n), c.invTemp, u)]!;
    const probs = c.listProbs();
    let acc = 0;
    for (let i = 0; i < c.n; i++) {
      acc += probs[i]!;
      if (u < acc) return c.ids[i]!;
    }
    return c.ids[c.n - 1]!; // rounding: u beyond the summed mass
  }
  return sampleSoftmax(c.row, c.invTemp, u);
}
