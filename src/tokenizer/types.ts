// The tokenizer contract the engine codes against. Two sources implement it: a HF model
// directory (tokenizer.json through `tokenizers`) and the vocabulary inside a GGUF file.

/**
 * How a cross-encoder reads two texts as one input: the tokenizer's pair template. Special tokens
 * (id and token type) before the first text, between the two and after the second; each text's
 * token type. BERT: [CLS] A [SEP] B [SEP], B of type 1; XLM-RoBERTa: <s> A </s> </s> B </s>, all 0.
 */
export interface PairTemplate {
  before: ReadonlyArray<readonly [id: number, type: number]>;
  between: ReadonlyArray<readonly [id: number, type: number]>;
  after: ReadonlyArray<readonly [id: number, type: number]>;
  firstType: number;
  secondType: number;
}

export interface Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  /** encode(text, { addSpecial: true }) prepends BOS (tokenizer_config add_bos_token / GGUF tokenizer.ggml.add_bos_token) */
  readonly addBos: boolean;
  /**
   * True when encoding puts a '▁' before text that follows BOS or a special token and decoding
   * drops the first leading space (SentencePiece add_dummy_prefix; false for Gemma). A streaming
   * detokenizer that uses tokenBytes() drops one leading space of the output when this is set.
   */
  readonly addSpacePrefix: boolean;
  /** undefined: the tokenizer's files name no way to join two texts */
  readonly pairTemplate: PairTemplate | undefined;
  /** Text → ids. Special tokens written as text (e.g. "<start_of_turn>") become their ids, as HF does. */
  encode(text: string, options?: { addSpecial?: boolean }): Promise<number[]>;
  /** Raw bytes a token contributes to the output text (byte-fallback <0xNN> → that byte, '▁' → space; control tokens → their text). Must be fast (precomputed). */
  tokenBytes(id: number): Uint8Array;
  /** true for control/special tokens (<bos>, <eos>, <start_of_turn>, <end_of_turn>, <pad>, ...) */
  isSpecial(id: number): boolean;
  /** id of a token given its exact text (e.g. "<end_of_turn>"), or undefined */
  tokenId(text: string): number | undefined;
  /** ids → text; skipSpecial drops special tokens. Sync (uses tokenBytes), invalid UTF-8 → U+FFFD. */
  decode(ids: readonly number[], options?: { skipSpecial?: boolean }): string;
  /** Ends a worker thread the tokenizer keeps for long texts, if any; encode() later starts it again. */
  close(): Promise<void>;
}
