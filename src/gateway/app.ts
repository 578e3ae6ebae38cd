// createGateway(): the gateway as a Hono app. Chat and completions go to the inference replicas,
// embeddings and rerank to the embeddings replicas; /v1/models is the union of the replicas'
// lists; /health, /ready and /metrics are the gateway's own.
import { Hono, type MiddlewareHandler } from 'hono';

import { apiKeyCheck } from '../server/auth.js';
import { DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT_MS, parseJson, readBody } from '../server/body.js';
import type { Env } from '../server/context.js';
import { ApiError, errorResponse, unavailable } from '../server/errors.js';
import { createLogger, type Logger } from '../server/logging.js';
import { corsFor, finalHandlers, requestRecords } from '../server/middleware.js';
import { webuiRoute } from '../server/routes/webui.js';
import { Tracker } from '../server/shutdown.js';
import { prefixKeys } from './affinity.js';
import { createGatewayMetrics, type GatewayMetrics } from './metrics.js';
import { type ReplicaKind, ReplicaPool } from './pool.js';
import { proxy } from './proxy.js';
import { Router } from './router.js';

export interface GatewayOptions {
  /** base URLs of replicas serving chat models (serve --model) */
  inference?: readonly string[];
  /** base URLs of replicas serving embedding models and rerankers */
  embeddings?: readonly string[];
  /** how often each replica's /ready is probed (default 2000 ms) */
  probeIntervalMs?: number;
  /** keys the gateway itself asks its clients for (none: open); the client's Authorization goes on to the replicas either way */
  apiKeys?: readonly string[];
  corsOrigins?: readonly string[];
  /** largest request body (default 4 MiB) */
  bodyLimit?: number;
  bodyTimeoutMs?: number;
  /** how many more outstanding requests the replica holding a prefix may have than the least busy one and still get the next turn (default 2) */
  affinitySlack?: number;
  logger?: Logger | false;
  /** serve the chat page at / (default true) */
  webui?: boolean;
}

export interface Gateway {
  readonly app: Hono<Env>;
  readonly pool: ReplicaPool;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly inFlight: number;
  /** probes the replicas once, then keeps probing */
  start(): Promise<void>;
  /** 503 for new requests; waits up to deadlineMs for those in flight, then aborts them; stops probing */
  drain(deadlineMs?: number): Promise<number>;
}

const ROUTES: Record<string, ReplicaKind> = {
  '/v1/chat/completions': 'inference', '/v1/completions': 'inference',
  '/v1/embeddings': 'embeddings', '/v1/rerank': 'embeddings', '/rerank': 'embeddings',
};
const OPS = new Set(['/health', '/ready', '/metrics', '/v1/models']);

