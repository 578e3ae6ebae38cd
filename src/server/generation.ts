// Starting the n choices of a request and reading them back, for both completion endpoints.
import type { GenerationChunk, GenerationResult, GenerationStream } from '../engine/generation-stream.js';
import type { CompletionPrompt, GenerateOptions, LanguageModel } from '../engine/language-model.js';
import type { ChatMessageInput } from '../chat/messages.js';

export type Input = { messages: readonly ChatMessageInput[] } | { prompt: CompletionPrompt };

export interface Choice {
  index: number;
  stream: GenerationStream;
}

/**
 * Starts every choice before answering, so that a request error (bad option, prompt too long,
 * queue full) becomes a status code rather than a broken stream. Each input is checked, rendered
 * and tokenized once (LanguageModel.prepare), whatever n; every input before any choice starts.
 * Choice index = input * n + i; with a seed, choice i of each input uses seed + i, so choice 0 is
 * what the same request with n = 1 gives. If one fails to start, the ones started are cancelled.
 */
export async function startChoices(model: LanguageModel, inputs: readonly Input[], n: number, options: GenerateOptions,
  stream: boolean, cancelAll: () => void): Promise<Choice[]> {
  const prepared = [];
  for (const input of inputs) prepared.push(await model.prepare(input, options));
  const choices: Choice[] = [];
  try {
    for (let p = 0; p < prepared.length; p++) {
      for (let i = 0; i < n; i++) {
        const seed = options.seed === undefined ? undefined : options.seed + i;
        const s = await model.startPrepared(prepared[p]!, { stream, ...(seed === undefined ? {} : { seed }), ...(options.signal ? { signal: options.signal } : {}) });
        choices.push({ index: p * n + i, stream: s });
      }
    }
    return choices;
  } catch (err) {
    cancelAll();
    for (const c of choices) c.stream.result.catch(() => undefined);
    throw err;
  }
}

export type MergedEvent = { index: number; chunk: GenerationChunk } | { index: number; result: GenerationResult };

/**
 * The chunks of all choices as they come (interleaved, each tagged with its index), and each
 * choice's result right after its last chunk. Leaving early cancels the choices still running.
 */
export async function* mergeChoices(choices: readonly Choice[]): AsyncGenerator<MergedEvent> {
  type Step = { index: number; r?: IteratorResult<GenerationChunk>; err?: unknown };
  const iters = new Map(choices.map((c) => [c.index, c.stream[Symbol.asyncIterator]()]));
  const streams = new Map(choices.map((c) => [c.index, c.stream]));
  // a step never rejects: a rejection left in the map after an early exit would be unhandled
  const step = (index: number): Promise<Step> =>
    iters.get(index)!.next().then((r) => ({ index, r }), (err: unknown) => ({ index, err }));
  const pending = new Map<number, Promise<Step>>(choices.map((c) => [c.index, step(c.index)]));
  try {
    while (pending.size) {
      const s = await Promise.race(pending.values());
      if (s.err !== undefined) throw s.err;
      if (s.r!.done) {
        pending.delete(s.index);
        iters.delete(s.index);
        yield { index: s.index, result: await streams.get(s.index)!.result };
      } else {
        pending.set(s.index, step(s.index));
        yield { index: s.index, chunk: s.r!.value };
      }
    }
  } finally {
    for (const it of iters.values()) await it.return?.();
  }
}

/** OpenAI's usage: each input's prompt counted once, every choice's generated tokens. */
export function usageOf(results: readonly GenerationResult[], n: number) {
  let prompt = 0;
  let cached = 0;
  let completion = 0;
  results.forEach((r, i) => {
    if (i % n === 0) {
      prompt += r.usage.promptTokens;
      cached += r.usage.cachedPromptTokens;
    }
    completion += r.usage.completionTokens;
  });
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: cached },
  };
}
