// createApp(): the OpenAI-compatible API as a Hono app, to serve (startServer) or to mount in
// another Node service.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { Hono } from 'hono';
import type { Registry } from 'prom-client';

import { EngineError } from '../engine/errors.js';
import type { Embedder } from '../engine/embedder.js';
import type { Reranker } from '../engine/reranker.js';
import type { LanguageModel } from '../engine/language-model.js';
import { parseModelRef } from '../hub/ref.js';
import { apiKeyCheck } from './auth.js';
import { DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT_MS } from './body.js';
import { type Env, type ServerContext } from './context.js';
import { ApiError, errorResponse, invalidRequest, unavailable } from './errors.js';
import { createLogger, type Logger } from './logging.js';
import { TokenStrings } from './logprobs.js';
import { corsFor, finalHandlers, requestRecords } from './middleware.js';
import { createMetrics, type ServerMetrics } from './metrics.js';
import { chatRoute } from './routes/chat.js';
import { completionsRoute } from './routes/completions.js';
import { embeddingsRoute } from './routes/embeddings.js';
import { rerankRoute } from './routes/rerank.js';
import { modelsRoute } from './routes/models.js';
import { opsRoutes } from './routes/ops.js';
import { webuiRoute } from './routes/webui.js';
import { Served, unknownModel } from './served.js';
import { Tracker } from './shutdown.js';
import { packageVersion } from './version.js';

/** An embedding model the app serves on /v1/embeddings. */
export interface EmbeddingModelOptions {
  /** The model, or a promise of it. */
  model: Embedder | Promise<Embedder>;
  /** The name clients send as `model` (default: the reference it was loaded from); required with a promise. */
  id?: string;
  aliases?: readonly string[];
}

/** A reranker (cross-encoder) the app serves on /v1/rerank. */
export interface RerankerModelOptions {
  model: Reranker | Promise<Reranker>;
  /** required with a promise */
  id?: string;
  aliases?: readonly string[];
}

export interface AppOptions {
  /**
   * The chat model, or a promise of it: /health answers at once, /ready and the API once it
   * resolves. Leave it out for an embeddings-only server.
   */
  model?: LanguageModel | Promise<LanguageModel>;
  /** The name clients send as `model` (default: the reference it was loaded from; for a local file, its name). */
  modelId?: string;
  /** Further names accepted as `model`. */
  aliases?: readonly string[];
  /** Embedding models served on /v1/embeddings. */
  embeddings?: readonly EmbeddingModelOptions[];
  /** Rerankers served on /v1/rerank. */
  rerankers?: readonly RerankerModelOptions[];
  /** Bearer keys; none: the API is open. /health, /ready and /metrics never ask for one. */
  apiKeys?: readonly string[];
  /** Origins allowed by CORS ('*' for any); none: no CORS headers (same origin only). */
  corsOrigins?: readonly string[];
  /** Largest request body in bytes (default 4 MiB); more is a 413. */
  bodyLimit?: number;
  /** Time from the headers to the end of the body (default 30 s); a slower client gets a 408. */
  bodyTimeoutMs?: number;
  /** Longest silence in a stream before a `: keep-alive` comment (default 15 s), e.g. during a long prefill. */
  sseKeepAliveMs?: number;
  /** A pino logger, or false for none (default: JSON lines on stdout at LOG_LEVEL or info). */
  logger?: Logger | false;
  /** Log prompt text with each request (default false: only sizes and token counts). */
  logPrompts?: boolean;
  /** Register the metrics here (default: a registry of the app's own). */
  registry?: Registry;
  /** Serve the chat page at / (default true when it was built; `serve --no-webui` turns it off). */
  webui?: boolean;
}

export interface ServerApp {
  /** The Hono app: `app.fetch` for any fetch-style server, or `parent.route('/', app)` to mount it. */
  readonly app: Hono<Env>;
  readonly metrics: ServerMetrics;
  readonly logger: Logger;
  /** 'loading' until the model resolves; 'draining' after drain() */
  readonly state: 'loading' | 'ready' | 'failed' | 'draining';
  /** requests being answered now (a stream counts until it ends) */
  readonly inFlight: number;
  /** Refuses new API requests (503) and waits up to deadlineMs for those in flight; returns how many were aborted. */
  drain(deadlineMs?: number): Promise<number>;
}

