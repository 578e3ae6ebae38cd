import fs from 'node:fs';
import path from 'node:path';

import type { GgufMetadataValue } from '../runtime/addon.js';
import { tokenText } from '../tokenizer/from-dir.js';

/** The chat template and end-of-generation tokens a model's own files declare. */
export interface ChatConfig {
  /** Jinja source, or undefined when the model carries none (the built-in Gemma format is used) */
  chatTemplate: string | undefined;
  bosToken: string;
  eosToken: string;
  /** extra end ids (generation_config.json eos_token_id, which may be a list) */
  eosIds: number[];
}

function readJson(file: string): Record<string, unknown> | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

/** From an HF directory: tokenizer_config.json (chat_template may also sit in chat_template.jinja), generation_config.json. */
export function chatConfigFromDir(dir: string): ChatConfig {
  const tc = readJson(path.join(dir, 'tokenizer_config.json')) ?? {};
  const gc = readJson(path.join(dir, 'generation_config.json')) ?? {};
  let chatTemplate: string | undefined;
  const t = tc.chat_template;
  if (typeof t === 'string') chatTemplate = t;
  else if (Array.isArray(t)) {
    // [{name, template}, ...]: the one named "default"
    const named = t as { name?: unknown; template?: unknown }[];
    const d = named.find((x) => x.name === 'default') ?? named[0];
    if (typeof d?.template === 'string') chatTemplate = d.template;
  }
  const jinja = path.join(dir, 'chat_template.jinja');
  if (chatTemplate === undefined && fs.existsSync(jinja)) chatTemplate = fs.readFileSync(jinja, 'utf8');
  const eos = gc.eos_token_id;
  const eosIds = (Array.isArray(eos) ? eos : [eos]).filter((x): x is number => Number.isInteger(x));
  return {
    chatTemplate,
    bosToken: tokenText(tc.bos_token) ?? '<bos>',
    eosToken: tokenText(tc.eos_token) ?? '<eos>',
    eosIds,
  };
}

/**
 * The tokens that end a generation, by one rule for GGUF files and HF directories: the
 * tokenizer's EOS, the ids the files add (generation_config.json's eos_token_id list; GGUF's
 * eot/eom ids) and, as llama.cpp recognises end-of-generation tokens by their text, Gemma's
 * `<eos>` and `<end_of_turn>` and the configured EOS text wherever they are in the vocabulary.
 * (Gemma -it GGUFs often name <end_of_turn> as their EOS; the HF form lists both.)
 */
export function endTokens(chat: ChatConfig, tokenizer: { eosId: number | undefined; tokenId(text: string): number | undefined }): Set<number> {
  const stops = new Set<number>(chat.eosIds);
  for (const id of [tokenizer.eosId, tokenizer.tokenId('<eos>'), tokenizer.tokenId('<end_of_turn>'), tokenizer.tokenId(chat.eosToken)]) {
    if (id !== undefined) stops.add(id);
  }
  return stops;
}

/** From GGUF metadata (tokenizer.chat_template, tokenizer.ggml.*). */
export function chatConfigFromGguf(meta: Record<string, GgufMetadataValue>): ChatConfig {
  const tokens = meta['tokenizer.ggml.tokens'];
  const name = (key: string, dflt: string) => {
    const id = meta[key];
    return Array.isArray(tokens) && typeof id === 'number' && typeof tokens[id] === 'string' ? (tokens[id] as string) : dflt;
  };
  const tpl = meta['tokenizer.chat_template'];
  const ids = ['tokenizer.ggml.eot_token_id', 'tokenizer.ggml.eom_token_id'].map((k) => meta[k]);
  return {
    chatTemplate: typeof tpl === 'string' ? tpl : undefined,
    bosToken: name('tokenizer.ggml.bos_token_id', '<bos>'),
    eosToken: name('tokenizer.ggml.eos_token_id', '<eos>'),
    eosIds: ids.filter((x): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0),
  };
}
