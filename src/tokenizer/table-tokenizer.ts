// What both tokenizers share: the per-token table (bytes, special flags, decode) and the
// BOS/EOS settings. Each source supplies only its encoder and its text → id lookup.
import { TokenizerError } from './errors.js';
import type { TokenTable } from './token-table.js';
import type { PairTemplate, Tokenizer } from './types.js';

export interface SpecialSettings {
  bosId: number | undefined;
  eosId: number | undefined;
  addBos: boolean;
  addEos: boolean;
  addSpacePrefix: boolean;
  pairTemplate?: PairTemplate | undefined;
}

export abstract class TableTokenizer implements Tokenizer {
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly addBos: boolean;
  readonly addSpacePrefix: boolean;
  readonly pairTemplate: PairTemplate | undefined;
  protected readonly addEos: boolean;

  constructor(
    protected readonly table: TokenTable,
    s: SpecialSettings,
  ) {
    this.bosId = s.bosId;
    this.eosId = s.eosId;
    this.addBos = s.addBos;
    this.addEos = s.addEos;
    this.addSpacePrefix = s.addSpacePrefix;
    this.pairTemplate = s.pairTemplate;
  }

  get vocabSize(): number {
    return this.table.size;
  }

  async encode(text: string, options?: { addSpecial?: boolean }): Promise<number[]> {
    if (typeof text !== 'string') throw new TokenizerError('ERR_INVALID_ARG', `encode() takes a string, got ${typeof text}`);
    return this.encodeText(text, options?.addSpecial ?? false);
  }

  /** Text (already checked to be a string) → ids, with BOS/EOS when addSpecial asks for them. */
  protected abstract encodeText(text: string, addSpecial: boolean): Promise<number[]>;

  abstract tokenId(text: string): number | undefined;

  tokenBytes(id: number): Uint8Array {
    return this.table.tokenBytes(id);
  }

  isSpecial(id: number): boolean {
    return this.table.isSpecial(id);
  }

  /** Nothing to release unless a source holds a worker. */
  async close(): Promise<void> {}

  decode(ids: readonly number[], options?: { skipSpecial?: boolean }): string {
    return this.table.decode(ids, options?.skipSpecial ?? false, this.addSpacePrefix);
  }
}
