// llama.cpp's SentencePiece ("llama" vocabulary) tokenization, step for step, so a GGUF-only
// model tokenizes as llama.cpp tokenizes the same file (src/llama-vocab.cpp):
//  1. control, user-defined and unknown tokens written in the text are split out first, the
//     longest token text first (tokenizer_st_partition);
//  2. every remaining piece of text gets ' ' in front when add_space_prefix is set and it starts
//     the text or follows a token of step 1, then ' ' → '▁';
//  3. starting from single characters, the adjacent pair whose concatenation is a token with the
//     highest score merges first, ties going to the leftmost pair (llm_tokenizer_spm_session);
//  4. what is left that is not a token becomes byte tokens (<0xNN>).
// `tokenizers`' BPE cannot express step 3: a pair merges here when the concatenation is a token
// even if its halves are not, and equal scores tie by position rather than by a merge rank.
import type { PackedVocab } from './packed-vocab.js';
import { SpecialSplitter } from './special-split.js';
import { TokenIndex } from './token-index.js';

const utf8 = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export class SpmEncoder {
  private readonly ids: TokenIndex;
  private readonly scores: Float32Array;
  private readonly byteIds = new Int32Array(256).fill(-1);
  private readonly specials: SpecialSplitter;
  private readonly addSpacePrefix: boolean;
  private readonly unkId: number;

  constructor(vocab: PackedVocab) {
    this.scores = vocab.scores;
    this.addSpacePrefix = vocab.addSpacePrefix;
    this.unkId = vocab.unkId ?? -1;
    this.ids = new TokenIndex(vocab);
    this.specials = new SpecialSplitter(vocab);

    // byte_to_token: "<0xNN>", else the one-byte piece itself
    for (let b = 0; b < 256; b++) {
      const hex = b.toString(16).toUpperCase().padStart(2, '0');
      const id = this.ids.get(`<0x${hex}>`) ?? (b < 0x80 ? this.ids.get(String.fromCharCode(b)) : undefined);
      if (id !== undefined) this.byteIds[b] = id;
    }
  }

  /** llama.cpp's text_to_token. */
  tokenId(text: string): number | undefined {
    return this.ids.get(text);
  }

  encode(input: string, out: number[]): void {
    const text = input.replace(LONE_SURROGATE, '\uFFFD'); // as UTF-8 encoding turns them
    if (text.length === 0) return;
    const frags = this.specials.split(text);
    let prevSpecial = true;
    for (const f of frags) {
      if (typeof f === 'number') {
        out.push(f);
        prevSpecial = true;
        continue;
      }
      this.encodePiece(((this.addSpacePrefix && prevSpecial ? ' ' : '') + f).replaceAll(' ', '▁'), out);
      prevSpecial = false;
    }
  }

  /** llm_tokenizer_spm_session::tokenize on one escaped piece of text. */
  private encodePiece(s: string, out: number[]): void {
    // symbols: one per code point, as a doubly linked list over [start, start + len)
    const n0 = s.length;
    const start = new Int32Array(n0);
    const len = new Int32Array(n0);
    let n = 0;
    for (let i = 0; i < n0; ) {
      const c = s.charCodeAt(i);
      const w = c >= 0xd800 && c <= 0xdbff && i + 1 < n0 ? 2 : 1;
      start[n] = i;
      len[n] = w;
      n++;
      i += w;
    }
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }

    // max-heap of candidate merges: higher score first, then the leftmost
    const cap = 3 * n + 4;
    const hScore = new Float64Array(cap);
    const hLeft = new Int32Array(cap);
    const hRight = new Int32Array(cap);
    const hSize = new Int32Array(cap);
    let hn = 0;
    const before = (a: number, b: number): boolean => hScore[a]! > hScore[b]! || (hScore[a] === hScore[b] && hLeft[a]! < hLeft[b]!);
    const swap = (a: number, b: number): void => {
      let t = hScore[a]!; hScore[a] = hScore[b]!; hScore[b] = t;
      t = hLeft[a]!; hLeft[a] = hLeft[b]!; hLeft[b] = t;
      t = hRight[a]!; hRight[a] = hRight[b]!; hRight[b] = t;
      t = hSize[a]!; hSize[a] = hSize[b]!; hSize[b] = t;
    };
    const tryAdd = (l: number, r: number): void => {
      if (l < 0 || r < 0) return;
      const id = this.ids.find(s, start[l]!, start[r]! + len[r]!);
      if (id < 0) return;
      let i = hn++;
      hScore[i] = this.scores[id]!;
      hLeft[i] = l;
      hRight[i] = r;
      hSize[i] = len[l]! + len[r]!;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!before(i, p)) break;
        swap(i, p);
        i = p;
      }
    };
    for (let i = 1; i < n; i++) tryAdd(i - 1, i);

    while (hn > 0) {
      const l = hLeft[0]!;
      const r = hRight[0]!;
      const size = hSize[0]!;
      hn--;
      if (hn > 0) {
        hScore[0] = hScore[hn]!; hLeft[0] = hLeft[hn]!; hRight[0] = hRight[hn]!; hSize[0] = hSize[hn]!;
        let i = 0;
        for (;;) {
          const a = 2 * i + 1;
          const b = a + 1;
          let m = i;
          if (a < hn && before(a, m)) m = a;
          if (b < hn && before(b, m)) m = b;
          if (m === i) break;
          swap(i, m);
          i = m;
        }
      }
      // stale: one side was merged away or grew since this pair was queued
      if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== size) continue;
      len[l] = size;
      len[r] = 0;
      next[l] = next[r]!;
      if (next[r]! >= 0) prev[next[r]!] = l;
      tryAdd(prev[l]!, l);
      tryAdd(l, next[l]!);
    }

    for (let i = 0; i !== -1 && n > 0; i = next[i]!) {
      const id = this.ids.find(s, start[i]!, start[i]! + len[i]!);
      if (id >= 0) {
        out.push(id);
        continue;
      }
      for (const b of utf8.encode(s.slice(start[i]!, start[i]! + len[i]!))) {
        // a vocabulary without byte tokens: llama.cpp would fail here; <unk> is the honest stand-in
        const bid = this.byteIds[b]! >= 0 ? this.byteIds[b]! : this.unkId;
        if (bid >= 0) out.push(bid);
      }
    }
  }
}
