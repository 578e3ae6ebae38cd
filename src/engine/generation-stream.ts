import type { SampledToken } from '../sampling/sampler.js';
import { EngineError } from './errors.js';

export type FinishReason = 'stop' | 'length';

/** Text and tokens generated since the previous chunk (text may be '' while held back). */
export interface GenerationChunk {
  text: string;
  tokens: SampledToken[];
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** prompt tokens whose KV entries were reused from another sequence instead of computed */
  cachedPromptTokens: number;
}

export interface GenerationResult {
  text: string;
  tokens: SampledToken[];
  /** 'stop': an end token or a stop string; 'length': max tokens or the context is full */
  finishReason: FinishReason;
  /** what stopped it: the end token's id or the stop string */
  stoppedBy?: { token: number } | { string: string };
  usage: Usage;
  /** the seed the sampler used (the request's, or a random one) */
  seed: number;
  timings: {
    /** submit to the first prefill step */
    queuedMs: number;
    /** submit to the first generated token */
    timeToFirstTokenMs: number;
    totalMs: number;
  };
}

/**
 * A running generation, as its consumer sees it: an async iterator of chunks and a promise of the
 * result. Chunks that arrive while the consumer is busy are merged into one. Leaving a for-await
 * loop early (break, return, throw) cancels the generation.
 */
export class GenerationStream implements AsyncIterable<GenerationChunk> {
  readonly result: Promise<GenerationResult>;
  private resolveResult!: (r: GenerationResult) => void;
  private rejectResult!: (e: unknown) => void;
  private readonly queue: GenerationChunk[] = [];
  private waiter: (() => void) | null = null;
  private finished = false;
  private error: unknown = null;
  private iterated = false;

  constructor(
    private readonly cancel: () => void,
    /** false: nobody will iterate; chunks are not kept */
    private readonly keepChunks = true,
  ) {
    this.result = new Promise((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    // a consumer that only iterates must not get an unhandled rejection from `result`
    this.result.catch(() => undefined);
  }

  /** @internal */
  push(chunk: GenerationChunk): void {
    if (this.finished || !this.keepChunks) return;
    this.queue.push(chunk);
    this.wake();
  }

  /** @internal */
  end(result: GenerationResult): void {
    if (this.finished) return;
    this.finished = true;
    this.resolveResult(result);
    this.wake();
  }

  /** @internal */
  fail(err: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.error = err;
    this.rejectResult(err);
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<GenerationChunk> {
    if (this.iterated) throw new EngineError('ERR_INVALID_ARG', 'a generation stream can be iterated only once');
    this.iterated = true;
    return {
      next: async (): Promise<IteratorResult<GenerationChunk>> => {
        while (this.queue.length === 0 && !this.finished) await new Promise<void>((r) => (this.waiter = r));
        if (this.queue.length > 0) {
          const chunks = this.queue.splice(0);
          if (chunks.length === 1) return { done: false, value: chunks[0]! };
          return { done: false, value: { text: chunks.map((c) => c.text).join(''), tokens: chunks.flatMap((c) => c.tokens) } };
        }
        if (this.error) throw this.error;
        return { done: true, value: undefined };
      },
      return: async (): Promise<IteratorResult<GenerationChunk>> => {
        if (!this.finished) this.cancel();
        return { done: true, value: undefined };
      },
    };
  }
}
