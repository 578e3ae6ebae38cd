import { invalidArg } from '../errors.js';

/** What a request may ask of the sampler. Every field is checked; none is silently ignored. */
export interface SamplingOptions {
  /** 0 = greedy (argmax). Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens; 0 = off (default). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p; 1 = off (default). */
  topP?: number;
  /** Drop tokens less likely than min_p times the most likely one; 0 = off (default). */
  minP?: number;
  /** CTRL-style penalty on tokens seen in the prompt or output (>1 discourages); 1 = off. */
  repetitionPenalty?: number;
  /** OpenAI presence penalty on tokens already generated, -2..2; 0 = off. */
  presencePenalty?: number;
  /** OpenAI frequency penalty, per occurrence in the generated tokens, -2..2; 0 = off. */
  frequencyPenalty?: number;
  /** Added to the logits of these token ids, -100..100 (-100 bans, 100 forces). */
  logitBias?: Readonly<Record<number | string, number>>;
  /** Seeds the request's own generator: same seed, same prompt, same options → same tokens. */
  seed?: number;
  /** Return the log-probability of each chosen token. */
  logprobs?: boolean;
  /** Also return the N most likely alternatives at each step (0..20; needs logprobs). */
  topLogprobs?: number;
}

/** SamplingOptions checked and filled with defaults. */
export interface SamplingParams {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repetitionPenalty: number;
  presencePenalty: number;
  frequencyPenalty: number;
  logitBias: ReadonlyMap<number, number>;
  seed: number | undefined;
  logprobs: boolean;
  topLogprobs: number;
}

/** logit_bias is applied to every token's logits: it may name at most this many tokens. */
export const MAX_LOGIT_BIAS = 1024;

function num(value: unknown, param: string, dflt: number, ok: (v: number) => boolean, range: string): number {
  if (value === undefined || value === null) return dflt;
  if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value)) {
    throw invalidArg(param, `must be ${range}, not ${JSON.stringify(value) ?? String(value)}`);
  }
  return value;
}

/** Validates options against a vocabulary of nVocab tokens; throws EngineError ERR_INVALID_ARG. */
export function samplingParams(o: SamplingOptions, nVocab: number): SamplingParams {
  const temperature = num(o.temperature, 'temperature', 1, (v) => v >= 0, 'a number >= 0');
  const topK = num(o.topK, 'top_k', 0, (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0 (0 turns it off)');
  const topP = num(o.topP, 'top_p', 1, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  const minP = num(o.minP, 'min_p', 0, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  const repetitionPenalty = num(o.repetitionPenalty, 'repetition_penalty', 1, (v) => v > 0, 'a number > 0');
  const presencePenalty = num(o.presencePenalty, 'presence_penalty', 0, (v) => v >= -2 && v <= 2, 'a number in [-2, 2]');
  const frequencyPenalty = num(o.frequencyPenalty, 'frequency_penalty', 0, (v) => v >= -2 && v <= 2, 'a number in [-2, 2]');
  const seed = o.seed === undefined || o.seed === null ? undefined
    : num(o.seed, 'seed', 0, (v) => Number.isSafeInteger(v), 'a safe integer');
  if (o.logprobs !== undefined && typeof o.logprobs !== 'boolean') throw invalidArg('logprobs', 'must be a boolean');
  const topLogprobs = num(o.topLogprobs, 'top_logprobs', 0, (v) => Number.isInteger(v) && v >= 0 && v <= 20, 'an integer in [0, 20]');
  if (topLogprobs > 0 && o.logprobs !== true) throw invalidArg('top_logprobs', 'needs logprobs: true');

  const logitBias = new Map<number, number>();
  if (o.logitBias !== undefined && o.logitBias !== null) {
    if (typeof o.logitBias !== 'object' || Array.isArray(o.logitBias)) {
      throw invalidArg('logit_bias', 'must be an object mapping token ids to biases');
    }
    const entries = Object.entries(o.logitBias);
    if (entries.length > MAX_LOGIT_BIAS) throw invalidArg('logit_bias', `may name at most ${MAX_LOGIT_BIAS} tokens, not ${entries.length}`);
    for (const [key, bias] of entries) {
      const id = Number(key);
      if (!/^\d+$/.test(key) || id >= nVocab) {
        throw invalidArg('logit_bias', `has key '${key}', which is not a token id in [0, ${nVocab - 1}]`);
      }
      if (typeof bias !== 'number' || !Number.isFinite(bias) || bias < -100 || bias > 100) {
        throw invalidArg('logit_bias', `for token ${key} must be a number in [-100, 100], not ${JSON.stringify(bias)}`);
      }
      logitBias.set(id, bias);
    }
  }
  return {
    temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty, logitBias, seed,
    logprobs: o.logprobs === true, topLogprobs,
  };
}
