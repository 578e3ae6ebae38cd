// Reads and checks the tokenizer.ggml.* metadata of a GGUF file (as Model.metadata() returns it),
// with llama.cpp's defaults where a key is absent: for SentencePiece ("llama") vocabularies and
// for WordPiece ("bert") ones.
import type { GgufMetadataValue } from '../runtime/addon.js';
import { TokenizerError } from './errors.js';

/** GGUF token types (llama_token_type). */
export const TokenType = { UNDEFINED: 0, NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** The GGUF tokenizer models we encode: llama.cpp's SPM, WPM and UGM vocabulary types. */
export type GgufTokenizerModel = 'llama' | 'bert' | 't5';

export interface GgufVocab {
  model: GgufTokenizerModel;
  tokens: string[];
  scores: Float32Array;
  types: Int32Array;
  bosId: number | undefined;
  eosId: number | undefined;
  unkId: number | undefined;
  addBos: boolean;
  addEos: boolean;
  addSpacePrefix: boolean;
  /** "bert" only: the id encode(text, { addSpecial: true }) appends (tokenizer.ggml.seperator_token_id) */
  sepId?: number | undefined;
  /** "bert" only: BertNormalizer options (tokenizer.ggml.normalizer.*) */
  lowercase?: boolean;
  stripAccents?: boolean;
  /** "t5" only: tokenizer.ggml.precompiled_charsmap, remove_extra_whitespaces, add_sep_token */
  charsmap?: Uint8Array;
  removeExtraWhitespaces?: boolean;
  addSep?: boolean;
}

function bad(message: string): TokenizerError {
  return new TokenizerError('ERR_BAD_MODEL_FILE', `GGUF tokenizer metadata: ${message}; the file was not written by a working GGUF converter`);
}

function numbers(v: GgufMetadataValue | undefined, key: string, n: number): ArrayLike<number> | undefined {
  if (v === undefined) return undefined;
  const ok = (Array.isArray(v) && v.every((x) => typeof x === 'number')) || (ArrayBuffer.isView(v) && !(v instanceof DataView));
  if (!ok) throw bad(`${key} is not a numeric array`);
  const arr = v as ArrayLike<number>;
  if (arr.length !== n) throw bad(`${key} has ${arr.length} entries for ${n} tokens`);
  return arr;
}

function flag(md: Record<string, GgufMetadataValue>, key: string, dflt: boolean): boolean {
  const v = md[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw bad(`${key} is not a boolean`);
  return v;
}

function tokenIdKey(md: Record<string, GgufMetadataValue>, key: string, dflt: number, n: number): number | undefined {
  // as llama.cpp: a default outside the vocabulary is disabled, an id outside it is ignored
  let id = dflt >= 0 && dflt < n ? dflt : undefined;
  const v = md[key];
  if (v !== undefined) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw bad(`${key} is not a token id`);
    if (v < n) id = v;
  }
  return id;
}

export function readGgufVocab(md: Record<string, GgufMetadataValue>): GgufVocab {
  if (!md || typeof md !== 'object') throw new TokenizerError('ERR_INVALID_ARG', 'tokenizerFromGguf() takes the metadata object of a GGUF model (Model.metadata())');
  const model = md['tokenizer.ggml.model'];
  if (model === undefined) throw bad('tokenizer.ggml.model is missing');
  if (model !== 'llama' && model !== 'bert' && model !== 't5') {
    throw new TokenizerError('ERR_UNSUPPORTED_TOKENIZER',
      `GGUF tokenizer model '${String(model).slice(0, 64)}' is not supported (SentencePiece 'llama' vocabularies, as Gemma GGUFs carry, WordPiece 'bert' ones, as BERT-family embedding GGUFs carry, and Unigram 't5' ones, as XLM-RoBERTa rerankers carry, are); load the model from its HF directory instead`);
  }
  const tokens = md['tokenizer.ggml.tokens'];
  if (!Array.isArray(tokens) || tokens.length === 0 || !tokens.every((t) => typeof t === 'string')) throw bad('tokenizer.ggml.tokens is missing or not a list of strings');
  const n = tokens.length;
  const scoresIn = numbers(md['tokenizer.ggml.scores'], 'tokenizer.ggml.scores', n);
  const typesIn = numbers(md['tokenizer.ggml.token_type'], 'tokenizer.ggml.token_type', n);
  const scores = scoresIn ? Float32Array.from(scoresIn) : new Float32Array(n);
  const types = typesIn ? Int32Array.from(typesIn) : new Int32Array(n).fill(TokenType.NORMAL);

  if (model === 'bert') return bertVocab(md, tokens as string[], scores, types);
  if (model === 't5') return ugmVocab(md, tokens as string[], scores, types);

  // llama.cpp's SPM defaults: bos 1, eos 2, unk 0, add_bos true, add_space_prefix true
  const bosId = tokenIdKey(md, 'tokenizer.ggml.bos_token_id', 1, n);
  const eosId = tokenIdKey(md, 'tokenizer.ggml.eos_token_id', 2, n);
  const unkId = tokenIdKey(md, 'tokenizer.ggml.unknown_token_id', 0, n);
  return {
    model,
    tokens: tokens as string[],
    scores,
    types,
    bosId,
    eosId,
    unkId,
    addBos: flag(md, 'tokenizer.ggml.add_bos_token', true) && bosId !== undefined,
    addEos: flag(md, 'tokenizer.ggml.add_eos_token', false) && eosId !== undefined,
    addSpacePrefix: flag(md, 'tokenizer.ggml.add_space_prefix', true),
  };
}

/**
 * llama.cpp's WPM settings. Its tokenize(add_special) always puts bos ([CLS]) first and sep
 * ([SEP]) last for this vocabulary type: tokenizer.ggml.add_bos_token, add_eos_token and
 * add_sep_token only steer how its server joins a reranker's query and document, so they are
 * checked here and not used. convert_hf_to_gguf.py takes bos from cls_token and eos from
 * sep_token (bert-base-uncased: bos 101, eos 102, seperator 102); tokenizer.ggml.cls_token_id
 * is not read by llama.cpp.
 */
function bertVocab(md: Record<string, GgufMetadataValue>, tokens: string[], scores: Float32Array, types: Int32Array): GgufVocab {
  const n = tokens.length;
  // as llama.cpp's loader: an empty token text becomes "[EMPTY_<id>]"
  const texts = tokens.map((t, i) => (t.length === 0 ? `[EMPTY_${i}]` : t));
  // llama.cpp's WPM defaults: bos 101, eos none, unk 100, sep 102
  const bosId = tokenIdKey(md, 'tokenizer.ggml.bos_token_id', 101, n);
  const eosId = tokenIdKey(md, 'tokenizer.ggml.eos_token_id', -1, n);
  const unkId = tokenIdKey(md, 'tokenizer.ggml.unknown_token_id', 100, n);
  const sepId = tokenIdKey(md, 'tokenizer.ggml.seperator_token_id', 102, n);
  for (const key of ['add_bos_token', 'add_eos_token', 'add_sep_token']) flag(md, `tokenizer.ggml.${key}`, true);
  const lowercase = flag(md, 'tokenizer.ggml.normalizer.lowercase', true);
  return {
    model: 'bert',
    tokens: texts,
    scores,
    types,
    bosId,
    eosId,
    unkId,
    sepId,
    addBos: bosId !== undefined,
    addEos: false, // what goes last is sepId
    // decoding drops the space of the first word's '▁'
    addSpacePrefix: true,
    lowercase,
    stripAccents: flag(md, 'tokenizer.ggml.normalizer.strip_accents', lowercase),
  };
}

/**
 * llama.cpp's UGM settings: bos none, eos 1, unk 2, no separator unless the file names them;
 * add_bos false, add_eos true, add_space_prefix and remove_extra_whitespaces false unless stated
 * (XLM-RoBERTa's converter states them all).
 */
function ugmVocab(md: Record<string, GgufMetadataValue>, tokens: string[], scores: Float32Array, types: Int32Array): GgufVocab {
  const n = tokens.length;
  const bosId = tokenIdKey(md, 'tokenizer.ggml.bos_token_id', -1, n);
  const eosId = tokenIdKey(md, 'tokenizer.ggml.eos_token_id', 1, n);
  const unkId = tokenIdKey(md, 'tokenizer.ggml.unknown_token_id', 2, n);
  const sepId = tokenIdKey(md, 'tokenizer.ggml.seperator_token_id', -1, n);
  const raw = md['tokenizer.ggml.precompiled_charsmap'];
  let charsmap: Uint8Array = new Uint8Array(0);
  if (raw !== undefined) {
    if (!(raw instanceof Uint8Array || raw instanceof Int8Array)) throw bad('tokenizer.ggml.precompiled_charsmap is not an array of bytes');
    charsmap = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  }
  return {
    model: 't5',
    tokens,
    scores,
    types,
    bosId,
    eosId,
    unkId,
    sepId,
    addBos: flag(md, 'tokenizer.ggml.add_bos_token', false) && bosId !== undefined,
    addEos: flag(md, 'tokenizer.ggml.add_eos_token', true) && eosId !== undefined,
    addSep: flag(md, 'tokenizer.ggml.add_sep_token', false) && sepId !== undefined,
    addSpacePrefix: flag(md, 'tokenizer.ggml.add_space_prefix', false),
    removeExtraWhitespaces: flag(md, 'tokenizer.ggml.remove_extra_whitespaces', false),
    charsmap,
  };
}
