// The gateway's own Prometheus metrics: its answers, what it sent to each replica, retries,
// ejections, prefix-affinity hits and each replica's state (the replicas export their queues).
import client from 'prom-client';

import type { ReplicaPool } from './pool.js';

export interface GatewayMetrics {
  readonly registry: client.Registry;
  request(route: string, method: string, status: number, seconds: number): void;
  /** one attempt on a replica: ok (it answered), error (no answer), retried (answered 429/503, tried elsewhere) */
  upstream(replica: string, kind: string, outcome: 'ok' | 'error' | 'retried'): void;
  retry(kind: string): void;
  routed(reason: 'affinity' | 'hash' | 'least_outstanding'): void;
  /** a stream whose replica went away before its end */
  streamCut(replica: string): void;
}

export function createGatewayMetrics(pool: ReplicaPool, prefix = 'predict_otron_gateway_'): GatewayMetrics {
  const registry = new client.Registry();
  const registers = [registry];
  const requests = new client.Counter({ name: `${prefix}http_requests_total`, help: 'HTTP requests answered by the gateway, by route, method and status', labelNames: ['route', 'method', 'status'], registers });
  const duration = new client.Histogram({
    name: `${prefix}http_request_duration_seconds`, help: 'Time to answer an HTTP request (to the end of a stream)', labelNames: ['route'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300], registers,
  });
  const upstream = new client.Counter({ name: `${prefix}upstream_requests_total`, help: 'Attempts on replicas by outcome (ok, error: no answer, retried: 429/503 sent elsewhere)', labelNames: ['replica', 'kind', 'outcome'], registers });
  const retries = new client.Counter({ name: `${prefix}retries_total`, help: 'Requests tried again on another replica before their first byte', labelNames: ['kind'], registers });
  const routed = new client.Counter({
    name: `${prefix}routing_decisions_total`, labelNames: ['reason'], registers,
    help: 'Routing decisions: to the replica holding the prompt\'s prefix (affinity), where a new conversation hashes (hash), or to the least busy (least_outstanding)',
  });
  const cuts = new client.Counter({ name: `${prefix}stream_cuts_total`, help: 'Streams whose replica went away before the end (the client got an error event)', labelNames: ['replica'], registers });
  new client.Gauge({
    name: `${prefix}replica_up`, help: '1 when the replica passes its /ready probe', labelNames: ['replica', 'kind'], registers,
    collect() {
      for (const r of pool.replicas) this.set({ replica: r.url, kind: r.kind }, r.ready ? 1 : 0);
    },
  });
  new client.Gauge({
    name: `${prefix}replica_outstanding_requests`, help: 'Requests sent to the replica and not yet answered in full', labelNames: ['replica', 'kind'], registers,
    collect() {
      for (const r of pool.replicas) this.set({ replica: r.url, kind: r.kind }, r.outstanding);
    },
  });
  return {
    registry,
    request(route, method, status, seconds) {
      requests.inc({ route, method, status: String(status) });
      duration.observe({ route }, seconds);
    },
    upstream: (replica, kind, outcome) => upstream.inc({ replica, kind, outcome }),
    retry: (kind) => retries.inc({ kind }),
    routed: (reason) => routed.inc({ reason }),
    streamCut: (replica) => cuts.inc({ replica }),
  };
}
