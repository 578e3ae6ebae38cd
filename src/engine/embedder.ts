// Embedding models in the engine (a GGUF file or an HF directory with sentence-transformers'
// files): texts (or token ids) in, L2-normalized vectors out. Inputs are
// tokenized as the model's tokenizer does ([CLS] ... [SEP] for BERT vocabularies), checked
// against the model's length, then encoded in batches of whole inputs; `task` applies the model
// card's query/document prefix and `dimensions` cuts a Matryoshka vector down.
import { embeddingCatalogEntry } from '../hub/index.js';
import type { NativeEncoderInfo } from '../runtime/addon.js';
import type { Encoder } from '../runtime/encoder.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { catalogEntryFor, EncoderModel, loadEncoder, type LoadEncoderOptions, repoOrFile } from './encoder-model.js';
import { abortedError, EngineError, invalidArg } from './errors.js';

export interface LoadEmbedderOptions extends LoadEncoderOptions {
  /** the model card's task prefixes, for a model the catalog does not know */
  prefixes?: { query: string; document: string };
  /** for a Matryoshka model the catalog does not know: the fewest dimensions it was trained for */
  minDimensions?: number;
}

export type EmbeddingTask = 'query' | 'document';

export interface EmbedOptions {
  /** put the model's query or document prefix before each text (its model card's, see the catalog) */
  task?: EmbeddingTask;
  /** fewer dimensions (Matryoshka models only): the vector is cut and normalized again */
  dimensions?: number;
  /** cut inputs longer than the model reads instead of refusing them */
  truncate?: boolean;
  signal?: AbortSignal;
}

export interface EmbeddingResult {
  vectors: Float32Array[];
  /** tokens read, prefixes and special tokens included */
  promptTokens: number;
  /** each input's share of them */
  inputTokens: number[];
}

export interface EmbedderInfo extends NativeEncoderInfo {
  ref: string;
  path: string;
  /** the catalog's id, when it knows the model */
  id?: string;
  /** vector length (nEmbd) and the fewest a request may ask for */
  dimensions: number;
  minDimensions: number;
  /** the longest input, in tokens */
  maxTokens: number;
  prefixes?: { query: string; document: string };
}

export type EmbeddingInput = string | readonly number[];

/** At most this many inputs per request, as OpenAI's API allows. */
export const MAX_EMBEDDING_INPUTS = 2048;

export class Embedder extends EncoderModel {
  private constructor(
    readonly info: EmbedderInfo,
    tokenizer: Tokenizer,
    encoder: Encoder,
  ) {
    super(tokenizer, encoder, 'embedding model');
  }

  /** @internal use loadEmbedder() */
  static async create(ref: string, options: LoadEmbedderOptions = {}): Promise<Embedder> {
    const entry = catalogEntryFor(ref, embeddingCatalogEntry);
    const { encoder, tokenizer, path } = await loadEncoder(repoOrFile(ref, entry), options, (enc) => {
      if (enc.info.pooling === 'rank') {
        throw new EngineError('ERR_UNSUPPORTED_MODEL', `${ref} is a reranker (a cross-encoder scores pairs, it gives no vectors); load it with loadReranker()`);
      }
    });
    try {
      const e = encoder.info;
      const prefixes = options.prefixes ?? entry?.prefixes;
      const minDimensions = options.minDimensions ?? entry?.minDimensions ?? e.nEmbd;
      if (!Number.isInteger(minDimensions) || minDimensions < 1 || minDimensions > e.nEmbd) {
        throw invalidArg('minDimensions', `must be an integer from 1 to ${e.nEmbd}, not ${minDimensions}`);
      }
      const info: EmbedderInfo = {
        ...e, ref, path, ...(entry ? { id: entry.id } : {}), dimensions: e.nEmbd, minDimensions,
        maxTokens: Math.min(e.nCtxTrain, e.nUbatch), ...(prefixes ? { prefixes } : {}),
      };
      return new Embedder(info, tokenizer, encoder);
    } catch (err) {
      await encoder.close();
      await tokenizer.close();
      throw err;
    }
  }