/** What a model reference is called in `model`: the HF id as given, or a local file's name. */
export function defaultModelId(ref: string): string {
  try {
    const r = parseModelRef(ref);
    if (r.kind === 'hub') return r.file ? `${r.repo}:${r.file}` : r.repo;
    return path.basename(r.path).replace(/\.gguf$/i, '');
  } catch {
    return ref;
  }
}

const ROUTES = new Set(['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/rerank', '/rerank', '/v1/models', '/health', '/ready', '/metrics']);
/** A bounded set of labels, also when the app is mounted under a prefix (/llm/v1/...). */
function routeLabel(p: string): string {
  for (const r of ROUTES) if (p === r || p.endsWith(r)) return r;
  return p.includes('/v1/models/') ? '/v1/models/:id' : 'other';
}

export function createApp(options: AppOptions): ServerApp {
  const given = options.model;
  if (!given && !options.embeddings?.length && !options.rerankers?.length) {
    throw new EngineError('ERR_INVALID_ARG', 'createApp: give a chat model, embedding models or rerankers', { param: 'model' });
  }
  if (given instanceof Promise && !options.modelId) {
    throw new EngineError('ERR_INVALID_ARG', 'createApp: modelId is required when model is a promise', { param: 'modelId' });
  }
  const chat = given ? new Served<LanguageModel>(options.modelId ?? defaultModelId((given as LanguageModel).info.ref), options.aliases ?? [], given, 'model') : null;
  const embedders = (options.embeddings ?? []).map((e, i) => {
    if (e.model instanceof Promise && !e.id) {
      throw new EngineError('ERR_INVALID_ARG', `createApp: embeddings[${i}].id is required when its model is a promise`, { param: 'embeddings' });
    }
    return new Served<Embedder>(e.id ?? defaultModelId((e.model as Embedder).info.ref), e.aliases ?? [], e.model, 'embedding model');
  });
  const rerankers = (options.rerankers ?? []).map((e, i) => {
    if (e.model instanceof Promise && !e.id) {
      throw new EngineError('ERR_INVALID_ARG', `createApp: rerankers[${i}].id is required when its model is a promise`, { param: 'rerankers' });
    }
    return new Served<Reranker>(e.id ?? defaultModelId((e.model as Reranker).info.ref), e.aliases ?? [], e.model, 'reranker');
  });
  const modelId = chat?.id ?? embedders[0]?.id ?? rerankers[0]!.id;
  const loadedChat = () => chat?.loaded ?? null;

  const logger = options.logger === false ? createLogger({ level: 'silent' }) : (options.logger ?? createLogger());
  const tracker = new Tracker();
  const metrics = createMetrics(() => {
    const m = loadedChat();
    return m && !m.closed ? m.stats() : null;
  }, options.registry ? { registry: options.registry } : {});
  let strings: TokenStrings | null = null;
  let fingerprint: string | null = null;

  const model = (): LanguageModel => {
    if (!chat) {
      throw new ApiError(404, `this server serves no chat model, only embeddings or reranking (${[...embedders, ...rerankers].map((e) => `'${e.id}'`).join(', ')})`,
        'invalid_request_error', 'model', 'model_not_found');
    }
    return chat.get();
  };
  const ctx: ServerContext = {
    model,
    modelId,
    modelIds: chat?.ids ?? new Set(),
    embedder: (requested) => {
      const e = embedders.find((x) => x.ids.has(requested));
      if (e) return e.get();
      if (chat?.ids.has(requested)) {
        throw invalidRequest(`'${requested}' is a chat model; /v1/embeddings needs an embedding model (GET /v1/models lists them)`, 'model', 'model_not_found');
      }
      throw unknownModel(requested, 'an embedding model', embedders.map((x) => x.id));
    },
    reranker: (requested) => {
      const r = rerankers.find((x) => x.ids.has(requested));
      if (r) return r.get();
      throw unknownModel(requested, 'a reranker', rerankers.map((x) => x.id));
    },
    fingerprint: () => (fingerprint ??= fingerprintOf(model())),
    strings: () => (strings ??= new TokenStrings(model().tokenizer, model().endTokens)),
    metrics,
    logger,
    tracker,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    bodyTimeoutMs: options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
    sseKeepAliveMs: options.sseKeepAliveMs ?? 15_000,
    logPrompts: options.logPrompts === true,
  };
  const served = [...(chat ? [chat] : []), ...embedders, ...rerankers];
  const state = (): ServerApp['state'] => {
    if (tracker.draining) return 'draining';
    if (served.some((m) => m.state === 'failed')) return 'failed';
    return served.every((m) => m.state === 'ready') ? 'ready' : 'loading';
  };

  const app = new Hono<Env>();

  // one record per request: id, status, duration, what the route adds; metrics and a log line
  app.use('*', requestRecords(logger, routeLabel, (route, method, status, seconds) => metrics.request(route, method, status, seconds)));
  if (options.corsOrigins?.length) app.use('*', corsFor(options.corsOrigins));

  const checkKey = apiKeyCheck(options.apiKeys ?? []);
  app.use('/v1/*', async (c, next) => {
    checkKey(c.req.header('authorization'));
    // draining: connections kept alive may still bring requests; they are told to go elsewhere
    if (tracker.draining) return errorResponse(unavailable('the server is shutting down; retry on another replica'), { connection: 'close' });
    await next();
  });

  chatRoute(app, ctx);
  completionsRoute(app, ctx);
  embeddingsRoute(app, ctx);
  rerankRoute(app, ctx);
  modelsRoute(app, [
    ...(chat ? [{ served: chat, card: () => ({ created: createdOf(chat.loaded?.info.path), owned_by: ownerOf(chat.loaded?.info.ref ?? chat.id), kind: 'chat' }) }] : []),
    ...embedders.map((e) => ({
      served: e,
      card: () => ({
        created: createdOf(e.loaded?.info.path), owned_by: ownerOf(e.loaded?.info.ref ?? e.id), kind: 'embedding',
        ...(e.loaded ? { dimensions: e.loaded.info.dimensions, max_input_tokens: e.loaded.info.maxTokens } : {}),
      }),
    })),
    ...rerankers.map((e) => ({
      served: e,
      card: () => ({
        created: createdOf(e.loaded?.info.path), owned_by: ownerOf(e.loaded?.info.ref ?? e.id), kind: 'rerank',
        ...(e.loaded ? { max_input_tokens: e.loaded.info.maxTokens } : {}),
      }),
    })),
  ]);
  opsRoutes(app, ctx, state, served);
  if (options.webui !== false) webuiRoute(app);

  finalHandlers(app, logger, 'see GET /v1/models, POST /v1/chat/completions, POST /v1/completions, POST /v1/embeddings, POST /v1/rerank');

  return {
    app, metrics, logger,
    get state() { return state(); },
    get inFlight() { return tracker.inFlight; },
    drain: (deadlineMs = 30_000) => tracker.drain(deadlineMs),
  };
}

/** Changes when the weights, the build or the settings that change outputs change. */
function fingerprintOf(m: LanguageModel): string {
  const i = m.info;
  const h = crypto.createHash('sha256')
    .update([packageVersion(), i.arch, i.weightType, i.dtype, path.basename(i.path), i.nVocab, i.contextSize].join('|'))
    .digest('hex');
  return `fp_${h.slice(0, 12)}`;
}

function createdOf(file: string | undefined): number {
  try {
    if (file) return Math.floor(fs.statSync(file).mtimeMs / 1000);
  } catch {
    // fall through
  }
  return Math.floor(Date.now() / 1000);
}

/** The hub organisation of an HF id (google for google/gemma-3-1b-it); a local file is the user's. */
function ownerOf(ref: string): string {
  try {
    const r = parseModelRef(ref);
    return r.kind === 'hub' ? r.repo.split('/')[0]! : 'local';
  } catch {
    return 'local';
  }
}
