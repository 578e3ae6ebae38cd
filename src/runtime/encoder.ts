import type { GgufMetadataValue, NativeEncoder, NativeEncoderInfo, NativeEncoderOptions } from './addon.js';
import { closedError, RuntimeError } from './errors.js';
import { native } from './native.js';

export type EncoderOptions = NativeEncoderOptions;

/**
 * An encoder (bert, nomic-bert: a GGUF or an HF directory) and the context that runs it: token
 * ids in, one pooled vector per input out (not normalized), or a reranker's scores. One encode
 * at a time (ERR_BUSY otherwise).
 */
export class Encoder {
  private native: NativeEncoder | null;
  private running: Promise<unknown> | null = null;
  readonly info: NativeEncoderInfo;

  private constructor(n: NativeEncoder, readonly path: string) {
    this.native = n;
    this.info = n.info();
  }

  /** Loads and validates the file off the JS thread; a bad file rejects with ERR_BAD_MODEL_FILE. */
  static async open(path: string, options: EncoderOptions = {}): Promise<Encoder> {
    const { threads, nUbatch } = options;
    for (const [name, v] of [['threads', threads], ['nUbatch', nUbatch]] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new RangeError(`${name} must be a positive integer, not ${v}`);
    }
    return new Encoder(await native().loadEncoder(path, options), path);
  }

  get closed(): boolean {
    return this.native === null;
  }

  private live(): NativeEncoder {
    if (!this.native) throw closedError('encoder');
    return this.native;
  }

  metadata(): Record<string, GgufMetadataValue> {
    return this.live().metadata();
  }

  /**
   * One vector (a view of nOut floats: nEmbd, or a reranker's scores) per input, in input order.
   * `types`: each input's token types (a cross-encoder's second segment is type 1); default all 0.
   */
  async encode(inputs: ReadonlyArray<ArrayLike<number>>, options: { signal?: AbortSignal; types?: ReadonlyArray<ArrayLike<number>> } = {}): Promise<Float32Array[]> {
    const enc = this.live();
    const { signal } = options;
    if (signal?.aborted) throw new RuntimeError('ERR_ABORTED', 'encoding was aborted before it started');
    const int32 = (x: ArrayLike<number>) => (x instanceof Int32Array ? x : Int32Array.from(x));
    const p = options.types ? enc.encode(inputs.map(int32), options.types.map(int32)) : enc.encode(inputs.map(int32));
    this.running = p;
    const onAbort = () => enc.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const flat = await p;
      const E = this.info.nOut;
      return inputs.map((_, i) => flat.subarray(i * E, (i + 1) * E));
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (this.running === p) this.running = null;
    }
  }

  /** Waits for a running encode to finish, then frees the model. Safe to call twice. */
  async close(): Promise<void> {
    if (!this.native) return;
    const n = this.native;
    this.native = null;
    await this.running?.catch(() => undefined);
    n.close();
  }
}

export const openEncoder = Encoder.open;
