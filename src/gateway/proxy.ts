// Sends one request to a replica and relays its answer. Streams pass through event by event as
// the replica writes them (nothing waits for the end); a replica that cannot be reached, or
// answers 429 / 503 before anything else, gets the request tried once on another; a stream cut
// half-way ends with an OpenAI error event; the client leaving aborts the upstream request, which
// makes the replica stop generating.
import { Agent, fetch, type Response as UpstreamResponse } from 'undici';

import { ApiError, errorResponse, unavailable } from '../server/errors.js';
import type { Logger } from '../server/logging.js';
import type { PrefixKeys } from './affinity.js';
import type { GatewayMetrics } from './metrics.js';
import { describe, type Replica, type ReplicaKind, type ReplicaPool } from './pool.js';
import type { Router } from './router.js';

// no deadline on an answer's headers or body: a long prefill may keep a non-stream request
// silent for minutes (the client's own timeout and disconnect still end it)
const agent = new Agent({ headersTimeout: 0, bodyTimeout: 0, connectTimeout: 5000 });

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
    let upstream: UpstreamResponse;
    try {
      upstream = await fetch(`${r.url}${req.path}`, {
        method: req.method, headers, body: req.body ?? undefined, signal: upstreamAbort.signal, redirect: 'manual', dispatcher: agent,
      });
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
    const another = pool.ready(req.kind).some((x) => !tried.has(x));
    if ((upstream.status === 429 || upstream.status === 503) && attempt === 0 && another) {
      await upstream.body?.cancel().catch(() => undefined);
      finish();
      if (upstream.status === 503) pool.eject(r, 'answered 503');
      metrics.upstream(r.url, req.kind, 'retried');
      lastFailure = `${r.url}: answered ${upstream.status}`;
      continue;
    }
    metrics.upstream(r.url, req.kind, 'ok');
    const done = () => {
      finish();
      req.done();
    };
    const response = (upstream.headers.get('content-type') ?? '').startsWith('text/event-stream') && upstream.body
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

function responseHeaders(upstream: UpstreamResponse): Headers {
  const out = new Headers();
  upstream.headers.forEach((value, name) => {
    if (!HOP.has(name)) out.set(name, value);
  });
  return out;
}

/** The client went away before there was an answer: nobody reads this one. */
function gone(): Response {
  return new Response(null, { status: 499 });
}

async function relayWhole(upstream: UpstreamResponse, r: Replica, req: ProxyRequest, done: () => void, deps: ProxyDeps): Promise<Response> {
  try {
    const body = await upstream.arrayBuffer();
    return new Response(body, { status: upstream.status, headers: responseHeaders(upstream) });
  } catch (err) {
    if (req.signal.aborted) return gone();
    deps.pool.eject(r, describe(err));
    deps.logger.warn({ reqId: req.requestId, replica: r.url, err: describe(err) }, 'replica went away during its answer');
    return errorResponse(new ApiError(502, 'the replica answering this request went away before its answer ended; retry', 'server_error', null, 'upstream_disconnected'));
  } finally {
    done();
  }
}

/**
 * Whole SSE events, each passed on as soon as its blank line arrives (a partial event is held
 * until it is complete, so an error event can always follow cleanly).
 */
function relayStream(upstream: UpstreamResponse, r: Replica, upstreamAbort: AbortController, req: ProxyRequest, done: () => void,
  deps: ProxyDeps): Response {
  const reader = upstream.body!.getReader();
  let held = Buffer.alloc(0);
  let ended = false; // [DONE] or an error event seen: the replica finished the stream itself
  let cancelled = false;
  const cut = (controller: ReadableStreamDefaultController<Uint8Array>, why: string) => {
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
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (;;) {
          const { done: finished, value } = await reader.read();
          if (finished) {
            if (ended && !held.length) controller.close();
            else cut(controller, 'the stream ended without [DONE]');
            done();
            return;
          }
          held = held.length ? Buffer.concat([held, value]) : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
          const boundary = held.lastIndexOf('\n\n');
          if (boundary < 0) continue;
          const events = held.subarray(0, boundary + 2);
          held = held.subarray(boundary + 2);
          const text = events.toString('utf8');
          if (text.includes('data: [DONE]') || text.includes('data: {"error"')) ended = true;
          controller.enqueue(new Uint8Array(events));
          return;
        }
      } catch (err) {
        if (cancelled) return;
        try {
          if (ended && !held.length) controller.close();
          else cut(controller, describe(err));
        } catch {
          // the client left at the same moment
        }
        done();
      }
    },
    cancel() {
      // the client went away: the replica's request is aborted, so it stops generating
      cancelled = true;
      upstreamAbort.abort();
      done();
    },
  });
  return new Response(body, { status: upstream.status, headers: responseHeaders(upstream) });
}
