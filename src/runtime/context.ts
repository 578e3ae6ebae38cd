import type { NativeContext, NativeContextState } from './addon.js';
import type { Batch } from './batch.js';
import { closedError, RuntimeError } from './errors.js';

export interface DecodeOptions {
  /** Aborting stops a long prefill between ubatches; decode then rejects with code ERR_ABORTED. */
  signal?: AbortSignal;
  /**
   * Write the logits here instead of into a new buffer (outputs x nVocab floats at least): a
   * caller that decodes every few milliseconds reuses one buffer instead of allocating
   * megabytes each step. The result is a view of it, valid until `out` is written again; do not
   * touch `out` until the decode settles.
   */
  out?: Float32Array;
}

/** Logits of the positions a batch flagged: `rows` x `nVocab`, in batch order. */
export class Logits {
  constructor(
    readonly data: Float32Array,
    readonly nVocab: number,
  ) {}

  get rows(): number {
    return this.data.length / this.nVocab;
  }

  /** Row i as a view (no copy). */
  row(i: number): Float32Array {
    if (!Number.isInteger(i) || i < 0 || i >= this.rows) throw new RangeError(`row ${i} is outside 0..${this.rows - 1}`);
    return this.data.subarray(i * this.nVocab, (i + 1) * this.nVocab);
  }
}

/**
 * A KV cache shared by several sequences. One decode runs at a time; sequence operations and
 * close() wait for nothing and throw ERR_BUSY while one runs, except close(), which waits.
 */
export class Context {
  private native: NativeContext | null;
  private running: Promise<unknown> | null = null;

  /** @internal */
  constructor(
    native: NativeContext,
    readonly nVocab: number,
    private readonly onClose: (c: Context) => void,
  ) {
    this.native = native;
  }

  get closed(): boolean {
    return this.native === null;
  }

  private live(): NativeContext {
    if (!this.native) throw closedError('context');
    return this.native;
  }

  async decode(batch: Batch, options: DecodeOptions = {}): Promise<Logits> {
    const ctx = this.live();
    const { signal } = options;
    if (signal?.aborted) throw new RuntimeError('ERR_ABORTED', 'decode was aborted before it started');
    const a = batch.arrays();
    // started first (it may throw at once, e.g. ERR_BUSY), then the listener, which every path
    // below removes: a caller's long-lived signal must not collect one listener per decode
    const p = options.out ? ctx.decode(a.tokens, a.pos, a.seq, a.output, options.out) : ctx.decode(a.tokens, a.pos, a.seq, a.output);
    this.running = p;
    const onAbort = () => ctx.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return new Logits(await p, this.nVocab);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (this.running === p) this.running = null;
    }
  }

  seqRemove(seq: number, p0 = 0, p1 = -1): void {
    this.live().seqRemove(seq, p0, p1);
  }

  seqCopy(src: number, dst: number, p0 = 0, p1 = -1): void {
    this.live().seqCopy(src, dst, p0, p1);
  }

  /**
   * A copy of seq's cached rows of positions [p0, p1), for seqRestore() (a request swapped out
   * of the cache); slidingOnly: the sliding-window layers' rows only (a window kept for reuse).
   */
  seqSave(seq: number, p0: number, p1: number, slidingOnly = false): Uint8Array {
    return this.live().seqSave(seq, p0, p1, slidingOnly);
  }

  /** Puts positions saved by seqSave() back as p0, p0 + 1, ... of seq. */
  seqRestore(seq: number, p0: number, data: Uint8Array): void {
    this.live().seqRestore(seq, p0, data);
  }

  seqPosMax(seq: number): number {
    return this.live().seqPosMax(seq);
  }

  /** See NativeContext.seqWindowFrom. */
  seqWindowFrom(seq: number): number {
    return this.live().seqWindowFrom(seq);
  }

  clear(): void {
    this.live().clear();
  }

  state(): NativeContextState {
    return this.live().state();
  }

  /** Waits for a running decode to finish, then frees the cache. Safe to call twice. */
  async close(): Promise<void> {
    if (!this.native) return;
    while (this.running) await this.running.catch(() => undefined);
    if (!this.native) return;
    this.native.close();
    this.native = null;
    this.onClose(this);
  }
}
