// Which files of a repo a model needs: for an HF model, its config, tokenizer and safetensors
// weights (shards listed by the index), and for an embedding model sentence-transformers' module
// configs (pooling, dense layers), not the other formats repos also carry (a 10+ GB GGUF,
// PyTorch .bin files, original checkpoints); for `repo:file.gguf`, just that file.
import fs from 'node:fs';

import { assertSafeShardFilename } from '@huggingface/hub';

import { HubError } from './errors.js';

export const REQUIRED_HF_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json'] as const;
export const OPTIONAL_HF_FILES = ['generation_config.json', 'special_tokens_map.json', 'modules.json', 'sentence_bert_config.json'] as const;
/** sentence-transformers' module folders that decide an embedding model's vector (pooling, dense layers) */
const SENTENCE_TRANSFORMERS_FILE = /^\d+_(Pooling\/config\.json|Dense\/config\.json|Dense\/model\.safetensors)$/;
export const SAFETENSORS_FILE = 'model.safetensors';
export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';

/** The first files to fetch for an HF model, given the repo's file list; shards come after the index. */
export function planHfFiles(repo: string, revision: string, files: Set<string>): { files: string[]; index?: string } {
  const missing = REQUIRED_HF_FILES.filter((f) => !files.has(f));
  const weights = files.has(SAFETENSORS_FILE) ? SAFETENSORS_FILE : files.has(SAFETENSORS_INDEX_FILE) ? SAFETENSORS_INDEX_FILE : undefined;
  if (!weights || missing.length) {
    const ggufs = [...files].filter((f) => /\.gguf$/i.test(f));
    const lacks = [...missing, ...(weights ? [] : [`${SAFETENSORS_FILE} (or ${SAFETENSORS_INDEX_FILE})`])];
    throw new HubError('ERR_HUB_NOT_A_MODEL',
      `${repo} at '${revision}' is not a loadable HF model: it has no ${lacks.join(', ')}` +
        (ggufs.length ? `. It has GGUF files: use ${repo}:${ggufs[0]}${ggufs.length > 1 ? ` (or one of ${ggufs.slice(1, 6).join(', ')})` : ''}` : ''));
  }
  const modules = files.has('modules.json') ? [...files].filter((f) => SENTENCE_TRANSFORMERS_FILE.test(f)).sort() : [];
  const out = [...REQUIRED_HF_FILES, ...OPTIONAL_HF_FILES.filter((f) => files.has(f)), ...modules, weights];
  return weights === SAFETENSORS_INDEX_FILE ? { files: out, index: weights } : { files: out };
}

/** The distinct shard files a safetensors index names, checked to be plain relative paths. */
export function shardsFromIndex(repo: string, indexPath: string): string[] {
  let weightMap: unknown;
  try {
    weightMap = (JSON.parse(fs.readFileSync(indexPath, 'utf8')) as { weight_map?: unknown }).weight_map;
  } catch (err) {
    throw new HubError('ERR_HUB_BAD_INDEX', `${SAFETENSORS_INDEX_FILE} of ${repo} is not valid JSON: ${(err as Error).message}`);
  }
  if (!weightMap || typeof weightMap !== 'object' || Array.isArray(weightMap)) {
    throw new HubError('ERR_HUB_BAD_INDEX', `${SAFETENSORS_INDEX_FILE} of ${repo} has no weight_map object`);
  }
  const shards = [...new Set(Object.values(weightMap as Record<string, unknown>))];
  if (!shards.length) throw new HubError('ERR_HUB_BAD_INDEX', `${SAFETENSORS_INDEX_FILE} of ${repo} names no shards`);
  for (const s of shards) {
    if (typeof s !== 'string' || !s.endsWith('.safetensors')) {
      throw new HubError('ERR_HUB_BAD_INDEX', `${SAFETENSORS_INDEX_FILE} of ${repo} names a shard that is not a .safetensors file: ${JSON.stringify(s)}`);
    }
    try {
      assertSafeShardFilename(s);
    } catch (err) {
      throw new HubError('ERR_HUB_BAD_INDEX', `${SAFETENSORS_INDEX_FILE} of ${repo}: ${(err as Error).message}`);
    }
  }
  return shards as string[];
}
