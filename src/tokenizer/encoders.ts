// The encoders a GGUF vocabulary can have, described so that the main thread and the tokenizer
// worker (encoder-worker.ts) build the same one from the same shared arrays.
import type { PackedVocab } from './packed-vocab.js';
import { SpmEncoder } from './spm.js';
import { type WpmOptions, WpmEncoder } from './wpm.js';

/** Raw text (special tokens written in it parsed) → ids, and a token's exact text → its id. */
export interface Encoder {
  encode(text: string, out: number[]): void;
  tokenId(text: string): number | undefined;
}

/** SentencePiece for "llama" vocabularies, WordPiece for "bert" ones; structured-clone safe. */
export type EncoderSpec = { kind: 'spm'; vocab: PackedVocab } | { kind: 'wpm'; vocab: PackedVocab; options: WpmOptions };

export function makeEncoder(spec: EncoderSpec): Encoder {
  return spec.kind === 'wpm' ? new WpmEncoder(spec.vocab, spec.options) : new SpmEncoder(spec.vocab);
}
