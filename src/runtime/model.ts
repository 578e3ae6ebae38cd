import type { GgufMetadataValue, NativeContextOptions, NativeModel, NativeModelInfo } from './addon.js';
import { Context } from './context.js';
import { closedError } from './errors.js';
import { native } from './native.js';

export interface OpenModelOptions {
  /** Compute threads for contexts of this model (default: physical cores). */
  threads?: number;
}

export type ContextOptions = NativeContextOptions;

/** A GGUF model loaded by the native runtime. Weights stay mmap'd; nothing is copied. */
export class Model {
  private native: NativeModel | null;
  private readonly contexts = new Set<Context>();
  readonly info: NativeModelInfo;

  private constructor(
    native: NativeModel,
    readonly path: string,
    private readonly threads: number | undefined,
  ) {
    this.native = native;
    this.info = native.info();
  }

  /** Loads and validates a GGUF file off the JS thread. A bad file rejects with ERR_BAD_MODEL_FILE. */
  static async open(path: string, options: OpenModelOptions = {}): Promise<Model> {
    const { threads } = options;
    if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
      throw new RangeError(`threads must be a positive integer, not ${threads}`);
    }
    return new Model(await native().loadModel(path), path, threads);
  }

  get closed(): boolean {
    return this.native === null;
  }

  private live(): NativeModel {
    if (!this.native) throw closedError('model');
    return this.native;
  }

  /** Every GGUF metadata entry (tokenizer arrays and chat template included). */
  metadata(): Record<string, GgufMetadataValue> {
    return this.live().metadata();
  }

  async createContext(options: ContextOptions = {}): Promise<Context> {
    const opts = { ...options };
    if (opts.threads === undefined && this.threads !== undefined) opts.threads = this.threads;
    const ctx = new Context(await this.live().createContext(opts), this.info.nVocab, (c) => this.contexts.delete(c));
    this.contexts.add(ctx);
    return ctx;
  }

  /** Closes every context of this model (waiting for running decodes), then the model. */
  async close(): Promise<void> {
    if (!this.native) return;
    const nativeModel = this.native;
    this.native = null;
    await Promise.all([...this.contexts].map((c) => c.close()));
    nativeModel.close();
  }
}

export const openModel = Model.open;

/** Physical CPU cores: the default thread count. */
export function physicalCores(): number {
  return native().physicalCores();
}
