// KV rows of preempted requests kept in memory, so that their return copies them back instead
// of recomputing them (vLLM's swap preemption; it recomputes when its swap space is full, and so
// do we). A preempted request's cells stay in the cache as an idle prefix; what others trim off
// its tail is saved here first, tail piece by tail piece, each continuing the one before it.
import type { Context } from '../runtime/context.js';

interface Piece {
  p0: number;
  /** positions [p0, p0 + n) */
  n: number;
  rows: Uint8Array;
}

export class SwapSpace {
  private readonly saved = new Map<object, Piece[]>();
  private used = 0;

  /** `limit` bytes at most are held at once; beyond, trimmed cells are dropped (recomputed later). */
  constructor(
    private readonly ctx: Context,
    private readonly limit: number,
  ) {}

  get bytes(): number {
    return this.used;
  }

  /** Saves positions [p0, p1) of seq for `owner` before they are dropped, if there is room. */
  save(owner: object, seq: number, p0: number, p1: number): void {
    if (p1 <= p0) return;
    const pieces = this.saved.get(owner) ?? [];
    // only a piece that ends where the last one began keeps the saved rows one run
    if (pieces.length && pieces.at(-1)!.p0 !== p1) return this.drop(owner);
    const rows = this.ctx.seqSave(seq, p0, p1);
    if (this.used + rows.byteLength > this.limit) return; // what is saved so far still continues its prefix
    pieces.push({ p0, n: p1 - p0, rows });
    this.saved.set(owner, pieces);
    this.used += rows.byteLength;
  }

  /**
   * Where owner's return should resume from the saved rows when it finds positions [0, n) of it
   * cached: the start of the saved piece that covers n (restoring [start, n) too costs a copy,
   * computing them would cost a decode), or n when nothing saved continues there.
   */
  resumeAt(owner: object, n: number): number {
    const piece = this.saved.get(owner)?.find((p) => p.p0 <= n && n < p.p0 + p.n);
    return piece ? piece.p0 : n;
  }

  /**
   * Puts owner's saved rows back into seq when they continue its cache, which holds positions
   * [0, n): from the piece that starts at n on. Returns how many positions the cache now holds.
   * What cannot be used is dropped.
   */
  restore(owner: object, seq: number, n: number): number {
    const pieces = this.saved.get(owner) ?? [];
    const from = pieces.findIndex((p) => p.p0 === n);
    if (from >= 0) {
      // pieces were saved from the tail backwards
      for (let i = from; i >= 0; i--) {
        try {
          this.ctx.seqRestore(seq, pieces[i]!.p0, pieces[i]!.rows);
        } catch {
          break; // no free cells after all (admission counts them): the rest is recomputed
        }
        n = pieces[i]!.p0 + pieces[i]!.n;
      }
    }
    this.drop(owner);
    return n;
  }

  drop(owner: object): void {
    for (const p of this.saved.get(owner) ?? []) this.used -= p.rows.byteLength;
    this.saved.delete(owner);
  }
}
