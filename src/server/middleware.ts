// Middleware the model server and the gateway share: one record per request (id, status,
// duration, what the route adds; a metric and a log line) and CORS.
import crypto from 'node:crypto';

import type { Hono, MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';

import type { Env, RequestRecord } from './context.js';
import { ApiError, errorResponse, internalError, toApiError } from './errors.js';
import type { Logger } from './logging.js';

/** The client's X-Request-Id when it is a sane token (it goes into logs and headers), else a new one. */
function requestId(given: string | undefined): string {
  return given && /^[\w.:-]{1,64}$/.test(given) ? given : crypto.randomUUID();
}

export function requestRecords(logger: Logger, routeLabel: (path: string) => string,
  count: (route: string, method: string, status: number, seconds: number) => void): MiddlewareHandler<Env> {
  return async (c, next) => {
    const started = performance.now();
    const id = requestId(c.req.header('x-request-id'));
    const route = routeLabel(c.req.path);
    let ended = false;
    const record: RequestRecord = {
      id, route, fields: {}, deferred: false,
      end(status) {
        if (ended) return;
        ended = true;
        const seconds = (performance.now() - started) / 1000;
        count(route, c.req.method, status, seconds);
        const quiet = route === '/health' || route === '/ready' || route === '/metrics';
        logger[quiet ? 'debug' : status >= 500 ? 'error' : 'info'](
          { reqId: id, method: c.req.method, route, status, ms: Math.round(seconds * 1000), ...record.fields }, 'request');
      },
    };
    c.set('record', record);
    await next();
    c.header('x-request-id', id);
    if (!record.deferred) record.end(c.res.status);
  };
}

/** CORS for the given origins ('*' for any). */
export function corsFor(origins: readonly string[]): MiddlewareHandler<Env> {
  const allowed = new Set(origins);
  return cors({
    origin: (origin) => (allowed.has('*') ? '*' : allowed.has(origin) ? origin : null),
    allowMethods: ['GET', 'POST', 'OPTIONS'],
    allowHeaders: ['Authorization', 'Content-Type', 'X-Request-Id', 'OpenAI-Organization', 'OpenAI-Project'],
    exposeHeaders: ['X-Request-Id', 'Retry-After'],
    maxAge: 600,
  });
}

/** The last handlers: an OpenAI-shaped 404 naming what exists, and errors as OpenAI bodies (a bug: a 500 naming the request id). */
export function finalHandlers(app: Hono<Env>, logger: Logger, routes: string): void {
  app.notFound((c) => errorResponse(new ApiError(404, `no route ${c.req.method} ${c.req.path}; ${routes}`, 'invalid_request_error', null, 'unknown_url')));
  app.onError((err, c) => {
    const api = toApiError(err);
    if (api) return errorResponse(api);
    const id = c.get('record')?.id ?? 'unknown';
    logger.error({ err, reqId: id }, 'unhandled error');
    return errorResponse(internalError(id));
  });
}
