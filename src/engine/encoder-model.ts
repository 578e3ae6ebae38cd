// What embedding models and rerankers share: loading an encoder and its tokenizer from any model
// reference, and running one encode at a time on it until close().
import { parseModelRef, resolveModel, type ResolveOptions } from '../hub/index.js';
import type { WeightDtype } from '../runtime/addon.js';
import { Encoder } from '../runtime/encoder.js';
import { tokenizerFromDir, tokenizerFromGguf } from '../tokenizer/index.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { EngineError } from './errors.js';

export interface LoadEncoderOptions extends ResolveOptions {
  /** compute threads (default: physical cores) */
  threads?: number;
  dtype?: WeightDtype;
  /** tokens per compute call (default: the model's longest input, at least 512); an input must fit in one */
  batchTokens?: number;
  flashAttn?: boolean;
}

export interface LoadedEncoder {
  encoder: Encoder;
  tokenizer: Tokenizer;
  path: string;
}

/**
 * The encoder a reference names and its tokenizer (tokenizer.json for an HF directory, the GGUF's
 * vocabulary otherwise). `check` may refuse the model; then everything is freed again.
 */
export async function loadEncoder(ref: string, options: LoadEncoderOptions, check: (e: Encoder) => void): Promise<LoadedEncoder> {
  const resolved = await resolveModel(ref, options);
  const encoder = await Encoder.open(resolved.path, {
    ...(options.threads !== undefined ? { threads: options.threads } : {}),
    ...(options.dtype !== undefined ? { dtype: options.dtype } : {}),
    ...(options.flashAttn !== undefined ? { flashAttn: options.flashAttn } : {}),
    ...(options.batchTokens !== undefined ? { nUbatch: options.batchTokens } : {}),
  });
  try {
    check(encoder);
    const tokenizer = resolved.format === 'hf' ? await tokenizerFromDir(resolved.path) : await tokenizerFromGguf(encoder.metadata());
    return { encoder, tokenizer, path: resolved.path };
  } catch (err) {
    await encoder.close();
    throw err;
  }
}

/** The catalog entry for a reference: its short name, its HF id, or a GGUF in its repo. */
export function catalogEntryFor<T>(ref: string, lookup: (name: string) => T | undefined): T | undefined {
  const direct = lookup(ref);
  if (direct) return direct;
  try {
    const r = parseModelRef(ref);
    return r.kind === 'hub' ? lookup(r.repo) : undefined;
  } catch {
    return undefined;
  }
}

/** What to load for a reference: a short name's HF id; a GGUF (local, or a file in a repo) as given. */
export function repoOrFile(ref: string, entry: { id: string } | undefined): string {
  if (!entry) return ref;
  try {
    const r = parseModelRef(ref);
    if (r.kind === 'local-gguf' || (r.kind === 'hub' && r.file !== undefined)) return ref;
  } catch {
    // not a reference the parser knows: the catalog's id
  }
  return entry.id;
}

/** An encoder-backed model: its calls run one after another; close() waits for them. */
export abstract class EncoderModel {
  private queue: Promise<unknown> = Promise.resolve();
  private closing: Promise<void> | null = null;

  protected constructor(
    readonly tokenizer: Tokenizer,
    protected readonly encoder: Encoder,
    private readonly what: string,
  ) {}

  get closed(): boolean {
    return this.closing !== null;
  }

  protected live(): void {
    if (this.closing) throw new EngineError('ERR_CLOSED', `the ${this.what} is closed`);
  }

  /** Runs fn after the calls before it (whatever became of them). */
  protected serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      this.live();
      return fn();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Waits for the calls in progress, then frees the model. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.queue;
      await this.encoder.close();
      await this.tokenizer.close();
    })();
    return this.closing;
  }
}
