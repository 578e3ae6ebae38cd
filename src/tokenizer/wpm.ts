// llama.cpp's WordPiece ("bert" vocabulary) tokenization, step for step, so that a GGUF embedding
// model tokenizes as llama.cpp tokenizes the same file (src/llama-vocab.cpp, llm_tokenizer_wpm):
//  1. control, user-defined and unknown tokens written in the text are split out first
//     (special-split.ts);
//  2. each remaining stretch of text is cut into words, code point by code point: with
//     strip_accents, every code point is first replaced by the FIRST code point of its NFD form
//     (one code point in, one out); whitespace ends a word; NUL, U+FFFD and characters of
//     category Cc, Cf, Co, Cs (not Cn) are dropped; with strip_accents, marks (M*) are dropped;
//     punctuation (P*), ASCII symbols (S* below U+007F) and CJK ideographs are words of their
//     own; anything else joins the current word, lowercased (simple mapping) with lowercase;
//  3. each word, with '▁' in front (the converter writes word-start pieces as '▁x' and '##x'
//     continuations as 'x'), is matched longest-first from the left; if some position matches
//     no token, the whole word becomes [UNK].
// The character classes come from this runtime's Unicode data (ICU), llama.cpp's from a table
// generated from Unicode 15's UnicodeData.txt; code points assigned since (NEWER below) are
// unassigned there, so they are kept as they are, as llama.cpp keeps them.
//
// Where llama.cpp differs from HF `tokenizers` (BertNormalizer + BertPreTokenizer + WordPiece)
// on the same vocabulary; we follow llama.cpp here and `tokenizers` on the HF directory path
// (test/tokenizer-wpm.test.ts asserts each):
//  - NFD keeps only the first code point, so a character whose decomposition does not start
//    with its base letter loses the rest: Hangul syllables keep their leading consonant only
//    ('한국' → '▁ᄒ' 'ᄀ'; tokenizers: 'ᄒ' '##ᅡ' '##ᆫ' '##ᄀ' '##ᅮ' '##ᆨ');
//  - all marks are stripped (Mn, Mc, Me), tokenizers strips Mn only: 'हि' → '▁ह' here (the
//    vowel sign U+093F is Mc), 'ह' '##ि' there; 'x\u20dd' (Me) → '▁x' here, [UNK] there;
//  - U+000B, U+000C and U+0085 are whitespace here (they split words); tokenizers removes them
//    as control characters first ('a\u000bb' → '▁a' '▁b' here, 'ab' there);
//  - no max_input_chars_per_word: a word longer than 100 characters is still split into pieces
//    (tokenizers makes it [UNK]);
//  - a literal '▁' (U+2581, a symbol, so it joins words) matches the word-start form of the next
//    piece: 'x▁x' → '▁x' '▁x' here, [UNK] there;
//  - tokenizers' Unicode tables are older: characters they do not know as punctuation or marks
//    (U+061D, U+2E55-U+2E5D, U+07FD, U+0898...) stay inside words there ('a\u061db' → '▁a' [UNK]
//    '▁b' here, [UNK] there), and U+166D is punctuation there, a symbol here.
import { type PackedVocab } from './packed-vocab.js';
import { SpecialSplitter } from './special-split.js';

export interface WpmOptions {
  /** tokenizer.ggml.normalizer.lowercase (llama.cpp: default true) */
  lowercase: boolean;
  /** tokenizer.ggml.normalizer.strip_accents (llama.cpp: default = lowercase) */
  stripAccents: boolean;
}

const WORD_START = 0x2581; // '▁'
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

// what one code point does to the word being built: end it, vanish, join it, or be a word alone
const END = 1;
const DROP = 2;
const JOIN = 4;
const ALONE = 5;

const WHITESPACE = new Set([0x20, 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000]);
const OTHER = /^[\p{Cc}\p{Cf}\p{Co}\p{Cs}]$/u; // llama.cpp's CONTROL flag; Cn is not in it
const MARK = /^\p{M}$/u;
const PUNCTUATION = /^\p{P}$/u;
const SYMBOL = /^\p{S}$/u;

/**
 * Code points assigned in Unicode 16 and 17 that are not simply letters (marks, punctuation,
 * symbols, letters with a lowercase form): llama.cpp's tables predate them, so it keeps them
 * unchanged inside words where this runtime's ICU data would drop, split or lowercase them.
 * Found by running every code point through llama.cpp (test/tokenizer-wpm.test.ts).
 */
