// startServer(): the app on a real port with @hono/node-server, and a close() that shuts down
// gracefully: stop accepting, let requests in flight finish (up to a deadline), then close.
import type { Server } from 'node:http';

import { createAdaptorServer } from '@hono/node-server';

import { type AppOptions, createApp, type ServerApp } from './app.js';
import { closeGracefully, listen } from './listen.js';

export interface StartOptions extends AppOptions {
  /** default 127.0.0.1 (only this machine); 0.0.0.0 to listen on every interface */
  host?: string;
  /** default 8080; 0 picks a free port (see `port` in the result) */
  port?: number;
  /** close the models in close() (default true) */
  closeModel?: boolean;
  /** time a client has to send its request headers (default 30 s; then 408 and the connection closes) */
  headersTimeoutMs?: number;
}

export interface RunningServer extends ServerApp {
  readonly server: Server;
  /** the port bound (useful with port 0) */
  readonly port: number;
  readonly host: string;
  /** http://host:port */
  readonly url: string;
  /**
   * Graceful shutdown: new connections are refused and new requests on open ones get 503; those
   * in flight get up to deadlineMs (default 30 s) to finish, then are aborted; then the model is
   * closed. Returns how many requests were aborted at the deadline.
   */
  close(deadlineMs?: number): Promise<number>;
}

export async function startServer(options: StartOptions): Promise<RunningServer> {
  const served = createApp(options);
  const headersTimeout = options.headersTimeoutMs ?? 30_000;
  const server = createAdaptorServer({
    fetch: served.app.fetch,
    // Node checks its timeouts this often (default 30 s), so a short headers timeout needs it shorter
    serverOptions: { connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(headersTimeout / 2))) },
  }) as Server;
  // Streams stay open as long as generation takes, so there is no whole-request timeout (Node's
  // default of 300 s would cut them). The headers have their deadline here, the body its own
  // (bodyTimeoutMs, read before the request is admitted), idle keep-alive connections Node's 5 s.
  server.requestTimeout = 0;
  server.headersTimeout = headersTimeout;
  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port ?? 8080, host);
  let closing: Promise<number> | null = null;

  const close = (deadlineMs = 30_000): Promise<number> =>
    (closing ??= (async () => {
      const aborted = await closeGracefully(server, () => served.drain(deadlineMs));
      if (options.closeModel !== false) {
        const models = [options.model, ...(options.embeddings ?? []).map((e) => e.model), ...(options.rerankers ?? []).map((e) => e.model)];
        await Promise.all(models.map(async (given) => {
          const m = await Promise.resolve(given).catch(() => null);
          await (m as { close(): Promise<void> } | null | undefined)?.close();
        }));
      }
      return aborted;
    })());

  return {
    app: served.app, metrics: served.metrics, logger: served.logger,
    get state() { return served.state; },
    get inFlight() { return served.inFlight; },
    drain: served.drain,
    server, port, host, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, close,
  };
}
