// llama.cpp's Unigram ("t5" vocabulary: T5, XLM-RoBERTa and its rerankers) tokenization, step for
// step, so a GGUF-only model tokenizes as llama.cpp tokenizes the same file (src/llama-vocab.cpp,
// llm_tokenizer_ugm):
//  1. control, user-defined and unknown tokens written in the text are split out first, as for
//     the other vocabularies (special-split.ts);
//  2. normalization over UTF-8 bytes: a user-defined token's text passes as it is; else the
//     longest prefix the precompiled charsmap maps (SentencePiece's XOR-compressed double array)
//     is replaced; else one UTF-8 character passes (invalid bytes become U+FFFD). Spaces become
//     '▁' (escape_whitespaces), runs of them one (remove_extra_whitespaces), and one goes in front
//     (add_space_prefix);
//  3. Viterbi over the normalized text: at each code point, every token (normal, user-defined,
//     unused) that starts there competes by the sum of scores (user-defined ones score 0); a code
//     point no single token covers costs the unknown token's score, the lowest normal score - 10;
//     consecutive unknown tokens merge into one.
// Where `tokenizers` (an HF directory's tokenizer.json) differs: trailing spaces, which it keeps
// as a '▁' token and llama.cpp (and sentencepiece) drop. Each form follows its own tool.
import { TokenizerError } from './errors.js';
import { TokenType } from './gguf-vocab.js';
import { type PackedVocab, tokenStart, tokenText } from './packed-vocab.js';
import { SpecialSplitter } from './special-split.js';
import { TokenIndex } from './token-index.js';

export interface UgmOptions {
  /** tokenizer.ggml.precompiled_charsmap: SentencePiece's normalization table (may be empty) */
  charsmap: Uint8Array;
  removeExtraWhitespaces: boolean;
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();
const SPACE = 0x20;
const ESCAPED_SPACE = [0xe2, 0x96, 0x81]; // '▁'
const REPLACEMENT = [0xef, 0xbf, 0xbd]; // U+FFFD
const UNKNOWN_PENALTY = 10;

function corrupt(what: string): TokenizerError {
  return new TokenizerError('ERR_BAD_MODEL_FILE', `GGUF tokenizer metadata: the precompiled charsmap ${what}; the file was not written by a working GGUF converter`);
}

/** SentencePiece's precompiled charsmap: a double array over UTF-8 bytes and the replacements. */
class Charsmap {
  private readonly nodes: Uint32Array;
  private readonly replacements: Uint8Array;

  constructor(blob: Uint8Array) {
    if (blob.length === 0) {
      this.nodes = new Uint32Array(0);
      this.replacements = blob;
      return;
    }
    if (blob.length < 4) throw corrupt('is shorter than its header');
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const size = view.getUint32(0, true);
    if (size % 4 !== 0 || 4 + size > blob.length) throw corrupt('array overruns it');
    this.nodes = new Uint32Array(size / 4);
    for (let i = 0; i < this.nodes.length; i++) this.nodes[i] = view.getUint32(4 + 4 * i, true);
    this.replacements = blob.subarray(4 + size);
  }

  private node(i: number): number {
    if (i >= this.nodes.length) throw corrupt('is corrupt (a node outside its array)');
    return this.nodes[i]!;
  }

  private base(i: number): number {
    const n = this.node(i);
    return ((n >>> 10) << ((n & (1 << 9)) >>> 6)) >>> 0;
  }

  /** The longest prefix of bytes[at..] the map replaces: [length, replacement] or undefined. */
  match(bytes: Uint8Array, at: number): [number, Uint8Array] | undefined {
    if (this.nodes.length === 0) return undefined;
    let length = 0;
    let value = 0;
    let index = this.base(0);
    for (let p = at; p < bytes.length; p++) {
      const c = bytes[p]!;
      if (c === 0) break;
      index = (index ^ c) >>> 0;
      const n = this.node(index);
      if ((n & 0x800000ff) >>> 0 !== c) break; // LCHECK: not a child of the previous node
      const leaf = (n >>> 8) & 1;
      index = (index ^ this.base(index)) >>> 0;
      if (leaf) {
        length = p - at + 1;
        value = this.node(index) & 0x7fffffff;
      }
    }
    if (length === 0) return undefined;
    if (value >= this.replacements.length) throw corrupt('is corrupt (a replacement outside it)');
    let end = value;
    while (end < this.replacements.length && this.replacements[end] !== 0) end++;
    if (end === this.replacements.length) throw corrupt('is corrupt (an unterminated replacement)');
    return [length, this.replacements.subarray(value, end)];
  }
}

/** The length of the valid UTF-8 sequence at bytes[at], or 0 when it is not one. */
function utf8Length(bytes: Uint8Array, at: number): number {
  const b = bytes[at]!;
  const n = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
  if (n === 0 || at + n > bytes.length) return 0;
  for (let i = 1; i < n; i++) if ((bytes[at + i]! & 0xc0) !== 0x80) return 0;
  return n;
}

export class UgmEncoder {
  private readonly ids: TokenIndex;
  private readonly specials: SpecialSplitter;
  private readonly charsmap: Charsmap;
  private readonly matchable: Uint8Array; // 1: a token Viterbi may use
  private readonly userDefined: Uint8Array[]; // UTF-8 texts normalization passes unchanged
  private readonly userDefinedIds: Uint8Array;
  private readonly scores: Float32Array;
  private readonly unknownScore: number;
  private readonly unkId: number;
  private readonly maxTokenLength: number; // in UTF-16 code units
  private readonly addSpacePrefix: boolean;
  private readonly removeExtraWhitespaces: boolean;

