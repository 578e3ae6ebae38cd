/**
 * Turns generated tokens into text that is safe to show: UTF-8 sequences split across tokens
 * (byte-fallback tokens, emoji) are held until complete, and text that might be the start of a
 * stop string is held until it is known not to be one, so no part of a stop string is ever emitted.
 */
export class TextStream {
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });
  /** decoded text not yet emitted */
  private pending = '';
  private stopped = false;
  private readonly longestStop: number;

  constructor(private readonly stops: readonly string[]) {
    this.longestStop = Math.max(0, ...stops.map((s) => s.length));
  }

  /**
   * Adds a token's bytes. Returns the text that can be emitted now and, when a stop string
   * appeared, which one (the text before it is returned; the rest is dropped).
   */
  push(bytes: Uint8Array): { text: string; stop?: string } {
    if (this.stopped) return { text: '' };
    this.pending += this.decoder.decode(bytes, { stream: true });
    return this.scan(false);
  }

  /** The end of the generation: whatever is held is released (an incomplete UTF-8 tail becomes U+FFFD). */
  finish(): string {
    if (this.stopped) return '';
    this.pending += this.decoder.decode();
    return this.scan(true).text;
  }

  private scan(final: boolean): { text: string; stop?: string } {
    const text = this.pending;
    if (this.stops.length === 0) {
      this.pending = '';
      return { text };
    }
    // the earliest stop string wins; stop strings only need searching in the part not yet
    // cleared, which is all of `pending`
    let at = -1;
    let which: string | undefined;
    for (const s of this.stops) {
      const i = text.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        which = s;
      }
    }
    if (which !== undefined) {
      this.stopped = true;
      this.pending = '';
      return { text: text.slice(0, at), stop: which };
    }
    if (final) {
      this.pending = '';
      return { text };
    }
    const hold = this.heldSuffix(text);
    this.pending = text.slice(text.length - hold);
    return { text: text.slice(0, text.length - hold) };
  }

  /** Length of the longest suffix of text that is a proper prefix of some stop string. */
  private heldSuffix(text: string): number {
    const max = Math.min(text.length, this.longestStop - 1);
    for (let n = max; n > 0; n--) {
      const tail = text.slice(text.length - n);
      if (this.stops.some((s) => s.startsWith(tail))) return n;
    }
    return 0;
  }
}
