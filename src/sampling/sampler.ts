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
 * One request's sampler: the processors in their fixed order (processors.ts), then a draw from
 * the request's own seeded generator, or argmax at temperature 0. Logprobs describe the model's
 * raw distribution, as vLLM reports them, so they do not change with the sampling settings.
 */
export class Sampler {
  readonly history: TokenHistory;
  readonly seed: number;
  private readonly rng: Rng;
  private readonly rowProcessors: RowProcessor[] = [];
  private readonly candidateProcessors: CandidateProcessor[] = [];

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
    if (params.temperature > 0) {
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
    if (this.params.temperature === 0) {
      id = argmax(row);
    } else {
      const c = new Candidates(row);
      for (const p of this.candidateProcessors) p.apply(c);
      id = draw(c, this.rng.next());
    }
    this.history.push(id);

    if (!raw) return { id };
    const lse = logPartition(raw, 1);
    const out: SampledToken = { id, logprob: raw[id]! - lse };
    if (this.params.topLogprobs > 0) {
      const top = topKOfRow(raw, this.params.topLogprobs);
      out.top = Array.from(top.ids, (t, i) => ({ id: t, logprob: top.logits[i]! - lse }));
    }
    return out;
  }
}

/** Draws from the candidates' distribution with u in [0, 1). */
export function draw(c: Candidates, u: number): number {
  if (!c.full) {
    if (c.n === 1) return c.ids[0]!;
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
