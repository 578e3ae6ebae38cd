// What one request produces, apart from where its cells are: its tokens, the text they make
// (UTF-8 safe, stop strings held back), the stop checks, and its result. The scheduler
// (scheduler.ts) decides what is computed when; this turns each sampled token into output, as
// vLLM splits its scheduler from its output processor.
import type { SamplingParams } from '../sampling/options.js';
import { type SampledToken, Sampler } from '../sampling/sampler.js';
import { type FinishReason, GenerationStream, type GenerationResult } from './generation-stream.js';
import { TextStream } from './text-stream.js';

/** What it takes from a tokenizer to turn tokens into text. */
export interface TokenText {
  tokenBytes(id: number): Uint8Array;
  isSpecial(id: number): boolean;
}

export interface JobSpec {
  /** prompt token ids (BOS included where the model wants one) */
  prompt: readonly number[];
  /** stop after this many generated tokens (default: until a stop or the context is full) */
  maxTokens?: number;
  sampling: SamplingParams;
  /** stop strings; the text before one is returned, the string itself is not */
  stop?: readonly string[];
  /** token ids that end the generation (EOS, <end_of_turn>); never part of the text */
  stopTokens: ReadonlySet<number>;
  signal?: AbortSignal;
  /** false when nobody will iterate the stream (chat() rather than chatStream()) */
  stream?: boolean;
}

export interface Done {
  reason: FinishReason;
  stoppedBy?: GenerationResult['stoppedBy'];
}

export class RequestOutput {
  /** prompt, then each generated token */
  readonly tokens: number[];
  readonly promptLength: number;
  readonly sampler: Sampler;
  readonly text: TextStream;
  readonly stream: GenerationStream;
  readonly out: SampledToken[] = [];
  textSoFar = '';
  /** prompt tokens taken over from the KV cache instead of computed */
  cachedPromptTokens = 0;
  readonly submittedAt = performance.now();
  startedAt = 0;
  firstTokenAt = 0;

  constructor(
    readonly spec: JobSpec,
    cancel: () => void,
  ) {
    this.tokens = [...spec.prompt];
    this.promptLength = spec.prompt.length;
    this.sampler = new Sampler(spec.sampling, spec.prompt);
    this.text = new TextStream(spec.stop ?? []);
    this.stream = new GenerationStream(cancel, spec.stream !== false);
  }

  /**
   * A sampled token: its text goes to the stream (held back while it may be part of a stop
   * string); returns how the request ended when this token ends it (an end token, a stop string,
   * max_tokens, or a context of nCtx cells full).
   */
  accept(t: SampledToken, tokens: TokenText, nCtx: number): Done | null {
    if (!this.firstTokenAt) this.firstTokenAt = performance.now();
    this.tokens.push(t.id);
    this.out.push(t);
    const { spec } = this;
    if (spec.stopTokens.has(t.id)) {
      const tail = this.text.finish();
      this.textSoFar += tail;
      this.stream.push({ text: tail, tokens: [t] });
      return { reason: 'stop', stoppedBy: { token: t.id } };
    }
    const piece = this.text.push(tokens.isSpecial(t.id) ? new Uint8Array(0) : tokens.tokenBytes(t.id));
    this.textSoFar += piece.text;
    if (piece.stop !== undefined) {
      this.stream.push({ text: piece.text, tokens: [t] });
      return { reason: 'stop', stoppedBy: { string: piece.stop } };
    }
    const generated = this.tokens.length - this.promptLength;
    // the next step would feed this token at position tokens.length - 1
    const full = this.tokens.length > nCtx;
    if ((spec.maxTokens !== undefined && generated >= spec.maxTokens) || full) {
      const tail = this.text.finish();
      this.textSoFar += tail;
      this.stream.push({ text: piece.text + tail, tokens: [t] });
      return { reason: 'length' };
    }
    this.stream.push({ text: piece.text, tokens: [t] });
    return null;
  }

  /** The whole result, once the request has ended. */
  result(reason: FinishReason, stoppedBy?: GenerationResult['stoppedBy']): GenerationResult {
    const now = performance.now();
    const completion = this.tokens.length - this.promptLength;
    return {
      text: this.textSoFar,
      tokens: this.out,
      finishReason: reason,
      ...(stoppedBy ? { stoppedBy } : {}),
      usage: {
        promptTokens: this.promptLength,
        completionTokens: completion,
        totalTokens: this.promptLength + completion,
        cachedPromptTokens: this.cachedPromptTokens,
      },
      seed: this.sampler.seed,
      timings: {
        queuedMs: this.startedAt - this.submittedAt,
        timeToFirstTokenMs: this.firstTokenAt - this.submittedAt,
        totalMs: now - this.submittedAt,
      },
    };
  }
}
