import { Batch } from '../runtime/batch.js';
import type { Context } from '../runtime/context.js';
import type { SampledToken } from '../sampling/sampler.js';
import { abortedError, EngineError } from './errors.js';
import type { GenerationStream } from './generation-stream.js';
import { type JobSpec, RequestOutput, type TokenText } from './output.js';
import { SwapSpace } from './swap-space.js';
import { BLOCK, WindowStore, type WindowHit } from './window-store.js';

export type { JobSpec, TokenText } from './output.js';

export interface SchedulerOptions {
  /** sequences decoded together; also the number of KV sequence slots (default 8) */
  parallel: number;
  /** requests that may wait for a slot; one more is refused with ERR_QUEUE_FULL (default 64) */
  maxQueue: number;
  /** tokens per decode step: every generating sequence's next token, then prompt chunks (default 512) */
  stepTokens: number;
  /** bytes of preempted requests' KV rows kept for their return instead of recomputing them (default: the KV cache's size) */
  swapBytes?: number;
  /**
   * bytes of prompts' sliding-window rows kept so that a prefix longer than the window stays
   * reusable after the ring moved on (window-store.ts; default: the ring's size; 0: none)
   */
  windowBytes?: number;
}

export interface SchedulerStats {
  queued: number;
  active: number;
  kvUsed: number;
  kvSize: number;
  /** generated tokens since the scheduler started */
  generatedTokens: number;
  promptTokens: number;
  /** requests sent back to the queue because the KV pool ran out (recomputed later) */
  preemptions: number;
  /** KV cells those preemptions dropped, which had to be computed again */
  recomputedTokens: number;
  /** KV cells of preempted requests saved when dropped and copied back on their return */
  swappedTokens: number;
  /** bytes of sliding-window rows held for prefix reuse (window-store.ts) */
  windowBytes: number;
}

/** A KV sequence: what its cache holds is tokens[0, n). It keeps that after its job ends, for reuse. */
interface Slot {
  seq: number;
  tokens: readonly number[];
  n: number;
  job: Job | null;
  lastUsed: number;
  /** the preempted request whose cells this idle cache holds: what is trimmed off is saved for it */
  preempted: Job | null;
}

/** A request as the scheduler sees it: its output (output.ts) plus where its cells are. */
class Job extends RequestOutput {
  slot: Slot | null = null;
  aborted = false;
  /** cells it had when preempted (what it recomputes is what of them is gone on its return) */
  cellsAtPreemption = 0;
  admittedAt = 0;
  /** prompt positions before this have had their sliding-window rows offered to the window store */
  windowSaved = 0;

  /** tokens not yet in the KV cache */
  get pending(): number {
    return this.tokens.length - (this.slot?.n ?? 0);
  }
}

/** Waiting for another request's prefill pays off from this many shared prompt tokens. */
const MIN_SHARED_PREFILL = 16;

/** Cells kept free beyond the running requests' next tokens when admitting (vLLM's watermark). */
const WATERMARK = 0.01;

