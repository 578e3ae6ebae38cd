// In-flight request tracking for graceful shutdown: once draining, new requests get 503 while
// those running finish; at the deadline the rest are aborted.

export interface Ticket {
  readonly signal: AbortSignal;
  abort(): void;
  /** the request is answered (the stream has ended, or the client left) */
  done(): void;
}

export class Tracker {
  private readonly live = new Set<AbortController>();
  private waiters: (() => void)[] = [];
  draining = false;

  get inFlight(): number {
    return this.live.size;
  }

  /** A ticket whose signal fires when the client disconnects (`clientSignal`) or at the deadline. */
  begin(clientSignal?: AbortSignal): Ticket {
    const controller = new AbortController();
    this.live.add(controller);
    const onClient = () => controller.abort();
    if (clientSignal?.aborted) controller.abort();
    else clientSignal?.addEventListener('abort', onClient, { once: true });
    let finished = false;
    return {
      signal: controller.signal,
      abort: () => controller.abort(),
      done: () => {
        if (finished) return;
        finished = true;
        clientSignal?.removeEventListener('abort', onClient);
        this.live.delete(controller);
        if (this.live.size === 0) for (const w of this.waiters.splice(0)) w();
      },
    };
  }

  /**
   * Stops taking work and waits up to `deadlineMs` for requests in flight; returns how many were
   * still running and aborted at the deadline.
   */
  async drain(deadlineMs: number): Promise<number> {
    this.draining = true;
    if (this.live.size === 0) return 0;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.waiters.push(() => resolve(true)));
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), deadlineMs)));
    const finished = await Promise.race([idle, late]);
    clearTimeout(timer);
    if (finished) return 0;
    const n = this.live.size;
    for (const c of this.live) c.abort();
    // aborted requests settle quickly; wait for them so the model is not closed under them
    await Promise.race([idle, new Promise((r) => setTimeout(r, 5000).unref())]);
    return n;
  }
}
