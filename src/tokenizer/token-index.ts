// Token text → id without making strings: the SentencePiece merge loop asks "is s[from, to) a
// token?" millions of times for a long prompt, and a string sliced for each question filled the
// heap with garbage. Open addressing over FNV-1a hashes of UTF-16 code units, comparing against
// the packed vocabulary.
import { type PackedVocab, tokenStart } from './packed-vocab.js';

export class TokenIndex {
  private readonly slots: Int32Array; // token id + 1, 0 = empty
  private readonly mask: number;

  constructor(private readonly v: PackedVocab) {
    const n = v.ends.length;
    let size = 1024;
    while (size < n * 4) size *= 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    // later duplicates win, as in llama.cpp's token_to_id
    for (let id = 0; id < n; id++) this.insert(id);
  }

  /** The id of the token whose text is s[from, to), or -1. */
  find(s: string, from: number, to: number): number {
    let h = 0x811c9dc5;
    for (let i = from; i < to; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const slot = this.slots[i]!;
      if (slot === 0) return -1;
      if (this.textIs(slot - 1, s, from, to)) return slot - 1;
    }
  }

  get(text: string): number | undefined {
    const id = this.find(text, 0, text.length);
    return id < 0 ? undefined : id;
  }

  private textIs(id: number, s: string, from: number, to: number): boolean {
    const { chars, ends } = this.v;
    const a = tokenStart(this.v, id);
    if (ends[id]! - a !== to - from) return false;
    for (let i = 0; i < to - from; i++) if (chars[a + i] !== s.charCodeAt(from + i)) return false;
    return true;
  }

  private sameText(x: number, y: number): boolean {
    const { chars, ends } = this.v;
    const a = tokenStart(this.v, x);
    const b = tokenStart(this.v, y);
    if (ends[x]! - a !== ends[y]! - b) return false;
    for (let i = 0; i < ends[x]! - a; i++) if (chars[a + i] !== chars[b + i]) return false;
    return true;
  }

  private insert(id: number): void {
    const { chars, ends } = this.v;
    let h = 0x811c9dc5;
    for (let i = tokenStart(this.v, id); i < ends[id]!; i++) h = Math.imul(h ^ chars[i]!, 0x01000193);
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const slot = this.slots[i]!;
      if (slot === 0 || this.sameText(slot - 1, id)) {
        this.slots[i] = id + 1;
        return;
      }
    }
  }
}
