// The encoders a GGUF vocabulary can have, described so that the main thread and the tokenizer
// worker (encoder-worker.ts) build the same one from the same shared arrays.
import type { PackedVocab } from './packed-vocab.js';
import { SpmEncoder } from './spm.js';
import { type UgmOptions, UgmEncoder } from './ugm.js';
import { type WpmOptions, WpmEncoder } from './wpm.js';

/** Raw text (special tokens written in it parsed) → ids, and a token's exact text → its id. */
export interface Encoder {
  encode(text: string, out: number[]): void;
  tokenId(text: string): number | undefined;
}

/** SentencePiece for "llama" vocabularies, WordPiece for "bert" ones, Unigram for "t5" ones; structured-clone safe. */
export type EncoderSpec =
  | { kind: 'spm'; vocab: PackedVocab }
  | { kind: 'wpm'; vocab: PackedVocab; options: WpmOptions }
  | { kind: 'ugm'; vocab: PackedVocab; options: UgmOptions };

export function makeEncoder(spec: EncoderSpec): Encoder {
  switch (spec.kind) {
    case 'wpm': return new WpmEncoder(spec.vocab, spec.options);
    case 'ugm': return new UgmEncoder(spec.vocab, spec.options);
    default: return new SpmEncoder(spec.vocab);
  }
}