function commonPrefix(a: readonly number[], an: number, b: readonly number[], bn: number): number {
  const n = Math.min(an, bn);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * Continuous batching over one context. Every step decodes, in one batch, the next token of every
 * generating sequence plus chunks of prompts being prefilled, so a long prompt never stalls the
 * others, a new request joins at the next step and a finished one leaves at once. All sequences
 * share one KV pool: a single request may fill the whole context. When the pool runs out, idle
 * caches give up cells first (least recently used, from their tails), then the newest request is
 * preempted: it waits at the head of the queue while its cells become an idle cache that others
 * trim as they need, saving what they trim for it (swap-space.ts); on its return it takes over
 * what is left, gets the saved rows copied back and recomputes only what was not saved, from its
 * prompt and the tokens it had generated (vLLM's swap and recompute preemption); its output continues.
 *
 * Prefix reuse: a new request takes over the cached tokens it shares with any sequence (a finished
 * one, or one still running) by sharing KV cells (seqCopy). The global layers keep every cached
 * position; the sliding-window layers keep a ring of about a window per sequence, so a prefix is
 * taken over where that sequence's ring still holds the window before its end, else where the
 * window store (window-store.ts) has the rows of the window saved, else it is recomputed: the
 * result is always exactly what computing the prompt from scratch gives.
 */
export class Scheduler {
  private readonly slots: Slot[];
  private readonly queue: Job[] = [];
  private readonly batch = new Batch();
  private loop: Promise<void> | null = null;
  private closed = false;
  private decodeAbort: AbortController | null = null;
  /** where every step's logits land: one buffer reused, grown to the most outputs a step had */
  private logitsOut = new Float32Array(0);
  private inFlight: Job[] = [];
  private clock = 0;
  private generated = 0;
  private prompted = 0;
  private preemptions = 0;
  private recomputed = 0;
  private swapped = 0;
  private readonly swap: SwapSpace;
  private readonly windows: WindowStore;
  /** the sliding-window layers' window when they keep a ring of their own, else 0 */
  private readonly window: number;

  constructor(
    private readonly ctx: Context,
    private readonly tokens: TokenText,
    private readonly nCtx: number,
    private readonly options: SchedulerOptions,
  ) {
    this.slots = Array.from({ length: options.parallel }, (_, seq) => ({ seq, tokens: [], n: 0, job: null, lastUsed: 0, preempted: null }));
    const st = ctx.state();
    this.swap = new SwapSpace(ctx, options.swapBytes ?? st.kvBytes);
    this.window = st.swaWindow;
    this.windows = new WindowStore(ctx, st.swaWindow, options.windowBytes ?? st.swaBytes);
  }

  stats(): SchedulerStats {
    const s = this.ctx.closed ? { kvUsed: 0, nCtx: this.nCtx } : this.ctx.state();
    return {
      queued: this.queue.length,
      active: this.slots.filter((x) => x.job).length,
      kvUsed: s.kvUsed,
      kvSize: this.nCtx,
      generatedTokens: this.generated,
      promptTokens: this.prompted,
      preemptions: this.preemptions,
      recomputedTokens: this.recomputed,
      swappedTokens: this.swapped,
      windowBytes: this.windows.bytes,
    };
  }

  /**
   * Queues a generation. Throws (synchronously) ERR_CONTEXT_LENGTH when the prompt cannot fit,
   * ERR_QUEUE_FULL when too many requests wait, ERR_ABORTED when the signal already fired.
   */
  submit(spec: JobSpec): GenerationStream {
    if (this.closed) throw new EngineError('ERR_CLOSED', 'the model is closed');
    const n = spec.prompt.length;
    if (n === 0) throw new EngineError('ERR_INVALID_ARG', 'the prompt is empty', { param: 'prompt' });
    if (n >= this.nCtx) {
      throw new EngineError('ERR_CONTEXT_LENGTH',
        `the prompt is ${n} tokens, but the context holds ${this.nCtx} (the prompt and at least one generated token ` +
        'must fit); shorten the prompt or load the model with a larger context', { param: 'messages' });
    }
    if (spec.maxTokens !== undefined && (!Number.isInteger(spec.maxTokens) || spec.maxTokens < 1)) {
      throw new EngineError('ERR_INVALID_ARG', `max_tokens must be an integer >= 1, not ${spec.maxTokens}`, { param: 'max_tokens' });
    }
    if (spec.signal?.aborted) throw abortedError();
    // requests join free slots at the next step; only those beyond the free slots wait
    const waiting = this.queue.length - this.slots.filter((s) => !s.job).length;
    if (waiting >= this.options.maxQueue) {
      throw new EngineError('ERR_QUEUE_FULL', `${this.options.maxQueue} requests are already waiting; try again later`);
    }
    const job: Job = new Job(spec, () => this.abort(job));
    const signal = spec.signal;
    if (signal) {
      // removed when the request ends, however it ends: a caller's long-lived signal must not
      // collect a listener (and keep a finished job alive) per request
      const onAbort = () => this.abort(job);
      signal.addEventListener('abort', onAbort, { once: true });
      const detach = () => signal.removeEventListener('abort', onAbort);
      job.stream.result.then(detach, detach);
    }
    this.queue.push(job);
    this.kick();
    return job.stream;
  }

  /** Aborts every request and stops the loop; the context stays open (its owner closes it). */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of [...this.queue, ...this.slots.flatMap((s) => (s.job ? [s.job] : []))]) {
      this.abort(job, new EngineError('ERR_CLOSED', 'the model was closed while this request ran'));
    }
    this.kick();
    await this.loop;
  }

  /** Waits until no request is queued or running (new ones may still be submitted). */
  async idle(): Promise<void> {
    while (this.loop) await this.loop;
  }

  private abort(job: Job, err: EngineError = abortedError()): void {
    if (job.aborted) return;
    job.aborted = true;
    const q = this.queue.indexOf(job);
    if (q >= 0) this.queue.splice(q, 1);
    this.swap.drop(job);
    job.stream.fail(err);
    // a decode that only serves aborted requests is not worth finishing
    if (this.inFlight.length && this.inFlight.every((j) => j.aborted)) this.decodeAbort?.abort();
    if (!this.inFlight.includes(job) && job.slot) this.release(job);
    this.kick();
  }

  private kick(): void {
    if (!this.loop) {
      this.loop = this.run().finally(() => {
        this.loop = null;
        if (this.hasWork() && !this.closed) this.kick();
      });
    }
  }

  private hasWork(): boolean {
    return this.queue.length > 0 || this.slots.some((s) => s.job);
  }

  private async run(): Promise<void> {
    try {
      while (this.hasWork() && !this.ctx.closed) {
        this.admit();
        // I/O (new requests, aborts, stream consumers) runs while a decode is computed; a step
        // that decoded nothing yields explicitly, so the loop never spins without letting it in
        if (!(await this.step())) await new Promise<void>((r) => setImmediate(r));
      }
    } catch (err) {
      // a bug or a closed context: no request may hang waiting for a loop that has stopped
      this.failAll(err);
      for (const job of this.queue.splice(0)) {
        this.swap.drop(job);
        job.stream.fail(err);
      }
    }
  }

  /**
   * Gives waiting requests free slots, reusing the longest cached prefix there is. A request
   * whose prompt another running request is still prefilling waits for that prefill and then
   * copies it, instead of computing the same tokens twice (n > 1 choices, identical requests).
   *
   * Admission by free cells, as vLLM admits: a request (or one preempted earlier) joins only when
   * the pool can hold its pending tokens plus the next token of every running request and a
   * watermark; otherwise it waits, and so does everything behind it (first come, first served).
   * Admitting it anyway would only get it (or another) preempted at the next step and admitted
   * again at once: the thrashing that made 8 requests in a small pool 6x slower.
   */
  private admit(): void {
    const watermark = Math.max(1, Math.floor(this.nCtx * WATERMARK));
    for (let qi = 0; qi < this.queue.length; ) {
      const free = this.slots.filter((s) => !s.job);
      if (!free.length) return;
      const job = this.queue[qi]!;
      // at least the last prompt token is computed, for its logits
      const limit = job.tokens.length - 1;
      let best: Slot | null = null;
      let bestLen = 0;
      let soon = 0;
      for (const s of this.slots) {
        const len = commonPrefix(job.tokens, limit, s.tokens, s.n);
        // prefer reusing a free slot in place over copying from a busy one of the same length
        if (len > bestLen || (len === bestLen && len > 0 && best?.job && !s.job)) {
          best = s;
          bestLen = len;
        }
        if (s.job && s.n < s.job.promptLength) soon = Math.max(soon, commonPrefix(job.tokens, limit, s.tokens, s.job.promptLength));
      }
      if (soon >= bestLen + MIN_SHARED_PREFILL) {
        qi++;
        continue;
      }
      // a preempted request with saved rows resumes where they start (cached positions beyond
      // that are copied back with them rather than shared)
      const shared = bestLen;
      bestLen = this.swap.resumeAt(job, bestLen);
      let hit: WindowHit | null = null;
      let dropSwapped = false;
      if (best && bestLen > 0 && !this.exactAt(best, bestLen)) {
        // that sequence's ring has moved past the window continuing there needs: the window
        // store's rows, else recompute (the swapped rows continue only the prefix they left;
        // dropped once the request is admitted, so a request that waits keeps them)
        dropSwapped = true;
        hit = this.windows.find(job.tokens, shared);
        bestLen = hit?.at ?? 0;
      }
      // cells already promised: what the admitted requests have still to put in the cache (the
      // rest of a prompt, claimed chunk by chunk; a generating request's next token)
      const running = this.slots.flatMap((s) => (s.job ? [s.job] : []));
      const promised = running.reduce((n, j) => n + Math.max(j.pending, 1), 0);
      const need = job.tokens.length - bestLen + promised + watermark;
      // idle caches make room first; a request that finds nothing running is admitted anyway
      // (it may use the whole pool)
      if (this.evictIdle(need, best) < need && running.length > 0) return;
      this.queue.splice(qi, 1);
      if (dropSwapped) this.swap.drop(job);
      let slot: Slot;
      if (best && !best.job) {
        slot = best;
        this.trim(slot, bestLen);
      } else {
        // an empty slot first, then the least recently used cache
        slot = free.reduce((a, b) => (a.n === 0 ? a : b.n === 0 ? b : a.lastUsed <= b.lastUsed ? a : b));
        this.trim(slot, 0);
        if (best && bestLen > 0) this.ctx.seqCopy(best.seq, slot.seq, 0, bestLen);
      }
      if (hit && !this.windows.restore(slot.seq, hit)) {
        this.ctx.seqRemove(slot.seq, 0, -1); // no room in the ring after all: computed again
        bestLen = 0;
      }
      job.windowSaved = Math.floor(bestLen / BLOCK) * BLOCK;
      slot.tokens = job.tokens;
      slot.n = bestLen;
      slot.job = job;
      slot.preempted = null;
      slot.lastUsed = ++this.clock;
      job.slot = slot;
      if (job.cellsAtPreemption > 0) {
        // its old cache, if it landed elsewhere, is an ordinary idle cache from now on
        for (const s of this.slots) if (s.preempted === job) s.preempted = null;
        // the rows saved when its cache was trimmed go back in (admission counted their cells)
        slot.n = this.swap.restore(job, slot.seq, bestLen);
        if (slot.n > bestLen && !this.exactAt(slot, slot.n)) {
          // the rows came back without the sliding window before their end (trimmed off after
          // the ring had reused it): continuing there would be inexact, so they are computed again
          this.ctx.seqRemove(slot.seq, bestLen, -1);
          slot.n = bestLen;
        }
        this.swapped += slot.n - bestLen;
        this.recomputed += Math.max(0, job.cellsAtPreemption - slot.n);
        job.cellsAtPreemption = 0;
      }
      if (job.admittedAt === 0) {
        job.admittedAt = ++this.clock;
        job.cachedPromptTokens = bestLen;
        this.prompted += job.promptLength;
        job.startedAt = performance.now();
      }
    }
  }

  /** Drops an idle cache's positions from `from` on, saving them first for the preempted request they belong to. */
  private trim(slot: Slot, from: number): void {
    if (from >= slot.n) return;
    if (slot.preempted) this.swap.save(slot.preempted, slot.seq, from, slot.n);
    this.ctx.seqRemove(slot.seq, from, -1);
    slot.n = from;
    if (from === 0) {
      slot.tokens = [];
      slot.preempted = null;
    }
  }

  /** Whether continuing slot's sequence at position n (its cells [0, n) kept) gives exactly a cold run's results. */
  private exactAt(slot: Slot, n: number): boolean {
    if (!this.window) return true;
    const from = this.ctx.seqWindowFrom(slot.seq);
    return from === 0 || n - this.window + 1 >= from;
  }

  private kvFree(): number {
    return this.nCtx - this.ctx.state().kvUsed;
  }

  /** Frees cells of idle caches (but `keep`), least recently used first and from their tails, until `need` cells are free or none is left. */
  private evictIdle(need: number, keep: Slot | null = null): number {
    let free = this.kvFree();
    const idle = this.slots.filter((s) => !s.job && s.n > 0 && s !== keep).sort((a, b) => a.lastUsed - b.lastUsed);
    for (const s of idle) {
      // only the tail that is needed: the prefix stays for reuse (a preempted request's own).
      // Cells another sequence shares are not freed by dropping them here, so go on until enough
      // are free or this cache is gone.
      while (free < need && s.n > 0) {
        this.trim(s, s.n - Math.min(s.n, need - free));
        free = this.kvFree();
      }
      if (free >= need) break;
    }
    return free;
  }

  /** Sends the newest running request back to the head of the queue, freeing its cells. */
  private preemptNewest(): boolean {
    const active = this.slots.filter((s) => s.job && !s.job.aborted);
    if (active.length <= 1) return false;
    const victim = active.reduce((a, b) => (a.job!.admittedAt > b.job!.admittedAt ? a : b));
    const job = victim.job!;
    // its cells stay as an idle cache, trimmed from the tail only as far as others need them:
    // when it comes back it takes over what is left of them and recomputes only the rest
    job.cellsAtPreemption = victim.n;
    victim.job = null;
    victim.preempted = job;
    victim.lastUsed = ++this.clock;
    job.slot = null;
    this.queue.unshift(job);
    this.preemptions++;
    return true;
  }

  private release(job: Job): void {
    const slot = job.slot;
    if (!slot) return;
    slot.job = null;
    slot.lastUsed = ++this.clock;
    job.slot = null;
  }

  /** One decode of every running request's next tokens; false when nothing was decoded. */
  private async step(): Promise<boolean> {
    // requests aborted while the last decode ran leave now
    for (const s of this.slots) if (s.job?.aborted) this.release(s.job);

    let jobs = this.slots.flatMap((s) => (s.job ? [s.job] : []));
    // every generating sequence needs one cell; make room, preempting if the pool is exhausted
    for (;;) {
      const decoding = jobs.filter((j) => j.pending === 1).length;
      if (this.evictIdle(Math.max(decoding, 1)) >= Math.max(decoding, 1) || !this.preemptNewest()) break;
      jobs = this.slots.flatMap((s) => (s.job ? [s.job] : []));
    }
    if (!jobs.length) return false;

    const batch = this.batch.clear();
    const plan: { job: Job; count: number; output: boolean }[] = [];
    let free = this.kvFree();
    let budget = this.options.stepTokens;
    // a prompt chunk never takes the cells the generating requests need for their next tokens
    let reserved = jobs.filter((j) => j.pending === 1).length;
    // generating sequences first (one token each), then prompt chunks in arrival order
    const ordered = [...jobs].sort((a, b) => (a.pending === 1 ? 0 : 1) - (b.pending === 1 ? 0 : 1) || a.admittedAt - b.admittedAt);
    for (const job of ordered) {
      const slot = job.slot!;
      const pending = job.pending;
      const decoding = pending === 1;
      if (decoding) reserved--;
      const count = Math.min(pending, budget, decoding ? free : free - reserved);
      if (count <= 0) continue;
      for (let i = 0; i < count; i++) {
        const pos = slot.n + i;
        batch.add(job.tokens[pos]!, pos, slot.seq, i === count - 1 && count === pending);
      }
      plan.push({ job, count, output: count === pending });
      budget -= count;
      free -= count;
    }
    if (!plan.length) {
      // no cell for anyone: only possible while several requests hold cells; free the newest
      if (!this.preemptNewest()) this.failAll(new EngineError('ERR_CONTEXT_FULL', 'the KV cache is full'));
      return false;
    }

    this.inFlight = plan.map((p) => p.job);
    this.decodeAbort = new AbortController();
    const need = batch.outputs * this.ctx.nVocab;
    if (this.logitsOut.length < need) this.logitsOut = new Float32Array(need);
    let logits;
    try {
      logits = await this.ctx.decode(batch, { signal: this.decodeAbort.signal, out: this.logitsOut });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ERR_ABORTED') return false; // the batch was rolled back; aborted jobs leave next step
      // the sliding-window ring had too few cells (only possible when shared or restored rows
      // pin more than a window per sequence): rolled back too; the newest request waits
      if (code === 'ERR_CONTEXT_FULL' && this.preemptNewest()) return false;
      for (const p of plan) this.finishWithError(p.job, err);
      return false;
    } finally {
      this.inFlight = [];
      this.decodeAbort = null;
    }

    let row = 0;
    for (const p of plan) {
      const { job } = p;
      const slot = job.slot;
      if (slot) slot.n += p.count;
      if (slot && job.windowSaved < job.promptLength - 1 && this.windows.enabled) {
        job.windowSaved = this.windows.save(job.tokens, slot.seq, job.windowSaved, slot.n, job.promptLength - 1);
      }
      if (!p.output) continue;
      const r = logits.row(row++);
      if (job.aborted) continue;
      this.accept(job, job.sampler.sample(r));
    }
    return true;
  }

  /** A sampled token: the request's output takes it; a request that is done leaves its slot. */
  private accept(job: Job, t: SampledToken): void {
    this.generated++;
    const done = job.accept(t, this.tokens, this.nCtx);
    if (!done) return;
    this.release(job);
    job.stream.end(job.result(done.reason, done.stoppedBy));
  }

  private finishWithError(job: Job, err: unknown): void {
    const slot = job.slot;
    this.release(job);
    if (slot && !this.ctx.closed) {
      // what the cache holds for a failed batch is unknown: drop it
      this.ctx.seqRemove(slot.seq, 0, -1);
      slot.n = 0;
      slot.tokens = [];
    }
    job.aborted = true;
    job.stream.fail(err);
  }

  private failAll(err: unknown): void {
    for (const s of this.slots) if (s.job) this.finishWithError(s.job, err);
  }
}
