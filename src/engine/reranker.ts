// Rerankers (cross-encoders): a query and each document read together as one input, as the
// tokenizer's pair template joins them ([CLS] query [SEP] document [SEP] with the document's
// tokens of type 1 for BERT, <s> query </s> </s> document </s> for XLM-RoBERTa), and the
// classifier's logit turned into a relevance score in (0, 1) by the sigmoid, as
// sentence-transformers' CrossEncoder does for one label. Documents too long for the model are
// cut to fit (the query is kept whole; a query that alone does not fit is refused).
import type { NativeEncoderInfo } from '../runtime/addon.js';
import type { Encoder } from '../runtime/encoder.js';
import type { PairTemplate, Tokenizer } from '../tokenizer/types.js';
import { rerankerCatalogEntry } from '../hub/index.js';
import { catalogEntryFor, EncoderModel, loadEncoder, type LoadEncoderOptions, repoOrFile } from './encoder-model.js';
import { abortedError, EngineError, invalidArg } from './errors.js';

export type LoadRerankerOptions = LoadEncoderOptions;

export interface RerankOptions {
  /** the best this many (default: all), best first */
  topN?: number;
  signal?: AbortSignal;
}

export interface RerankResult {
  /** the document's place in the request */
  index: number;
  /** sigmoid of the model's logit: higher is more relevant */
  relevanceScore: number;
}

export interface RerankerInfo extends NativeEncoderInfo {
  ref: string;
  path: string;
  /** the longest query + document pair, in tokens */
  maxTokens: number;
}

/** At most this many documents per request. */
export const MAX_RERANK_DOCUMENTS = 1024;

export class Reranker extends EncoderModel {
  private constructor(
    readonly info: RerankerInfo,
    tokenizer: Tokenizer,
    encoder: Encoder,
    private readonly pair: PairTemplate,
  ) {
    super(tokenizer, encoder, 'reranker');
  }

  /** @internal use loadReranker() */
  static async create(ref: string, options: LoadRerankerOptions = {}): Promise<Reranker> {
    const { encoder, tokenizer, path } = await loadEncoder(repoOrFile(ref, catalogEntryFor(ref, rerankerCatalogEntry)), options, (enc) => {
      if (enc.info.pooling !== 'rank') {
        throw new EngineError('ERR_UNSUPPORTED_MODEL', `${ref} is an embedding model, not a reranker (a cross-encoder with a classification head); load it with loadEmbedder()`);
      }
      if (enc.info.nOut !== 1) throw new EngineError('ERR_UNSUPPORTED_MODEL', `${ref} classifies into ${enc.info.nOut} labels; a reranker gives one relevance score`);
    });
    const pair = tokenizer.pairTemplate;
    if (pair === undefined) {
      await encoder.close();
      await tokenizer.close();
      throw new EngineError('ERR_BAD_MODEL_FILE', `${ref}: its tokenizer names no way to join a query and a document (no pair template, no [SEP])`);
    }
    const e = encoder.info;
    return new Reranker({ ...e, ref, path, maxTokens: Math.min(e.nCtxTrain, e.nUbatch) }, tokenizer, encoder, pair);
  }

  /** Scores every document against the query; the best first. */
  async rerank(query: string, documents: readonly string[], options: RerankOptions = {}): Promise<{ results: RerankResult[]; promptTokens: number }> {
    this.live();
    if (typeof query !== 'string' || query.length === 0) throw invalidArg('query', 'must be a non-empty string');
    if (!Array.isArray(documents) || documents.length === 0) throw invalidArg('documents', 'must be a non-empty list of strings');
    if (documents.length > MAX_RERANK_DOCUMENTS) throw invalidArg('documents', `holds ${documents.length} items; at most ${MAX_RERANK_DOCUMENTS} per request`);
    const { topN } = options;
    if (topN !== undefined && (!Number.isInteger(topN) || topN < 1)) throw invalidArg('top_n', `must be a positive integer, not ${topN}`);

    // the tokenizer's pair template: [CLS] q [SEP] d [SEP] (BERT), <s> q </s> </s> d </s> (XLM-R)
    const { before, between, after, firstType, secondType } = this.pair;
    const q = await this.tokenizer.encode(query, { addSpecial: false });
    const head = [...before.map(([id]) => id), ...q, ...between.map(([id]) => id)];
    const headTypes = [...before.map(([, t]) => t), ...q.map(() => firstType), ...between.map(([, t]) => t)];
    const room = this.info.maxTokens - head.length - after.length; // for the document's tokens
    if (room < 1) {
      throw new EngineError('ERR_CONTEXT_LENGTH', `the query is ${head.length} tokens with its separators; with a document it must fit in ${this.info.maxTokens}`, { param: 'query' });
    }
    const inputs: number[][] = [];
    const types: number[][] = [];
    for (let i = 0; i < documents.length; i++) {
      const d = documents[i];
      if (typeof d !== 'string' || d.length === 0) throw invalidArg('documents', `item ${i} must be a non-empty string`);
      const ids = (await this.tokenizer.encode(d, { addSpecial: false })).slice(0, room);
      inputs.push([...head, ...ids, ...after.map(([id]) => id)]);
      types.push([...headTypes, ...ids.map(() => secondType), ...after.map(([, t]) => t)]);
    }
    if (options.signal?.aborted) throw abortedError();
    const logits = await this.serially(() => this.encoder.encode(inputs, { types, ...(options.signal ? { signal: options.signal } : {}) }));
    const results = logits
      .map((l, index) => ({ index, relevanceScore: 1 / (1 + Math.exp(-l[0]!)) }))
      .sort((a, b) => b.relevanceScore - a.relevanceScore || a.index - b.index);
    return { results: topN !== undefined ? results.slice(0, topN) : results, promptTokens: inputs.reduce((n, x) => n + x.length, 0) };
  }
}

export function loadReranker(ref: string, options: LoadRerankerOptions = {}): Promise<Reranker> {
  return Reranker.create(ref, options);
}
