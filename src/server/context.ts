// What every route needs: the model (once loaded), the names it answers to, metrics, logs and the
// in-flight tracker.
import type { Context } from 'hono';

import type { Embedder } from '../engine/embedder.js';
import type { Reranker } from '../engine/reranker.js';
import type { GenerateOptions, LanguageModel } from '../engine/language-model.js';
import { ApiError } from './errors.js';
import type { TokenStrings } from './logprobs.js';
import type { Logger } from './logging.js';
import type { ServerMetrics } from './metrics.js';
import type { Tracker } from './shutdown.js';

/** Per-request log record, written once when the answer is complete. */
export interface RequestRecord {
  readonly id: string;
  readonly route: string;
  /** fields added by the route (model, tokens, finish reasons, user hash) */
  readonly fields: Record<string, unknown>;
  /** a streaming route ends the record itself, when the stream ends */
  deferred: boolean;
  end(status: number): void;
}

// Bindings: what @hono/node-server passes (its Node request, read directly by readJson); absent
// elsewhere (app.request, another adapter)
export type Env = { Variables: { record: RequestRecord }; Bindings: { incoming?: unknown } };
export type Ctx = Context<Env>;

export interface ServerContext {
  /** the chat model, or a 503 while it loads (or after loading failed), a 404 when there is none */
  model(): LanguageModel;
  /** the embedding model a request names: 404 if none has that name, 503 while it loads */
  embedder(requested: string): Embedder;
  /** the reranker a request names: 404 if none has that name, 503 while it loads */
  reranker(requested: string): Reranker;
  readonly modelId: string;
  readonly modelIds: ReadonlySet<string>;
  readonly fingerprint: () => string;
  readonly strings: () => TokenStrings;
  readonly metrics: ServerMetrics;
  readonly logger: Logger;
  readonly tracker: Tracker;
  readonly bodyLimit: number;
  readonly bodyTimeoutMs: number;
  /** an SSE comment is sent after this long without an event, so proxies keep the stream */
  readonly sseKeepAliveMs: number;
  readonly logPrompts: boolean;
}

export function checkModel(ctx: ServerContext, requested: string): void {
  if (!ctx.modelIds.has(requested)) {
    throw new ApiError(404, `the model '${requested}' does not exist here; this server serves '${ctx.modelId}' (GET /v1/models lists it)`,
      'invalid_request_error', 'model', 'model_not_found');
  }
}

/** Request fields that map one to one onto the engine's options (null means "not given"). */
export function samplingOptions(b: {
  temperature?: number | null; top_p?: number | null; top_k?: number | null; min_p?: number | null;
  repetition_penalty?: number | null; presence_penalty?: number | null; frequency_penalty?: number | null;
  logit_bias?: Record<string, number> | null; seed?: number | null; stop?: string | string[] | null;
}): GenerateOptions {
  const o: GenerateOptions = {};
  if (b.temperature != null) o.temperature = b.temperature;
  if (b.top_p != null) o.topP = b.top_p;
  if (b.top_k != null) o.topK = b.top_k;
  if (b.min_p != null) o.minP = b.min_p;
  if (b.repetition_penalty != null) o.repetitionPenalty = b.repetition_penalty;
  if (b.presence_penalty != null) o.presencePenalty = b.presence_penalty;
  if (b.frequency_penalty != null) o.frequencyPenalty = b.frequency_penalty;
  if (b.logit_bias != null) o.logitBias = b.logit_bias;
  if (b.seed != null) o.seed = b.seed;
  if (b.stop != null) o.stop = b.stop;
  return o;
}
