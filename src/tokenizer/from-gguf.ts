// The tokenizer of a GGUF-only model, built from its tokenizer.ggml.* metadata.
import type { GgufMetadataValue } from '../runtime/addon.js';
import { TokenizerError } from './errors.js';
import { readGgufVocab, TokenType } from './gguf-vocab.js';
import { SpmEncoder } from './spm.js';
import { byteOfPiece, TokenTable } from './token-table.js';
import type { Tokenizer } from './types.js';

class GgufTokenizer implements Tokenizer {
  constructor(
    private readonly spm: SpmEncoder,
    private readonly table: TokenTable,
    readonly bosId: number | undefined,
    readonly eosId: number | undefined,
    readonly addBos: boolean,
    private readonly addEos: boolean,
    readonly addSpacePrefix: boolean,
  ) {}

  get vocabSize(): number {
    return this.table.size;
  }

  async encode(text: string, options?: { addSpecial?: boolean }): Promise<number[]> {
    if (typeof text !== 'string') throw new TokenizerError('ERR_INVALID_ARG', `encode() takes a string, got ${typeof text}`);
    const out: number[] = [];
    const addSpecial = options?.addSpecial ?? false;
    if (addSpecial && this.addBos) out.push(this.bosId!);
    this.spm.encode(text, out);
    if (addSpecial && this.addEos) out.push(this.eosId!);
    return out;
  }

  tokenBytes(id: number): Uint8Array {
    return this.table.tokenBytes(id);
  }

  isSpecial(id: number): boolean {
    return this.table.isSpecial(id);
  }

  tokenId(text: string): number | undefined {
    return this.spm.tokenId(text);
  }

  decode(ids: readonly number[], options?: { skipSpecial?: boolean }): string {
    return this.table.decode(ids, options?.skipSpecial ?? false, this.addSpacePrefix);
  }
}

/** Builds the tokenizer a GGUF file carries (SentencePiece "llama" vocabularies, as Gemma's). */
export async function tokenizerFromGguf(metadata: Record<string, GgufMetadataValue>): Promise<Tokenizer> {
  const vocab = readGgufVocab(metadata);
  const { tokens, types } = vocab;
  const special = new Uint8Array(tokens.length);
  const pieces: Array<string | number> = new Array(tokens.length);
  for (let i = 0; i < tokens.length; i++) {
    const t = types[i];
    const text = tokens[i]!;
    if (t === TokenType.CONTROL || t === TokenType.UNKNOWN) {
      special[i] = 1;
      pieces[i] = text;
    } else if (t === TokenType.BYTE) {
      pieces[i] = byteOfPiece(text) ?? text;
    } else if (t === TokenType.USER_DEFINED) {
      pieces[i] = text; // the converter already wrote '▁' as ' ' in user-defined tokens
    } else {
      pieces[i] = text.replaceAll('▁', ' ');
    }
  }
  return new GgufTokenizer(new SpmEncoder(vocab), new TokenTable(pieces, special),
    vocab.bosId, vocab.eosId, vocab.addBos, vocab.addEos, vocab.addSpacePrefix);
}
