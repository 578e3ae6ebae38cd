// The tokenizer of a GGUF-only model, built from its tokenizer.ggml.* metadata.
import type { GgufMetadataValue } from '../runtime/addon.js';
import { readGgufVocab, TokenType } from './gguf-vocab.js';
import { SpmEncoder } from './spm.js';
import { byteOfPiece, TokenTable } from './token-table.js';
import { type SpecialSettings, TableTokenizer } from './table-tokenizer.js';
import type { Tokenizer } from './types.js';

class GgufTokenizer extends TableTokenizer {
  constructor(
    private readonly spm: SpmEncoder,
    table: TokenTable,
    settings: SpecialSettings,
  ) {
    super(table, settings);
  }

  protected async encodeText(text: string, addSpecial: boolean): Promise<number[]> {
    const out: number[] = [];
    if (addSpecial && this.addBos) out.push(this.bosId!);
    this.spm.encode(text, out);
    if (addSpecial && this.addEos) out.push(this.eosId!);
    return out;
  }

  tokenId(text: string): number | undefined {
    return this.spm.tokenId(text);
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
  return new GgufTokenizer(new SpmEncoder(vocab), new TokenTable(pieces, special), vocab);
}
