// Per-token output bytes and special flags, precomputed once so that tokenBytes(), isSpecial()
// and decode() cost a lookup per token: one flat byte buffer with offsets, not 262k arrays.
import { TokenizerError } from './errors.js';

const utf8 = new TextEncoder();

export class TokenTable {
  readonly size: number;
  private readonly bytes: Uint8Array;
  private readonly offsets: Uint32Array;
  private readonly special: Uint8Array;
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  /** pieces[i]: the text token i contributes, a number 0..255 for a byte token, or raw bytes. */
  constructor(pieces: ReadonlyArray<string | number | Uint8Array>, special: Uint8Array) {
    this.size = pieces.length;
    this.special = special;
    // one pass straight into a buffer sized for the worst case (3 UTF-8 bytes per UTF-16 unit)
    let cap = 0;
    for (const p of pieces) cap += typeof p === 'number' ? 1 : typeof p === 'string' ? 3 * p.length : p.length;
    const buf = new Uint8Array(cap);
    this.offsets = new Uint32Array(pieces.length + 1);
    let o = 0;
    for (let i = 0; i < pieces.length; i++) {
      this.offsets[i] = o;
      const p = pieces[i]!;
      if (typeof p === 'number') buf[o++] = p;
      else if (typeof p === 'string') o += utf8.encodeInto(p, buf.subarray(o)).written;
      else {
        buf.set(p, o);
        o += p.length;
      }
    }
    this.offsets[pieces.length] = o;
    this.bytes = buf.slice(0, o);
  }

  private check(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.size) {
      throw new TokenizerError('ERR_INVALID_ARG', `token id ${id} is outside the vocabulary (0..${this.size - 1})`);
    }
  }

  /** A view into the shared table: read it, do not write to it. */
  tokenBytes(id: number): Uint8Array {
    this.check(id);
    return this.bytes.subarray(this.offsets[id]!, this.offsets[id + 1]!);
  }

  isSpecial(id: number): boolean {
    this.check(id);
    return this.special[id] === 1;
  }

  decode(ids: readonly number[], skipSpecial: boolean, dropLeadingSpace: boolean): string {
    let n = 0;
    for (const id of ids) {
      this.check(id);
      if (!(skipSpecial && this.special[id] === 1)) n += this.offsets[id + 1]! - this.offsets[id]!;
    }
    const out = new Uint8Array(n);
    let o = 0;
    for (const id of ids) {
      if (skipSpecial && this.special[id] === 1) continue;
      const s = this.offsets[id]!;
      const e = this.offsets[id + 1]!;
      out.set(this.bytes.subarray(s, e), o);
      o += e - s;
    }
    const start = dropLeadingSpace && out[0] === 0x20 ? 1 : 0;
    return this.decoder.decode(out.subarray(start));
  }
}

const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

/** The byte a SentencePiece byte-fallback piece ("<0x0A>") stands for, or undefined. */
export function byteOfPiece(piece: string): number | undefined {
  const m = BYTE_TOKEN.exec(piece);
  return m ? parseInt(m[1]!, 16) : undefined;
}
