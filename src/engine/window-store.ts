// Host copies of the sliding-window layers' rows of prompt positions, so that a later request
// sharing a prefix longer than the window can take it over exactly although the ring has moved on.
//
// The global layers keep every cached position; the sliding layers keep a ring of about a window
// per sequence (kv_cache.cpp). To continue a sequence at position c, the sliding layers need the
// rows of [c - window + 1, c), which the ring has overwritten once its sequence went on a window
// further. These are saved here as each prompt is prefilled, in blocks of BLOCK positions (and
// one ending where a later identical prompt resumes), keyed by the tokens before their end, so
// a block is the same rows whoever computed it: the rows of a position depend only on the
// tokens up to it. Immutable, so there is nothing to invalidate; least recently used go first
// when the byte budget is spent.
//
// (llama-server keeps whole windows as "context checkpoints" at a few points; consecutive blocks
// store each row once, so any block end is a resume point at the cost of one window of rows.)
import type { Context } from '../runtime/context.js';

/** Positions per block: a shared prefix is resumed at most this many tokens before its end. */
export const BLOCK = 64;

interface Block {
  /** positions [p0, end) */
  p0: number;
  end: number;
  /** whose prefix [0, end) the rows belong to (a request's token array; only that prefix is read) */
  tokens: readonly number[];
  rows: Uint8Array;
  lastUsed: number;
}

function samePrefix(a: readonly number[], b: readonly number[], n: number): boolean {
  if (a.length < n || b.length < n) return false;
  for (let i = n - 1; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}

export interface WindowHit {
  /** the position the request resumes at: its cells [0, at) shared, the window restored */
  at: number;
  blocks: readonly Block[];
}

export class WindowStore {
  private readonly byEnd = new Map<number, Block[]>();
  private used = 0;
  private clock = 0;

  /**
   * `window`: the sliding layers' window (0: the context has no ring and nothing is stored);
   * `limit`: bytes held at most.
   */
  constructor(
    private readonly ctx: Context,
    private readonly window: number,
    private readonly limit: number,
  ) {}

  get enabled(): boolean {
    return this.window > 0 && this.limit > 0;
  }

  get bytes(): number {
    return this.used;
  }

  /**
   * After a decode: saves the blocks of `tokens`' positions [from, to) that seq's ring still
   * holds, cut at multiples of BLOCK and at `resumeEnd` (the last position a later request with
   * this prompt resumes at). Returns where the next call should start.
   */
  save(tokens: readonly number[], seq: number, from: number, to: number, resumeEnd: number): number {
    to = Math.min(to, resumeEnd);
    while (from < to) {
      const end = Math.min(to, (Math.floor(from / BLOCK) + 1) * BLOCK);
      // an incomplete block waits for the rest, unless it ends where a resume would start
      if (end % BLOCK !== 0 && end !== resumeEnd) break;
      this.add(tokens, seq, from, end);
      from = end;
    }
    return from;
  }

  private add(tokens: readonly number[], seq: number, p0: number, end: number): void {
    const same = this.byEnd.get(end)?.find((b) => b.p0 <= p0 && samePrefix(b.tokens, tokens, end));
    if (same) {
      same.lastUsed = ++this.clock;
      return;
    }
    let rows: Uint8Array;
    try {
      rows = this.ctx.seqSave(seq, p0, end, true);
    } catch {
      return; // the ring no longer holds all of them (a long chunk went past): this block is missing
    }
    if (rows.byteLength > this.limit) return;
    while (this.used + rows.byteLength > this.limit) this.evictOldest();
    const list = this.byEnd.get(end) ?? [];
    list.push({ p0, end, tokens, rows, lastUsed: ++this.clock });
    this.byEnd.set(end, list);
    this.used += rows.byteLength;
  }

  private evictOldest(): void {
    let oldest: Block | null = null;
    for (const list of this.byEnd.values()) for (const b of list) if (!oldest || b.lastUsed < oldest.lastUsed) oldest = b;
    if (!oldest) return;
    const list = this.byEnd.get(oldest.end)!;
    list.splice(list.indexOf(oldest), 1);
    if (!list.length) this.byEnd.delete(oldest.end);
    this.used -= oldest.rows.byteLength;
  }

  /**
   * The furthest position <= `limit` at which `tokens` can resume with stored windows: blocks of
   * its own prefix covering [at - window + 1, at). Null when there is none.
   */
  find(tokens: readonly number[], limit: number): WindowHit | null {
    if (!this.enabled) return null;
    const ends = [...this.byEnd.keys()].filter((e) => e <= limit).sort((a, b) => b - a);
    for (const at of ends) {
      const need = Math.max(0, at - this.window + 1);
      const blocks: Block[] = [];
      let pos = at;
      while (pos > need) {
        const b = this.byEnd.get(pos)?.find((x) => x.p0 < pos && samePrefix(x.tokens, tokens, pos));
        if (!b) break;
        blocks.push(b);
        pos = b.p0;
      }
      if (pos <= need) return { at, blocks };
    }
    return null;
  }

  /** Puts a hit's rows into seq's ring (its global cells [0, hit.at) already shared). False if they did not fit. */
  restore(seq: number, hit: WindowHit): boolean {
    try {
      for (const b of hit.blocks) {
        this.ctx.seqRestore(seq, b.p0, b.rows);
        b.lastUsed = ++this.clock;
      }
      return true;
    } catch {
      return false;
    }
  }
}
