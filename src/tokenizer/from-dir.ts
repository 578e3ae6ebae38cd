// A HF model directory's tokenizer: tokenizer.json run by `tokenizers` (HF's own Rust code),
// tokenizer_config.json / special_tokens_map.json for BOS/EOS and add_bos_token.
import fs from 'node:fs/promises';
import path from 'node:path';

import { Tokenizer as HfTokenizer } from 'tokenizers';

import { pieceOutput, pieceRules } from './decoder-pieces.js';
import { TokenizerError } from './errors.js';
import { TokenTable } from './token-table.js';
import { type SpecialSettings, TableTokenizer } from './table-tokenizer.js';
import type { PairTemplate, Tokenizer } from './types.js';

type Json = Record<string, unknown>;

async function readJson(file: string, required: boolean): Promise<{ json: Json | undefined; text: string }> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!required && code === 'ENOENT') return { json: undefined, text: '' };
    throw new TokenizerError(code === 'ENOENT' ? 'ERR_NO_TOKENIZER' : 'ERR_BAD_TOKENIZER_FILE',
      `cannot read ${file} (${code ?? String(err)}); a HF model directory needs tokenizer.json`, { cause: err });
  }
  try {
    const json = JSON.parse(text) as unknown;
    if (!json || typeof json !== 'object' || Array.isArray(json)) throw new Error('not a JSON object');
    return { json: json as Json, text };
  } catch (err) {
    throw new TokenizerError('ERR_BAD_TOKENIZER_FILE', `${file} is not valid JSON (${(err as Error).message}); re-download the model`, { cause: err });
  }
}

/** "<bos>" or { content: "<bos>" } (AddedToken as tokenizer_config.json serializes it). */
export function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return undefined;
}

/** tokenizer.json's post-processors: its one, or those of a Sequence. */
function postProcessors(tokenizerJson: Json): Json[] {
  const pp = tokenizerJson.post_processor as Json | null | undefined;
  if (!pp) return [];
  return pp.type === 'Sequence' && Array.isArray(pp.processors) ? (pp.processors as Json[]) : [pp];
}

/** The special token the post-processor puts first for a single sequence, if any. */
function templateFirstSpecial(tokenizerJson: Json): string | undefined {
  for (const p of postProcessors(tokenizerJson)) {
    if (p.type === 'TemplateProcessing' && Array.isArray(p.single)) {
      const first = (p.single[0] as Json | undefined)?.SpecialToken as Json | undefined;
      return typeof first?.id === 'string' ? first.id : undefined;
    }
    if (p.type === 'BertProcessing' || p.type === 'RobertaProcessing') {
      const cls = p.cls as unknown[] | undefined;
      return typeof cls?.[0] === 'string' ? cls[0] : undefined;
    }
  }
  return undefined;
}

/**
 * tokenizer.json's pair template: TemplateProcessing's "pair" list, or what RobertaProcessing
 * (<s> A </s> </s> B </s>) and BertProcessing ([CLS] A [SEP] B [SEP], B of type 1) mean.
 */
function pairTemplateOf(tokenizerJson: Json, vocab: Map<string, number>): PairTemplate | undefined {
  for (const p of postProcessors(tokenizerJson)) {
    if (p.type === 'RobertaProcessing' || p.type === 'BertProcessing') {
      const id = (x: unknown) => (Array.isArray(x) && typeof x[1] === 'number' ? x[1] : undefined);
      const cls = id(p.cls);
      const sep = id(p.sep);
      if (cls === undefined || sep === undefined) return undefined;
      return p.type === 'RobertaProcessing'
        ? { before: [[cls, 0]], between: [[sep, 0], [sep, 0]], after: [[sep, 0]], firstType: 0, secondType: 0 }
        : { before: [[cls, 0]], between: [[sep, 0]], after: [[sep, 1]], firstType: 0, secondType: 1 };
    }
    if (p.type !== 'TemplateProcessing' || !Array.isArray(p.pair)) continue;
    const specials = (p.special_tokens ?? {}) as Record<string, Json>;
    const parts: Array<Array<readonly [number, number]>> = [[], [], []];
    const types: number[] = [];
    for (const item of p.pair as Json[]) {
      const seq = item.Sequence as Json | undefined;
      const sp = item.SpecialToken as Json | undefined;
      if (seq) {
        types.push(typeof seq.type_id === 'number' ? seq.type_id : 0);
      } else if (sp && typeof sp.id === 'string') {
        const ids = Array.isArray(specials[sp.id]?.ids) ? (specials[sp.id]!.ids as unknown[]) : [vocab.get(sp.id)];
        for (const i of ids) {
          if (typeof i !== 'number') return undefined;
          parts[types.length]!.push([i, typeof sp.type_id === 'number' ? sp.type_id : 0]);
        }
      } else {
        return undefined;
      }
    }
    if (types.length !== 2) return undefined;
    return { before: parts[0]!, between: parts[1]!, after: parts[2]!, firstType: types[0]!, secondType: types[1]! };
  }
  return undefined;
}

