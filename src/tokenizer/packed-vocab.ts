// A SentencePiece vocabulary as a few flat arrays in shared memory: what SpmEncoder reads, on
// the main thread and on the tokenizer worker alike. Posting 262,144 token strings to a worker
// costs a structured clone on both sides and a heap of small strings there, whose collection
// (on V8's helper threads, at normal priority) took CPU from the decode threads; shared
// buffers cross for the price of a handle and leave the worker's heap almost empty.
import type { GgufVocab } from './gguf-vocab.js';

export interface PackedVocab {
  /** every token's UTF-16 code units, one after another */
  chars: Uint16Array;
  /** token i is chars[ends[i - 1] .. ends[i]) (from 0 for token 0) */
  ends: Uint32Array;
  scores: Float32Array;
  types: Int32Array;
  unkId: number | undefined;
  addSpacePrefix: boolean;
}

export function packVocab(vocab: GgufVocab): PackedVocab {
  const { tokens } = vocab;
  const n = tokens.length;
  const ends = new Uint32Array(new SharedArrayBuffer(4 * n));
  let total = 0;
  for (let i = 0; i < n; i++) ends[i] = total += tokens[i]!.length;
  const chars = new Uint16Array(new SharedArrayBuffer(2 * total));
  let at = 0;
  for (const t of tokens) for (let j = 0; j < t.length; j++) chars[at++] = t.charCodeAt(j);
  const scores = new Float32Array(new SharedArrayBuffer(4 * n));
  scores.set(vocab.scores);
  const types = new Int32Array(new SharedArrayBuffer(4 * n));
  types.set(vocab.types);
  return { chars, ends, scores, types, unkId: vocab.unkId, addSpacePrefix: vocab.addSpacePrefix };
}

export function tokenStart(v: PackedVocab, id: number): number {
  return id === 0 ? 0 : v.ends[id - 1]!;
}

export function tokenText(v: PackedVocab, id: number): string {
  let s = '';
  for (let i = tokenStart(v, id); i < v.ends[id]!; i++) s += String.fromCharCode(v.chars[i]!);
  return s;
}