const NEWER: ReadonlyArray<readonly [number, number]> = [
  [0x897, 0x897], [0x1acf, 0x1add], [0x1ae0, 0x1aeb], [0x1b4e, 0x1b4f], [0x1b7f, 0x1b7f], [0x1c89, 0x1c89],
  [0xa7cb, 0xa7cc], [0xa7ce, 0xa7ce], [0xa7d2, 0xa7d2], [0xa7d4, 0xa7d4], [0xa7da, 0xa7da], [0xa7dc, 0xa7dc],
  [0x105c9, 0x105c9], [0x105e4, 0x105e4], [0x10d50, 0x10d65], [0x10d69, 0x10d6e], [0x10ed0, 0x10ed0],
  [0x10efa, 0x10efc], [0x11383, 0x11383], [0x11385, 0x11385], [0x1138e, 0x1138e], [0x11391, 0x11391],
  [0x113b8, 0x113c0], [0x113c2, 0x113c2], [0x113c5, 0x113c5], [0x113c7, 0x113ca], [0x113cc, 0x113d0],
  [0x113d2, 0x113d2], [0x113d4, 0x113d5], [0x113d7, 0x113d8], [0x113e1, 0x113e2], [0x11b60, 0x11b67],
  [0x11be1, 0x11be1], [0x11f5a, 0x11f5a], [0x1611e, 0x1612f], [0x16d68, 0x16d6a], [0x16d6d, 0x16d6f],
  [0x16ea0, 0x16eb8], [0x1e5ee, 0x1e5ef], [0x1e5ff, 0x1e5ff], [0x1e6e3, 0x1e6e3], [0x1e6e6, 0x1e6e6],
  [0x1e6ee, 0x1e6ef], [0x1e6f5, 0x1e6f5],
];

function isNewer(cp: number): boolean {
  return NEWER.some(([a, b]) => cp >= a && cp <= b);
}

function isWhitespace(cp: number): boolean {
  return (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x2000 && cp <= 0x200a) || WHITESPACE.has(cp);
}

/** BertNormalizer's CJK ranges, 0x2B920 (not 0x2B820) included, as llama.cpp copies them. */
function isCjk(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df)
    || (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b920 && cp <= 0x2ceaf)
    || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

/** One code point's action, and the code point it contributes (JOIN / ALONE), as (cp << 3) | action. */
function classify(cp0: number, o: WpmOptions): number {
  if (isNewer(cp0)) return (cp0 << 3) | JOIN;
  const cp = o.stripAccents ? String.fromCodePoint(cp0).normalize('NFD').codePointAt(0)! : cp0;
  if (isWhitespace(cp)) return END;
  const ch = String.fromCodePoint(cp);
  if (cp === 0 || cp === 0xfffd || OTHER.test(ch)) return DROP;
  if (o.stripAccents && MARK.test(ch)) return DROP;
  // simple lowercase mapping: the first code point of the full one (U+0130 → 'i', not 'i̇')
  const out = o.lowercase ? ch.toLowerCase().codePointAt(0)! : cp;
  const alone = PUNCTUATION.test(ch) || (cp < 0x7f && SYMBOL.test(ch)) || isCjk(cp);
  return (out << 3) | (alone ? ALONE : JOIN);
}

/** Actions per code point, filled in as code points are met (one table per option set). */
class CharActions {
  private readonly bmp = new Int32Array(0x10000);
  private readonly astral = new Map<number, number>();

  constructor(private readonly o: WpmOptions) {}

  get(cp: number): number {
    if (cp < 0x10000) {
      let a = this.bmp[cp]!;
      if (a === 0) this.bmp[cp] = a = classify(cp, this.o);
      return a;
    }
    let a = this.astral.get(cp);
    if (a === undefined) this.astral.set(cp, (a = classify(cp, this.o)));
    return a;
  }
}

const actionTables = new Map<string, CharActions>();

function actionsFor(o: WpmOptions): CharActions {
  const key = `${o.lowercase}/${o.stripAccents}`;
  let t = actionTables.get(key);
  if (!t) actionTables.set(key, (t = new CharActions(o)));
  return t;
}

/**
 * The vocabulary as a trie of UTF-16 code units, kept in flat arrays: edges in an open-addressing
 * table keyed by (node, code unit). Walking it finds the longest token at a position in one pass,
 * where asking "is this substring a token?" for every length from the longest down hashes each
 * candidate (100,000 tokens of 300-letter words took 20 times as long that way).
 */
class VocabTrie {
  /** token id ending at each node (-1: none); node 0 is the root */
  private readonly tokenAt: Int32Array;
  private readonly edgeNode: Int32Array;
  private readonly edgeUnit: Uint16Array;
  private readonly edgeChild: Int32Array; // child node + 1, 0 = empty slot
  private readonly mask: number;
  private readonly shift: number;
  private nodes = 1;