export function createGateway(options: GatewayOptions): Gateway {
  const inference = options.inference ?? [];
  const embeddings = options.embeddings ?? [];
  if (!inference.length && !embeddings.length) throw new Error('createGateway: give inference and/or embeddings replica URLs');
  const logger = options.logger === false ? createLogger({ level: 'silent' }) : (options.logger ?? createLogger());
  const pool = new ReplicaPool({ inference, embeddings, ...(options.probeIntervalMs ? { probeIntervalMs: options.probeIntervalMs } : {}), logger });
  const router = new Router(options.affinitySlack ?? 2);
  const metrics = createGatewayMetrics(pool);
  const tracker = new Tracker();
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
  const app = new Hono<Env>();

  const routeLabel = (p: string) => (ROUTES[p] || OPS.has(p) ? p : p.startsWith('/v1/models/') ? '/v1/models/:id' : 'other');
  app.use('*', requestRecords(logger, routeLabel, (route, method, status, seconds) => metrics.request(route, method, status, seconds)));
  if (options.corsOrigins?.length) app.use('*', corsFor(options.corsOrigins));

  const checkKey = apiKeyCheck(options.apiKeys ?? []);
  const guard: MiddlewareHandler<Env> = async (c, next) => {
    checkKey(c.req.header('authorization'));
    if (tracker.draining) return errorResponse(unavailable('the gateway is shutting down; retry'), { connection: 'close' });
    await next();
  };
  app.use('/v1/*', guard);
  app.use('/rerank', guard);

  for (const [path, kind] of Object.entries(ROUTES)) {
    app.post(path, async (c) => {
      if (!pool.kinds.includes(kind)) {
        throw new ApiError(404, `this gateway has no ${kind} replicas, so it does not serve ${path}`, 'invalid_request_error', null, 'unknown_url');
      }
      const record = c.get('record');
      const raw = await readBody(c.req.raw, bodyLimit, bodyTimeoutMs, c.env?.incoming);
      const body = parseJson(raw) as { model?: unknown; stream?: unknown } | null;
      const model = typeof body?.model === 'string' ? body.model : undefined;
      const ticket = tracker.begin(c.req.raw.signal);
      record.deferred = true;
      const query = new URL(c.req.url).search;
      // the log record closes when the answer is over (a stream's end), which may come before proxy() returns
      let answer: Response | null = null;
      let over = false;
      const close = () => {
        if (answer && over) record.end(c.req.raw.signal.aborted ? 499 : answer.status);
      };
      const { response, replica } = await proxy({
        kind, method: 'POST', path: path + query, headers: c.req.raw.headers, body: raw, model, prefix: prefixKeys(path, body),
        requestId: record.id, signal: ticket.signal,
        done: () => {
          ticket.done();
          over = true;
          close();
        },
      }, { pool, router, metrics, logger });
      Object.assign(record.fields, { model, replica, stream: body?.stream === true });
      answer = response;
      close();
      return response;
    });
  }

  // the union of the ready replicas' models, each id once (a model served by several replicas is one entry)
  const models = async (authorization: string | undefined): Promise<Response | Record<string, unknown>[]> => {
    const ready = pool.replicas.filter((r) => r.ready);
    if (!ready.length) return errorResponse(new ApiError(503, 'no replica is ready; retry shortly', 'server_error', null, 'no_healthy_replica', { 'retry-after': '1' }));
    const answers = await Promise.all(ready.map(async (r) => {
      try {
        const res = await fetch(`${r.url}/v1/models`, { headers: authorization ? { authorization } : {}, signal: AbortSignal.timeout(5000) });
        return { status: res.status, body: (await res.json()) as { data?: Record<string, unknown>[] } };
      } catch {
        return null;
      }
    }));
    const ok = answers.filter((a) => a?.status === 200);
    if (!ok.length) {
      // every replica refused (a wrong key, say): the client gets that answer, not a merged nothing
      const refused = answers.find((a) => a && a.status >= 400 && a.status < 500);
      if (refused) return new Response(JSON.stringify(refused.body), { status: refused.status, headers: { 'content-type': 'application/json' } });
      return errorResponse(new ApiError(502, 'no replica answered GET /v1/models; retry shortly', 'server_error', null, 'upstream_unavailable'));
    }
    const seen = new Map<string, Record<string, unknown>>();
    for (const a of ok) for (const m of a!.body.data ?? []) if (typeof m.id === 'string' && !seen.has(m.id)) seen.set(m.id, m);
    return [...seen.values()];
  };
  app.get('/v1/models', async (c) => {
    const m = await models(c.req.header('authorization'));
    return m instanceof Response ? m : c.json({ object: 'list', data: m });
  });
  app.get('/v1/models/:id{.+}', async (c) => {
    const m = await models(c.req.header('authorization'));
    if (m instanceof Response) return m;
    const id = c.req.param('id');
    const found = m.find((x) => x.id === id);
    if (!found) throw new ApiError(404, `The model '${id.slice(0, 200)}' does not exist; this gateway's replicas serve ${m.map((x) => `'${x.id as string}'`).join(', ')}`, 'invalid_request_error', 'model', 'model_not_found');
    return c.json(found);
  });

  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/ready', (c) => {
    // ready when each kind it was configured with has a replica that takes work
    const ready = !tracker.draining && pool.kinds.every((k) => pool.ready(k).length > 0);
    const status = tracker.draining ? 'draining' : ready ? 'ready' : 'unavailable';
    return c.json({
      status,
      replicas: pool.replicas.map((r) => ({ url: r.url, kind: r.kind, status: r.state, outstanding: r.outstanding, models: [...r.models], ...(r.reason ? { reason: r.reason } : {}) })),
    }, ready ? 200 : 503);
  });
  app.get('/metrics', async (c) => c.body(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType }));
  if (options.webui !== false) webuiRoute(app);

  finalHandlers(app, logger, 'the gateway serves POST /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/rerank and GET /v1/models');

  return {
    app, pool, metrics, logger,
    get inFlight() { return tracker.inFlight; },
    start: () => pool.start(),
    drain: async (deadlineMs = 30_000) => {
      const aborted = await tracker.drain(deadlineMs);
      pool.stop();
      return aborted;
    },
  };
}