  constructor(vocab: PackedVocab, options: UgmOptions) {
    this.ids = new TokenIndex(vocab);
    this.specials = new SpecialSplitter(vocab);
    this.charsmap = new Charsmap(options.charsmap);
    this.scores = vocab.scores;
    this.unkId = vocab.unkId ?? -1;
    this.addSpacePrefix = vocab.addSpacePrefix;
    this.removeExtraWhitespaces = options.removeExtraWhitespaces;
    const n = vocab.types.length;
    this.matchable = new Uint8Array(n);
    this.userDefinedIds = new Uint8Array(n);
    this.userDefined = [];
    let min = Infinity;
    let longest = 0;
    for (let id = 0; id < n; id++) {
      const t = vocab.types[id];
      if (t === TokenType.NORMAL) min = Math.min(min, this.scores[id]!);
      if (t === TokenType.NORMAL || t === TokenType.USER_DEFINED || t === TokenType.UNUSED) {
        this.matchable[id] = 1;
        longest = Math.max(longest, vocab.ends[id]! - tokenStart(vocab, id));
      }
      if (t === TokenType.USER_DEFINED) {
        this.userDefinedIds[id] = 1;
        const text = tokenText(vocab, id);
        if (text.length > 0) this.userDefined.push(utf8.encode(text));
      }
    }
    // llama.cpp starts min_score at FLT_MAX: a vocabulary without normal tokens keeps it
    this.unknownScore = (min === Infinity ? 3.4028234663852886e38 : min) - UNKNOWN_PENALTY;
    this.maxTokenLength = longest;
  }

  tokenId(text: string): number | undefined {
    return this.ids.get(text);
  }

  encode(text: string, out: number[]): void {
    if (text.length === 0) return;
    for (const f of this.specials.split(text)) {
      if (typeof f === 'number') out.push(f);
      else this.encodePiece(this.normalize(utf8.encode(f)), out);
    }
  }

  /** llm_tokenizer_ugm_session::normalize: bytes in, the normalized text out. */
  private normalize(input: Uint8Array): string {
    const out: number[] = [];
    const merge = this.removeExtraWhitespaces;
    let spacePrepended = false;
    let inWord = false;
    const put = (c: number) => {
      if (c !== SPACE) {
        if (!inWord) {
          inWord = true;
          if ((this.addSpacePrefix && !spacePrepended) || merge) {
            out.push(...ESCAPED_SPACE);
            spacePrepended = true;
          }
        }
        out.push(c);
      } else {
        inWord = false;
        if (!merge) out.push(...ESCAPED_SPACE);
      }
    };
    for (let at = 0; at < input.length; ) {
      const user = this.userDefinedAt(input, at);
      if (user > 0) {
        for (let i = 0; i < user; i++) put(input[at + i]!);
        at += user;
        continue;
      }
      const mapped = this.charsmap.match(input, at);
      if (mapped) {
        for (const c of mapped[1]) put(c);
        at += mapped[0];
        continue;
      }
      const n = utf8Length(input, at);
      if (n === 0) {
        for (const c of REPLACEMENT) put(c);
        at += 1;
      } else {
        for (let i = 0; i < n; i++) put(input[at + i]!);
        at += n;
      }
    }
    return utf8Decoder.decode(Uint8Array.from(out));
  }

  /** The length of the longest user-defined token at input[at], or 0. */
  private userDefinedAt(input: Uint8Array, at: number): number {
    let best = 0;
    for (const t of this.userDefined) {
      if (t.length <= best || at + t.length > input.length) continue;
      let same = true;
      for (let i = 0; i < t.length && same; i++) same = input[at + i] === t[i];
      if (same) best = t.length;
    }
    return best;
  }

  /** llm_tokenizer_ugm_session::tokenize (Viterbi) on normalized text. */
  private encodePiece(s: string, out: number[]): void {
    const n = s.length;
    if (n === 0) return;
    // best tokenization ending at each offset: its last token, where that token starts, the score
    const token = new Int32Array(n + 1).fill(this.unkId);
    const from = new Int32Array(n + 1);
    const score = new Float64Array(n + 1).fill(-Number.MAX_VALUE);
    score[0] = 0;
    for (let at = 0; at < n; ) {
      const c = s.charCodeAt(at);
      const width = c >= 0xd800 && c <= 0xdbff && at + 1 < n ? 2 : 1;
      const here = score[at]!;
      let covered = false;
      const last = Math.min(n, at + this.maxTokenLength);
      for (let end = at + 1; end <= last; end++) {
        const id = this.ids.find(s, at, end);
        if (id < 0 || !this.matchable[id]) continue;
        if (end - at === width) covered = true;
        const challenger = here + (this.userDefinedIds[id] ? 0 : this.scores[id]!);
        if (challenger > score[end]!) {
          score[end] = challenger;
          token[end] = id;
          from[end] = at;
        }
      }
      if (!covered) {
        const end = at + width;
        const challenger = here + this.unknownScore;
        if (challenger > score[end]!) {
          score[end] = challenger;
          token[end] = this.unkId;
          from[end] = at;
        }
      }
      at += width;
    }
    // back from the end; a run of unknown tokens becomes one
    const ids: number[] = [];
    let prevUnknown = false;
    for (let at = n; ; at = from[at]!) {
      const unknown = token[at] === this.unkId;
      if (!(prevUnknown && unknown)) ids.push(token[at]!);
      if (from[at] === 0) break;
      prevUnknown = unknown;
    }
    for (let i = ids.length - 1; i >= 0; i--) out.push(ids[i]!);
  }
}