  constructor(v: PackedVocab) {
    const units = v.chars.length;
    let bits = 10;
    while (1 << bits < units * 1.5) bits++;
    const size = 1 << bits;
    this.mask = size - 1;
    this.shift = 32 - bits;
    this.edgeNode = new Int32Array(size);
    this.edgeUnit = new Uint16Array(size);
    this.edgeChild = new Int32Array(size);
    this.tokenAt = new Int32Array(units + 1).fill(-1);
    // later duplicates win, as in llama.cpp's token_to_id
    for (let id = 0, at = 0; id < v.ends.length; id++) {
      let node = 0;
      for (; at < v.ends[id]!; at++) node = this.childOrAdd(node, v.chars[at]!);
      if (node !== 0) this.tokenAt[node] = id;
    }
  }

  private slot(node: number, unit: number): number {
    // multiplicative hashing: the high bits of the product are the well-mixed ones
    let i = Math.imul(node ^ Math.imul(unit, 0x85ebca6b), 0x9e3779b1) >>> this.shift;
    while (this.edgeChild[i] !== 0 && (this.edgeNode[i] !== node || this.edgeUnit[i] !== unit)) i = (i + 1) & this.mask;
    return i;
  }

  private childOrAdd(node: number, unit: number): number {
    const i = this.slot(node, unit);
    if (this.edgeChild[i] === 0) {
      this.edgeNode[i] = node;
      this.edgeUnit[i] = unit;
      this.edgeChild[i] = ++this.nodes;
    }
    return this.edgeChild[i]! - 1;
  }

  /** The child of node along a code unit, or -1. */
  child(node: number, unit: number): number {
    return this.edgeChild[this.slot(node, unit)]! - 1;
  }

  token(node: number): number {
    return this.tokenAt[node]!;
  }
}

export class WpmEncoder {
  private readonly trie: VocabTrie;
  private readonly specials: SpecialSplitter;
  private readonly actions: CharActions;
  private readonly unkId: number;
  /** the word being built, '▁' first */
  private word = new Uint16Array(256);

  constructor(vocab: PackedVocab, options: WpmOptions) {
    this.trie = new VocabTrie(vocab);
    this.specials = new SpecialSplitter(vocab);
    this.actions = actionsFor(options);
    this.unkId = vocab.unkId ?? -1;
  }

  /** llama.cpp's text_to_token. */
  tokenId(text: string): number | undefined {
    let node = 0;
    for (let i = 0; i < text.length && node >= 0; i++) node = this.trie.child(node, text.charCodeAt(i));
    const id = node > 0 ? this.trie.token(node) : -1;
    return id >= 0 ? id : undefined;
  }

  encode(input: string, out: number[]): void {
    const text = input.replace(LONE_SURROGATE, '\uFFFD'); // as UTF-8 encoding turns them
    if (text.length === 0) return;
    for (const part of this.specials.split(text)) {
      if (typeof part === 'number') out.push(part);
      else this.encodeText(part, out);
    }
  }

  /** llm_tokenizer_wpm_session::tokenize on one stretch of raw text. */
  private encodeText(text: string, out: number[]): void {
    let w = this.word;
    w[0] = WORD_START;
    let n = 1;
    for (let i = 0; i < text.length; i++) {
      let cp = text.charCodeAt(i);
      if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < text.length) cp = text.codePointAt(i++)!;
      const a = this.actions.get(cp);
      const kind = a & 7;
      if (kind === DROP) continue;
      if (kind === END || kind === ALONE) {
        if (n > 1) this.encodeWord(n, out);
        n = 1;
        if (kind === END) continue;
      }
      if (n + 2 > w.length) {
        const wider = new Uint16Array(w.length * 2);
        wider.set(w);
        this.word = w = wider;
      }
      const c = a >>> 3;
      if (c < 0x10000) w[n++] = c;
      else {
        w[n++] = 0xd800 + ((c - 0x10000) >> 10);
        w[n++] = 0xdc00 + ((c - 0x10000) & 0x3ff);
      }
      if (kind === ALONE) {
        this.encodeWord(n, out);
        n = 1;
      }
    }
    if (n > 1) this.encodeWord(n, out);
  }

  /** The word in this.word[0, n): longest token first, from the left; [UNK] for all of it when some position matches nothing. */
  private encodeWord(n: number, out: number[]): void {
    const w = this.word;
    const mark = out.length;
    for (let i = 0; i < n; ) {
      let best = -1;
      let end = i;
      for (let j = i, node = 0; j < n; j++) {
        node = this.trie.child(node, w[j]!);
        if (node < 0) break;
        const id = this.trie.token(node);
        if (id >= 0) {
          best = id;
          end = j + 1;
        }
      }
      if (best < 0) {
        out.length = mark;
        // (a vocabulary without an [UNK] id: llama.cpp pushes LLAMA_TOKEN_NULL, we push nothing)
        if (this.unkId >= 0) out.push(this.unkId);
        return;
      }
      out.push(best);
      i = end;
    }
  }
}
