// The replicas behind a gateway and their health: each is probed on GET /ready; one that fails a
// probe (or a connection while proxying) is ejected at once and admitted again when a probe passes.
import type { Logger } from '../server/logging.js';

export type ReplicaKind = 'inference' | 'embeddings';
export type ReplicaState = 'unknown' | 'ready' | 'down';

export class Replica {
  state: ReplicaState = 'unknown';
  /** requests sent to it and not yet answered in full (a stream counts until it ends) */
  outstanding = 0;
  /** the model names its /ready reported */
  models: ReadonlySet<string> = new Set();
  /** why it is down, for /ready and the log */
  reason: string | null = null;

  constructor(readonly url: string, readonly kind: ReplicaKind) {}

  get ready(): boolean {
    return this.state === 'ready';
  }
}

export interface PoolOptions {
  inference: readonly string[];
  embeddings: readonly string[];
  /** default 2000 */
  probeIntervalMs?: number;
  /** a probe slower than this fails (default 2 s; a probe still out is not sent again) */
  probeTimeoutMs?: number;
  logger: Logger;
}

export class ReplicaPool {
  readonly replicas: Replica[];
  private timer: NodeJS.Timeout | null = null;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly probing = new Set<Replica>();

  constructor(private readonly options: PoolOptions) {
    this.replicas = [
      ...options.inference.map((u) => new Replica(u, 'inference')),
      ...options.embeddings.map((u) => new Replica(u, 'embeddings')),
    ];
    this.intervalMs = options.probeIntervalMs ?? 2000;
    this.timeoutMs = options.probeTimeoutMs ?? 2000;
  }

  /** the kinds this gateway was given replicas for */
  get kinds(): ReplicaKind[] {
    return (['inference', 'embeddings'] as const).filter((k) => this.replicas.some((r) => r.kind === k));
  }

  ready(kind: ReplicaKind): Replica[] {
    return this.replicas.filter((r) => r.kind === kind && r.ready);
  }

  /** Probes every replica now, then on the interval. Resolves after the first round. */
  async start(): Promise<void> {
    await this.probeAll();
    this.timer ??= setInterval(() => void this.probeAll(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  probeAll(): Promise<void> {
    return Promise.all(this.replicas.map((r) => this.probe(r))).then(() => undefined);
  }

  /** A connection to it failed while proxying: out until a probe says otherwise. */
  eject(r: Replica, reason: string): void {
    this.set(r, 'down', reason);
  }

  private async probe(r: Replica): Promise<void> {
    if (this.probing.has(r)) return; // a slow probe is still out: one at a time
    this.probing.add(r);
    try {
      const res = await fetch(`${r.url}/ready`, { signal: AbortSignal.timeout(this.timeoutMs), headers: { accept: 'application/json' } });
      const body = (await res.json().catch(() => null)) as { status?: unknown; models?: unknown } | null;
      if (res.ok) {
        const models = Array.isArray(body?.models) ? body.models.map((m) => (m as { id?: unknown })?.id).filter((id): id is string => typeof id === 'string') : [];
        r.models = new Set(models);
        this.set(r, 'ready', null);
      } else {
        this.set(r, 'down', `/ready answered ${res.status}${typeof body?.status === 'string' ? ` (${body.status.slice(0, 40)})` : ''}`);
      }
    } catch (err) {
      this.set(r, 'down', describe(err));
    } finally {
      this.probing.delete(r);
    }
  }

  private set(r: Replica, state: ReplicaState, reason: string | null): void {
    const was = r.state;
    r.state = state;
    r.reason = reason;
    if (was === state) return;
    const log = this.options.logger;
    if (state === 'ready') log.info({ replica: r.url, kind: r.kind, models: [...r.models] }, was === 'down' ? 'replica back: admitted' : 'replica ready');
    else log.warn({ replica: r.url, kind: r.kind, reason }, was === 'ready' ? 'replica ejected' : 'replica not ready');
  }
}

/** A request's failure in words (fetch hides the socket error in `cause`; node:http does not). */
export function describe(err: unknown): string {
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'timed out';
  return (e?.cause?.code ?? e?.cause?.message ?? e?.code ?? e?.message ?? String(err)).slice(0, 200);
}
