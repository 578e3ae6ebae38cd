// What each token contributes to the output text, read off tokenizer.json's decoder so that
// per-token bytes agree with what `tokenizers` decode() produces for the sequence.
import { byteOfPiece } from './token-table.js';

type Json = Record<string, unknown>;

export interface PieceRules {
  /** '▁' → ' ' (Replace or Metaspace decoder) */
  metaspace: boolean;
  /** <0xNN> pieces are raw bytes (ByteFallback decoder) */
  byteFallback: boolean;
  /** GPT-2 style byte-to-unicode alphabet (ByteLevel decoder) */
  byteLevel: boolean;
  /** WordPiece: "##x" continues a word, other pieces start one (" x") */
  wordPiecePrefix: string | undefined;
  /** the decoder drops one leading space of the whole text (Strip, Metaspace prepend, WordPiece) */
  dropLeadingSpace: boolean;
}

function steps(decoder: unknown): Json[] {
  if (!decoder || typeof decoder !== 'object') return [];
  const d = decoder as Json;
  if (d.type === 'Sequence' && Array.isArray(d.decoders)) return d.decoders.flatMap(steps);
  return [d];
}

export function pieceRules(tokenizerJson: Json): PieceRules {
  const rules: PieceRules = { metaspace: false, byteFallback: false, byteLevel: false, wordPiecePrefix: undefined, dropLeadingSpace: false };
  for (const s of steps(tokenizerJson.decoder)) {
    switch (s.type) {
      case 'Replace': {
        const pat = (s.pattern as Json | undefined)?.String;
        if (pat === '▁' && s.content === ' ') rules.metaspace = true;
        break;
      }
      case 'Metaspace':
        rules.metaspace = true;
        // prepend_scheme (newer) or add_prefix_space (older): the decoder strips the prefix space
        if ((s.prepend_scheme !== undefined && s.prepend_scheme !== 'never') || s.add_prefix_space === true) rules.dropLeadingSpace = true;
        break;
      case 'ByteFallback':
        rules.byteFallback = true;
        break;
      case 'ByteLevel':
        rules.byteLevel = true;
        break;
      case 'WordPiece':
        rules.wordPiecePrefix = typeof s.prefix === 'string' ? s.prefix : '##';
        rules.dropLeadingSpace = true;
        break;
      case 'Strip':
        if (s.content === ' ' && typeof s.start === 'number' && s.start > 0) rules.dropLeadingSpace = true;
        break;
      default:
        break; // Fuse, CTC, ...: no per-token effect
    }
  }
  return rules;
}

let byteLevelMap: Map<string, number> | undefined;

/** GPT-2's reversible byte ↔ printable-unicode alphabet (the ByteLevel pre-tokenizer's). */
function byteLevelChars(): Map<string, number> {
  if (byteLevelMap) return byteLevelMap;
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const map = new Map<string, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const cp = printable.includes(b) ? b : 256 + extra++;
    map.set(String.fromCodePoint(cp), b);
  }
  byteLevelMap = map;
  return map;
}

const utf8 = new TextEncoder();

/** The text (or single byte) a non-special token contributes. */
export function pieceOutput(piece: string, rules: PieceRules): string | number | Uint8Array {
  if (rules.byteFallback) {
    const b = byteOfPiece(piece);
    if (b !== undefined) return b;
  }
  if (rules.byteLevel) {
    const map = byteLevelChars();
    const out: number[] = [];
    for (const ch of piece) {
      const b = map.get(ch);
      if (b !== undefined) out.push(b);
      else out.push(...utf8.encode(ch));
    }
    return Uint8Array.from(out);
  }
  if (rules.wordPiecePrefix !== undefined) {
    return piece.startsWith(rules.wordPiecePrefix) ? piece.slice(rules.wordPiecePrefix.length) : ' ' + piece;
  }
  return rules.metaspace ? piece.replaceAll('▁', ' ') : piece;
}