class DirTokenizer extends TableTokenizer {
  constructor(
    private readonly hf: HfTokenizer,
    table: TokenTable,
    private readonly vocab: Map<string, number>,
    settings: SpecialSettings,
    /** tokenizer_config says add_bos/eos_token: we add them; otherwise tokenizer.json's post-processor does */
    private readonly manualSpecials: boolean,
  ) {
    super(table, settings);
  }

  protected async encodeText(text: string, addSpecial: boolean): Promise<number[]> {
    const enc = await this.hf.encode(text, null, { addSpecialTokens: addSpecial && !this.manualSpecials });
    const ids = enc.getIds();
    if (addSpecial && this.manualSpecials) {
      if (this.addBos && this.bosId !== undefined) ids.unshift(this.bosId);
      if (this.addEos && this.eosId !== undefined) ids.push(this.eosId);
    }
    return ids;
  }

  tokenId(text: string): number | undefined {
    return this.vocab.get(text);
  }
}

/** Loads tokenizer.json (+ tokenizer_config.json, special_tokens_map.json) from a HF model directory. */
export async function tokenizerFromDir(dir: string): Promise<Tokenizer> {
  const tokFile = path.join(dir, 'tokenizer.json');
  const [{ json: tj, text }, { json: config = {} }, { json: specialMap = {} }] = await Promise.all([
    readJson(tokFile, true),
    readJson(path.join(dir, 'tokenizer_config.json'), false),
    readJson(path.join(dir, 'special_tokens_map.json'), false),
  ]);
  const tokenizerJson = tj!;

  let hf: HfTokenizer;
  try {
    hf = HfTokenizer.fromString(text);
  } catch (err) {
    throw new TokenizerError('ERR_BAD_TOKENIZER_FILE', `${tokFile} is not a tokenizer the tokenizers library can load (${(err as Error).message})`, { cause: err });
  }

  // id → piece from the parsed file (getVocab() would cost another second on a 262k vocabulary)
  const size = hf.getVocabSize(true);
  const pieces: Array<string | undefined> = new Array(size);
  const model = tokenizerJson.model as Json | undefined;
  if (Array.isArray(model?.vocab)) {
    (model.vocab as unknown[][]).forEach((e, id) => { if (id < size && typeof e[0] === 'string') pieces[id] = e[0]; }); // Unigram
  } else if (model?.vocab && typeof model.vocab === 'object') {
    for (const [piece, id] of Object.entries(model.vocab as Record<string, number>)) if (id < size) pieces[id] = piece;
  }
  if (Array.isArray(tokenizerJson.added_tokens)) {
    for (const t of tokenizerJson.added_tokens as Json[]) {
      if (typeof t.id === 'number' && t.id < size && typeof t.content === 'string') pieces[t.id] = t.content;
    }
  }
  const vocab = new Map<string, number>();
  for (let id = 0; id < size; id++) {
    const piece = (pieces[id] ??= hf.idToToken(id) ?? '');
    if (!vocab.has(piece)) vocab.set(piece, id);
  }

  const special = new Uint8Array(size);
  if (Array.isArray(tokenizerJson.added_tokens)) {
    for (const t of tokenizerJson.added_tokens as Json[]) {
      if (t.special === true && typeof t.id === 'number' && t.id < size) special[t.id] = 1;
    }
  }
  const rules = pieceRules(tokenizerJson);
  const outputs = (pieces as string[]).map((p, id) => (special[id] ? p : pieceOutput(p, rules)));
  const table = new TokenTable(outputs, special);

  const lookup = (key: string): number | undefined => {
    const t = tokenText(config[key]) ?? tokenText(specialMap[key]);
    return t === undefined ? undefined : vocab.get(t);
  };
  // BERT-style tokenizers name no bos/eos: their [CLS] and [SEP] play the part (as
  // convert_hf_to_gguf.py writes them, so both sources of one model report the same ids)
  const bosId = lookup('bos_token') ?? lookup('cls_token');
  const eosId = lookup('eos_token') ?? lookup('sep_token');

  const manual = typeof config.add_bos_token === 'boolean' || typeof config.add_eos_token === 'boolean';
  let addBos: boolean;
  let addEos = false;
  if (manual) {
    addBos = config.add_bos_token === true && bosId !== undefined;
    addEos = config.add_eos_token === true && eosId !== undefined;
  } else {
    const first = templateFirstSpecial(tokenizerJson);
    addBos = first !== undefined && bosId !== undefined && vocab.get(first) === bosId;
  }

  const pairTemplate = pairTemplateOf(tokenizerJson, vocab);
  return new DirTokenizer(hf, table, vocab, { bosId, eosId, addBos, addEos, addSpacePrefix: rules.dropLeadingSpace, pairTemplate }, manual);
}
