// Sends one request to a replica and relays its answer. Streams pass through event by event as
// the replica writes them (nothing waits for the end); a replica that cannot be reached, or
// answers 429 / 503 before anything else, gets the request tried once on another; a stream cut
// half-way ends with an OpenAI error event; the client leaving aborts the upstream request, which
// makes the replica stop generating.
import type { IncomingMessage } from 'node:http';

import { ApiError, errorResponse, unavailable } from '../server/errors.js';
import type { Logger } from '../server/logging.js';
import type { PrefixKeys } from './affinity.js';
import type { GatewayMetrics } from './metrics.js';
import { describe, type Replica, type ReplicaKind, type ReplicaPool } from './pool.js';
import type { Router } from './router.js';
import { send } from './upstream.js';

// hop-by-hop and recomputed headers are not passed on (RFC 9110 7.6.1)
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'host', 'content-length', 'accept-encoding', 'content-encoding', 'expect', 'x-request-id']);

export interface ProxyRequest {
  kind: ReplicaKind;
  method: string;
  /** path and query, e.g. /v1/chat/completions */
  path: string;
  headers: Headers;
  body: Buffer | null;
  /** the `model` the request names (routing prefers replicas serving it) */
  model: string | undefined;
  /** the prompt's prefix keys, for affinity */
  prefix: PrefixKeys;
  requestId: string;
  /** aborts when the client goes away or the gateway's shutdown deadline passes */
  signal: AbortSignal;
  /** the answer is over: relayed in full, cut, or abandoned by the client */
  done: () => void;
}

export interface ProxyDeps {
  pool: ReplicaPool;
  router: Router;
  metrics: GatewayMetrics;
  logger: Logger;
}

const encoder = new TextEncoder();

export async function proxy(req: ProxyRequest, deps: ProxyDeps): Promise<{ response: Response; replica: string | null }> {
  const { pool, router, metrics } = deps;
  const tried = new Set<Replica>();
  const headers = forwardHeaders(req.headers, req.requestId);
  let lastFailure: string | null = null;
  for (let attempt = 0; attempt < 2; attempt++) {
    const choice = router.pick(pool.ready(req.kind).filter((r) => !tried.has(r)), req.model, req.prefix);
    if (!choice) break;
    if (attempt > 0) metrics.retry(req.kind);
    const r = choice.replica;
    tried.add(r);
    metrics.routed(choice.reason);
    r.outstanding++;
    const upstreamAbort = new AbortController();
    const onAbort = () => upstreamAbort.abort();
    req.signal.addEventListener('abort', onAbort, { once: true });
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      r.outstanding--;
      req.signal.removeEventListener('abort', onAbort);
    };
    let upstream: IncomingMessage;
    try {
      upstream = await send(`${r.url}${req.path}`, req.method, headers, req.body, upstreamAbort.signal);
    } catch (err) {
      finish();
      if (req.signal.aborted) {
        req.done();
        return { response: gone(), replica: r.url };
      }
      lastFailure = `${r.url}: ${describe(err)}`;
      pool.eject(r, describe(err));
      metrics.upstream(r.url, req.kind, 'error');
      continue;
    }
    // busy or going away before any byte of the answer: another replica may take it
    const status = upstream.statusCode ?? 502;
    const another = pool.ready(req.kind).some((x) => !tried.has(x));
    if ((status === 429 || status === 503) && attempt === 0 && another) {
      upstream.destroy();
      finish();
      if (status === 503) pool.eject(r, 'answered 503');
      metrics.upstream(r.url, req.kind, 'retried');
      lastFailure = `${r.url}: answered ${status}`;
      continue;
    }
    metrics.upstream(r.url, req.kind, 'ok');
    const done = () => {
      finish();
      req.done();
    };
    const response = (upstream.headers['content-type'] ?? '').startsWith('text/event-stream')
      ? relayStream(upstream, r, upstreamAbort, req, done, deps)
      : await relayWhole(upstream, r, req, done, deps);
    return { response, replica: r.url };
  }
  req.done();
  if (!tried.size) {
    return { response: errorResponse(new ApiError(503, `no ${req.kind} replica is ready; retry shortly (GET /ready lists the replicas and why)`,
      'server_error', null, 'no_healthy_replica', { 'retry-after': '1' })), replica: null };
  }
  deps.logger.warn({ reqId: req.requestId, kind: req.kind, lastFailure }, 'no replica answered');
  return { response: errorResponse(new ApiError(502, `no ${req.kind} replica could answer this request (tried ${tried.size}); retry shortly`,
    'server_error', null, 'upstream_unavailable', { 'retry-after': '1' })), replica: null };
}

