// startGateway(): the gateway on a real port, probing its replicas, with the same graceful close
// as a model server (stop accepting, let streams in flight finish up to a deadline, then cut).
import type { Server } from 'node:http';

import { createAdaptorServer } from '@hono/node-server';

import { closeGracefully, listen } from '../server/listen.js';
import { createGateway, type Gateway, type GatewayOptions } from './app.js';

export interface StartGatewayOptions extends GatewayOptions {
  /** default 127.0.0.1 */
  host?: string;
  /** default 8080; 0 picks a free port */
  port?: number;
}

export interface RunningGateway extends Gateway {
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  close(deadlineMs?: number): Promise<number>;
}

export async function startGateway(options: StartGatewayOptions): Promise<RunningGateway> {
  const gateway = createGateway(options);
  const server = createAdaptorServer({ fetch: gateway.app.fetch }) as Server;
  // streams last as long as generation does: no whole-request deadline
  server.requestTimeout = 0;
  server.headersTimeout = 30_000;
  const host = options.host ?? '127.0.0.1';
  const port = await listen(server, options.port ?? 8080, host);
  // the first round of probes before returning: /ready is truthful from the first request on
  await gateway.start();
  let closing: Promise<number> | null = null;
  const close = (deadlineMs = 30_000): Promise<number> => (closing ??= closeGracefully(server, () => gateway.drain(deadlineMs)));
  return {
    app: gateway.app, pool: gateway.pool, metrics: gateway.metrics, logger: gateway.logger,
    get inFlight() { return gateway.inFlight; },
    start: gateway.start, drain: gateway.drain,
    server, port, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, close,
  };
}