  /**
   * Vectors for up to 2,048 inputs, in order. Options are checked and every input tokenized and
   * measured before any is encoded; one call's inputs are encoded together, calls one after another.
   */
  async embed(inputs: readonly EmbeddingInput[], options: EmbedOptions = {}): Promise<EmbeddingResult> {
    this.live();
    if (!Array.isArray(inputs) || inputs.length === 0) throw invalidArg('input', 'must be a non-empty list of texts or token id arrays');
    if (inputs.length > MAX_EMBEDDING_INPUTS) throw invalidArg('input', `holds ${inputs.length} items; at most ${MAX_EMBEDDING_INPUTS} per request`);
    const dimensions = this.checkDimensions(options.dimensions);
    const prefix = this.prefixFor(options.task);
    const ids: number[][] = [];
    for (let i = 0; i < inputs.length; i++) ids.push(await this.tokens(inputs[i]!, i, prefix, options.truncate === true));
    if (options.signal?.aborted) throw abortedError();

    const pooled = await this.serially(() => this.encoder.encode(ids, options.signal ? { signal: options.signal } : {}));
    return {
      vectors: pooled.map((v) => normalized(v.subarray(0, dimensions))),
      promptTokens: ids.reduce((n, x) => n + x.length, 0),
      inputTokens: ids.map((x) => x.length),
    };
  }

  private checkDimensions(d: number | undefined): number {
    const { dimensions, minDimensions } = this.info;
    if (d === undefined || d === dimensions) return dimensions;
    if (!Number.isInteger(d) || d < 1) throw invalidArg('dimensions', `must be a positive integer, not ${d}`);
    if (minDimensions === dimensions) {
      throw invalidArg('dimensions', `this model gives ${dimensions}-dimensional vectors only (it was not trained to be cut down)`);
    }
    if (d < minDimensions || d > dimensions) throw invalidArg('dimensions', `must be from ${minDimensions} to ${dimensions} for this model, not ${d}`);
    return d;
  }

  private prefixFor(task: EmbeddingTask | undefined): string {
    if (task === undefined) return '';
    if (task !== 'query' && task !== 'document') throw invalidArg('task', `must be 'query' or 'document', not ${String(task)}`);
    const p = this.info.prefixes;
    if (!p) {
      throw invalidArg('task', `is not available: ${this.info.ref} has no known task prefixes; leave task out, or load it with { prefixes: { query, document } } from its model card`);
    }
    return p[task];
  }

  private async tokens(input: EmbeddingInput, i: number, prefix: string, truncate: boolean): Promise<number[]> {
    let ids: number[];
    if (typeof input === 'string') {
      if (input.length === 0) throw invalidArg('input', `item ${i} is an empty string`);
      ids = await this.tokenizer.encode(prefix + input, { addSpecial: true });
    } else if (Array.isArray(input)) {
      if (input.length === 0) throw invalidArg('input', `item ${i} is an empty token list`);
      if (prefix) throw invalidArg('task', 'applies to texts; token id inputs are used as given');
      for (const t of input) {
        if (!Number.isInteger(t) || t < 0 || t >= this.info.nVocab) {
          throw invalidArg('input', `item ${i} holds ${String(t)}, not a token id of this model (0..${this.info.nVocab - 1})`);
        }
      }
      ids = [...input];
    } else {
      throw invalidArg('input', `item ${i} must be a string or an array of token ids`);
    }
    const max = this.info.maxTokens;
    if (ids.length <= max) return ids;
    if (!truncate) {
      throw new EngineError('ERR_CONTEXT_LENGTH',
        `input item ${i} is ${ids.length} tokens; this model reads at most ${max}. Shorten it, or ask for truncation (truncate: true)`, { param: 'input' });
    }
    // keep the end token where the tokenizer put one, as HF truncation keeps [SEP]
    const last = ids[ids.length - 1]!;
    const cut = ids.slice(0, max);
    if (typeof input === 'string' && last === this.tokenizer.eosId) cut[max - 1] = last;
    return cut;
  }
}

export function loadEmbedder(ref: string, options: LoadEmbedderOptions = {}): Promise<Embedder> {
  return Embedder.create(ref, options);
}

function normalized(v: Float32Array): Float32Array {
  let ss = 0;
  for (let i = 0; i < v.length; i++) ss += v[i]! * v[i]!;
  const out = new Float32Array(v.length);
  const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * inv;
  return out;
}