function forwardHeaders(incoming: Headers, requestId: string): Record<string, string> {
  const out: Record<string, string> = {};
  // Authorization (the client's API key) and OpenAI-* headers go through as they came
  incoming.forEach((value, name) => {
    if (!HOP.has(name)) out[name] = value;
  });
  out['x-request-id'] = requestId;
  return out;
}

function responseHeaders(upstream: IncomingMessage): Headers {
  const out = new Headers();
  for (const [name, value] of Object.entries(upstream.headers)) {
    if (value === undefined || HOP.has(name)) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.append(name, v);
  }
  return out;
}

/** The client went away before there was an answer: nobody reads this one. */
function gone(): Response {
  return new Response(null, { status: 499 });
}

/** The whole body, or null when the connection closed before its end. */
function readAll(upstream: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    upstream.on('data', (c: Buffer) => chunks.push(c));
    upstream.on('error', () => undefined); // 'close' tells
    upstream.on('close', () => resolve(upstream.complete ? Buffer.concat(chunks) : null));
  });
}

async function relayWhole(upstream: IncomingMessage, r: Replica, req: ProxyRequest, done: () => void, deps: ProxyDeps): Promise<Response> {
  const body = await readAll(upstream);
  done();
  if (body) return new Response(body as Uint8Array<ArrayBuffer>, { status: upstream.statusCode ?? 502, headers: responseHeaders(upstream) });
  if (req.signal.aborted) return gone();
  deps.pool.eject(r, 'connection closed mid-answer');
  deps.logger.warn({ reqId: req.requestId, replica: r.url }, 'replica went away during its answer');
  return errorResponse(new ApiError(502, 'the replica answering this request went away before its answer ended; retry', 'server_error', null, 'upstream_disconnected'));
}

/**
 * Whole SSE events, each passed on as soon as its blank line arrives (a partial event is held
 * until it is complete, so an error event can always follow cleanly). The replica's socket is
 * paused while the client reads slower than it writes.
 */
function relayStream(upstream: IncomingMessage, r: Replica, upstreamAbort: AbortController, req: ProxyRequest, done: () => void,
  deps: ProxyDeps): Response {
  let held: Buffer = Buffer.alloc(0);
  let ended = false; // [DONE] or an error event seen: the replica finished the stream itself
  let closed = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const finish = (clean: boolean, why: string) => {
        if (closed) return;
        closed = true;
        if (clean) {
          controller.close();
        } else {
          const shutdown = req.signal.aborted;
          if (!shutdown) {
            deps.metrics.streamCut(r.url);
            deps.pool.eject(r, why);
            deps.logger.warn({ reqId: req.requestId, replica: r.url, why }, 'stream cut: the replica went away mid-stream');
          }
          const err = shutdown
            ? unavailable('the gateway is shutting down; the stream was cut; retry')
            : new ApiError(502, 'the replica generating this stream went away before it ended; retry the request', 'server_error', null, 'upstream_disconnected');
          controller.enqueue(encoder.encode(`data: ${JSON.stringify(err.body())}\n\n`));
          controller.close();
        }
        done();
      };
      upstream.on('data', (chunk: Buffer) => {
        if (closed) return;
        held = held.length ? Buffer.concat([held, chunk]) : chunk;
        const boundary = held.lastIndexOf('\n\n');
        if (boundary < 0) return;
        const events = held.subarray(0, boundary + 2);
        held = held.subarray(boundary + 2);
        const text = events.toString('utf8');
        if (text.includes('data: [DONE]') || text.includes('data: {"error"')) ended = true;
        controller.enqueue(new Uint8Array(events));
        if ((controller.desiredSize ?? 1) <= 0) upstream.pause();
      });
      upstream.on('error', () => undefined); // 'close' tells
      upstream.on('close', () => {
        const clean = upstream.complete && ended && !held.length;
        finish(clean, upstream.complete ? 'the stream ended without [DONE]' : 'connection closed mid-stream');
      });
    },
    pull() {
      upstream.resume();
    },
    cancel() {
      // the client went away: the replica's request is aborted, so it stops generating
      closed = true;
      upstreamAbort.abort();
      done();
    },
  });
  return new Response(body, { status: upstream.statusCode ?? 502, headers: responseHeaders(upstream) });
}
