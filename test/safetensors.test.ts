// The safetensors and config.json readers against truncated, corrupted and hand-made hostile
// HF directories: every one must give a JS Error (code ERR_BAD_MODEL_FILE, or a clear
// unsupported/not-found code) or load as a model that decodes; none may crash.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Model } from '../src/runtime/index.js';
import { hfModel } from './helpers/models.js';
import { loadOutcome } from './helpers/outcome.js';
import { rawSafetensors, readSafetensors, writeSafetensors, type StTensor } from './helpers/safetensors.js';

let dir: string;
let weights: Buffer;
let config: Record<string, unknown>;
let tensors: StTensor[];
let n = 0;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potron-st-'));
  weights = fs.readFileSync(path.join(hfModel('gemma2', 'bf16'), 'model.safetensors'));
  config = JSON.parse(fs.readFileSync(path.join(hfModel('gemma2', 'bf16'), 'config.json'), 'utf8'));
  tensors = readSafetensors(path.join(hfModel('gemma2', 'bf16'), 'model.safetensors'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A model directory holding the given config.json text and model.safetensors bytes. */
function modelDir(safetensors: Buffer | null, configText: string = JSON.stringify(config)): string {
  const d = path.join(dir, `m${n++}`);
  fs.mkdirSync(d);
  fs.writeFileSync(path.join(d, 'config.json'), configText);
  if (safetensors) fs.writeFileSync(path.join(d, 'model.safetensors'), safetensors);
  return d;
}

function withTensors(ts: StTensor[]): string {
  const d = modelDir(null);
  writeSafetensors(path.join(d, 'model.safetensors'), ts);
  return d;
}

const headerEnd = (buf: Buffer) => 8 + Number(buf.readBigUInt64LE(0));

async function openError(d: string): Promise<Error & { code?: string }> {
  const err = await Model.open(d).then(
    async (m) => {
      await m.close();
      return null;
    },
    (e: Error & { code?: string }) => e,
  );
  expect(err, `${d} loaded`).not.toBeNull();
  expect(err).toBeInstanceOf(Error);
  return err!;
}

/** loadOutcome for a scratch directory, removed afterwards. */
async function dirOutcome(d: string): Promise<'loaded' | string> {
  try {
    return await loadOutcome(d);
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
}

describe('truncated safetensors', () => {
  it('rejects every truncation point with ERR_BAD_MODEL_FILE naming the problem', async () => {
    const end = headerEnd(weights);
    const points = new Set<number>([0, 1, 7, 8, 9, end - 1, end, end + 1, weights.length - 1]);
    for (let p = 10; p < end; p += 97) points.add(p);
    for (let p = end; p < weights.length; p += Math.floor((weights.length - end) / 40)) points.add(p);
    for (const p of [...points].sort((a, b) => a - b)) {
      const err = await openError(modelDir(weights.subarray(0, p)));
      expect(err.code, `truncated at ${p}: ${err.message}`).toBe('ERR_BAD_MODEL_FILE');
      expect(err.message).toMatch(p === 0 ? /empty/ : /truncated|ends at/);
    }
  });
});

describe('corrupted safetensors', () => {
  it('survives a byte flipped at hundreds of places in the header and the data', async () => {
    const end = headerEnd(weights);
    const outcomes = new Map<string, number>();
    const places: number[] = [];
    for (let p = 0; p < end; p += 11) places.push(p);
    for (let p = end; p < weights.length; p += Math.floor((weights.length - end) / 25)) places.push(p);
    for (const p of places) {
      for (const mask of [0xff, 0x01]) {
        const bytes = Buffer.from(weights);
        bytes[p] = bytes[p]! ^ mask;
        const outcome = await dirOutcome(modelDir(bytes));
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
    }
    // both kinds happen: corrupted structure is refused, corrupted weights still load
    expect(outcomes.get('ERR_BAD_MODEL_FILE')).toBeGreaterThan(200);
    expect(outcomes.get('loaded')).toBeGreaterThan(30);
    expect([...outcomes.keys()].every((k) => k === 'loaded' || k === 'ERR_BAD_MODEL_FILE'), JSON.stringify([...outcomes])).toBe(true);
  });
});

describe('hostile safetensors headers', () => {
  const t = (name: string, dtype: string, shape: unknown, offsets: unknown) => ({ [name]: { dtype, shape, data_offsets: offsets } });
  const json = (o: object) => JSON.stringify(o);
  const deep = '['.repeat(100_000) + ']'.repeat(100_000);
  const cases: Array<[string, () => Buffer, RegExp]> = [
    ['a header length of 2^63', () => rawSafetensors('{}', Buffer.alloc(0), 1n << 63n), /implausible/],
    ['a header longer than the file', () => rawSafetensors('{"a":1}', Buffer.alloc(0), 1000n), /truncated: the header needs 1000/],
    ['a header that is not JSON', () => rawSafetensors('{"x": [1, 2'), /not valid JSON/],
    ['a header that is a JSON array', () => rawSafetensors('[1, 2, 3]'), /not a JSON object/],
    ['JSON nested 100,000 deep', () => rawSafetensors(`{"__metadata__": ${deep}}`), /nests deeper than 64 levels/],
    ['invalid UTF-8 in a name', () => rawSafetensors(Buffer.concat([Buffer.from('{"a'), Buffer.from([0xff, 0xfe]), Buffer.from('":{}}')])), /not valid JSON/],
    ['trailing garbage after the JSON', () => rawSafetensors('{} xyz'), /not valid JSON/],
    ['metadata that is not a string', () => rawSafetensors(json({ __metadata__: { format: 1 } })), /__metadata__ 'format' must be a string/],
    ['an unknown dtype', () => rawSafetensors(json(t('w', 'Q8', [2], [0, 2])), Buffer.alloc(2)), /unknown or unsupported dtype 'Q8'/],
    ['a negative dimension', () => rawSafetensors(json(t('w', 'F32', [-1, 4], [0, 16])), Buffer.alloc(16)), /shape entry must be a non-negative integer/],
    ['a fractional dimension', () => rawSafetensors(json(t('w', 'F32', [1.5], [0, 4])), Buffer.alloc(4)), /non-negative integer/],
    ['a shape that is not an array', () => rawSafetensors(json(t('w', 'F32', 'big', [0, 4])), Buffer.alloc(4)), /shape must be an array/],
    ['2^40 x 2^40 elements', () => rawSafetensors(json(t('w', 'F32', [2 ** 40, 2 ** 40], [0, 16])), Buffer.alloc(16)), /larger than the file's data section/],
    ['offsets past the end', () => rawSafetensors(json(t('w', 'F32', [2], [8, 16])), Buffer.alloc(8)), /truncated: tensor 'w' ends at/],
    ['offsets that end before they begin', () => rawSafetensors(json(t('w', 'F32', [0], [16, 0])), Buffer.alloc(16)), /end before they begin/],
    ['a size that does not match shape x dtype', () => rawSafetensors(json(t('w', 'F32', [2, 2], [0, 8])), Buffer.alloc(16)), /holds 8 bytes but its shape and dtype need 16/],
    ['offsets that are not two numbers', () => rawSafetensors(json(t('w', 'F32', [1], [0])), Buffer.alloc(4)), /data_offsets must be \[begin, end\]/],
    ['a tensor without a dtype', () => rawSafetensors(json({ w: { shape: [1], data_offsets: [0, 4] } }), Buffer.alloc(4)), /has no dtype/],
    [
      'two tensors sharing bytes',
      () => rawSafetensors(json({ ...t('a', 'F32', [4], [0, 16]), ...t('b', 'F32', [4], [8, 24]) }), Buffer.alloc(24)),
      /tensors 'a' and 'b' overlap/,
    ],
  ];
  it.each(cases)('%s', async (_name, bytes, message) => {
    const err = await openError(modelDir(bytes()));
    expect(err.code, err.message).toBe('ERR_BAD_MODEL_FILE');
    expect(err.message).toMatch(message);
  });

  it('weights of a dtype the runtime does not load, or a rank it does not know, are named', async () => {
    const swap = (name: string, change: Partial<StTensor>) => tensors.map((x) => (x.name === name ? { ...x, ...change } : x));
    const q = 'model.layers.0.self_attn.q_proj.weight';
    const qt = tensors.find((x) => x.name === q)!;
    let err = await openError(withTensors(swap(q, { dtype: 'I16' })));
    expect(err.message).toMatch(/'model.layers.0.self_attn.q_proj.weight' has dtype I16; F32, F16 and BF16 weights load/);
    err = await openError(withTensors(swap(q, { dtype: 'F8_E4M3', shape: [qt.shape[0]!, qt.shape[1]! * 2] })));
    expect(err.message).toMatch(/has dtype F8_E4M3/);
    err = await openError(withTensors(swap(q, { shape: [1, 1, 1, 1, ...qt.shape] })));
    expect(err.message).toMatch(/has 6 dimensions/);
    const k = 'model.layers.0.self_attn.k_proj.weight'; // [kv heads x head_dim, hidden] = [32, 64]
    err = await openError(withTensors(swap(k, { shape: [64, 32] })));
    expect(err.message).toMatch(/'model.layers.0.self_attn.k_proj.weight' has shape \[64, 32\], expected \[32, 64\]/);
    err = await openError(withTensors(tensors.filter((x) => x.name !== q)));
    expect(err.message).toMatch(/missing tensor 'model.layers.0.self_attn.q_proj.weight'/);
    err = await openError(withTensors([...tensors, { ...qt, name: 'model.layers.0.self_attn.rotary.weight' }]));
    expect(err.message).toMatch(/unexpected tensor 'model.layers.0.self_attn.rotary.weight'/);
    err = await openError(withTensors([...tensors, { ...qt, name: 'model.layers.7.self_attn.q_proj.weight' }]));
    expect(err.message).toMatch(/belongs to layer 7 but config.json has 4 layers/);
    err = await openError(withTensors([...tensors, { ...qt, name: `language_model.${q}` }]));
    expect(err.message).toMatch(/stored twice/);
    expect(err.code).toBe('ERR_BAD_MODEL_FILE');
  });
});

describe('hostile config.json', () => {
  const cfg = (change: Record<string, unknown>) => JSON.stringify({ ...config, ...change });
  const without = (key: string) => JSON.stringify(Object.fromEntries(Object.entries(config).filter(([k]) => k !== key)));
  const bad: Array<[string, () => string, RegExp]> = [
    ['empty', () => '', /empty/],
    ['not JSON', () => '{"model_type": "gemma2",', /config.json is not valid JSON/],
    ['an array', () => '[]', /not a JSON object/],
    ['no model_type', () => without('model_type'), /'model_type' is missing/],
    ['no hidden_size', () => without('hidden_size'), /'hidden_size' is missing/],
    ['a string hidden_size', () => cfg({ hidden_size: '64' }), /'hidden_size' must be an integer in 1\.\.262144, not "64"/],
    ['zero layers', () => cfg({ num_hidden_layers: 0 }), /'num_hidden_layers' must be an integer in 1\.\.4096, not 0/],
    ['a billion layers', () => cfg({ num_hidden_layers: 1e9 }), /'num_hidden_layers' must be an integer/],
    ['2^70 vocabulary', () => cfg({ vocab_size: 2 ** 70 }), /'vocab_size' must be an integer/],
    ['kv heads that do not divide the heads', () => cfg({ num_key_value_heads: 3 }), /'num_key_value_heads' \(3\) must divide num_attention_heads \(4\)/],
    ['an odd head_dim', () => cfg({ head_dim: 15 }), /'head_dim' must be even/],
    ['a negative rms_norm_eps', () => cfg({ rms_norm_eps: -1 }), /'rms_norm_eps' must be a number in \(0, 1\]/],
    ['a string rope_theta', () => cfg({ rope_theta: 'x' }), /'rope_theta' must be a number/],
    ['a zero sliding_window', () => cfg({ sliding_window: 0 }), /'sliding_window' must be an integer in 1\.\./],
    ['layer_types of the wrong length', () => cfg({ layer_types: ['full_attention'] }), /'layer_types' must list one type per layer \(4\)/],
    ['an unknown layer type', () => cfg({ layer_types: ['sliding_attention', 'full_attention', 'chunked_attention', 'full_attention'] }), /'layer_types' entry 2 must be/],
    ['a vocab_size the weights do not have', () => cfg({ vocab_size: 1000 }), /vocab_size 1000 does not match model.embed_tokens.weight, which has 384 rows/],
    ['untied embeddings without lm_head', () => cfg({ tie_word_embeddings: false }), /tie_word_embeddings is false but there is no lm_head.weight/],
    ['gemma3 without text_config', () => JSON.stringify({ model_type: 'gemma3' }), /'text_config' is missing/],
    ['gemma3 with a text_config that is not an object', () => JSON.stringify({ model_type: 'gemma3', text_config: [1] }), /'text_config' must be an object/],
    ['a text_config field out of range', () => JSON.stringify({ model_type: 'gemma3', text_config: { num_attention_heads: -4 } }), /'text_config.num_attention_heads' must be an integer/],
    ...(['vocab_size', 'hidden_size', 'num_hidden_layers', 'sliding_window'] as const).map(
      (key) => [`${key} nested 100,000 deep`, () => cfg({ [key]: 0 }).replace(`"${key}":0`, `"${key}":${'['.repeat(1e5)}${']'.repeat(1e5)}`), /config.json nests deeper than 64 levels/] as [string, () => string, RegExp],
    ),
    // within the nesting limit: named by its kind, never dumped
    ['hidden_size nested 60 deep', () => cfg({ hidden_size: JSON.parse('['.repeat(60) + ']'.repeat(60)) }), /'hidden_size' must be an integer in 1\.\.262144, not an array of 1 elements$/],
    ['a 1 MB string for a number', () => cfg({ sliding_window: 'x'.repeat(1 << 20) }), /'sliding_window' must be an integer in 1\.\.16777216, not a string of 1048576 bytes$/],
    ['NaN (as Python writes it)', () => cfg({ rms_norm_eps: 0 }).replace('"rms_norm_eps":0', '"rms_norm_eps":NaN'), /config.json is not valid JSON/],
    ['a RoPE base of 1e300', () => cfg({ rope_theta: 1e300 }), /'rope_theta' must be a number in \(0, 1e\+12\]/],
    ['a linear rope_scaling without factor', () => cfg({ model_type: 'gemma3_text', rope_scaling: { rope_type: 'linear' } }), /'rope_scaling.factor' is missing/],
  ];
  it.each(bad)('%s', async (_name, text, message) => {
    const err = await openError(modelDir(weights, text()));
    expect(err.code, err.message).toBe('ERR_BAD_MODEL_FILE');
    expect(err.message).toMatch(message);
  });

  const unsupported: Array<[string, () => string, string, RegExp]> = [
    ['a llama config', () => cfg({ model_type: 'llama' }), 'ERR_UNSUPPORTED_ARCH', /model_type 'llama' is not supported/],
    ['a 1 MB model_type', () => cfg({ model_type: 'y'.repeat(1 << 20) }), 'ERR_UNSUPPORTED_ARCH', /^.{0,400}$/],
    ['a ReLU MLP', () => cfg({ hidden_activation: 'relu' }), 'ERR_UNSUPPORTED_MODEL', /'hidden_activation' is 'relu'/],
    ['YaRN RoPE scaling', () => cfg({ model_type: 'gemma3_text', rope_scaling: { rope_type: 'yarn', factor: 4 } }), 'ERR_UNSUPPORTED_MODEL', /RoPE scaling 'yarn'/],
    ['attention biases', () => cfg({ attention_bias: true }), 'ERR_UNSUPPORTED_MODEL', /attention_bias/],
    ['bidirectional attention', () => cfg({ use_bidirectional_attention: true }), 'ERR_UNSUPPORTED_MODEL', /bidirectional/],
  ];
  it.each(unsupported)('%s', async (_name, text, code, message) => {
    const err = await openError(modelDir(weights, text()));
    expect(err.code, err.message).toBe(code);
    expect(err.message).toMatch(message);
  });

  it('rejects every truncation of config.json', async () => {
    const text = JSON.stringify(config, null, 2);
    for (let p = 1; p < text.trimEnd().length; p += 23) {
      const err = await openError(modelDir(weights, text.slice(0, p)));
      expect(err.code, `truncated at ${p}: ${err.message}`).toBe('ERR_BAD_MODEL_FILE');
    }
  });
});

describe('hostile directories and indexes', () => {
  const index = (weightMap: unknown) => JSON.stringify({ metadata: { total_size: 1 }, weight_map: weightMap });
  function shardedDir(indexText: string, files: Record<string, Buffer> = {}): string {
    const d = modelDir(null);
    fs.writeFileSync(path.join(d, 'model.safetensors.index.json'), indexText);
    for (const [name, bytes] of Object.entries(files)) fs.writeFileSync(path.join(d, name), bytes);
    return d;
  }
  const mapAll = (file: string) => Object.fromEntries(tensors.map((x) => [x.name, file]));

  it.each<[string, () => string, string, RegExp]>([
    ['a directory without config.json', () => { const d = path.join(dir, `m${n++}`); fs.mkdirSync(d); return d; }, 'ERR_MODEL_OPEN', /without config.json/],
    ['no weights', () => modelDir(null), 'ERR_BAD_MODEL_FILE', /no weights: neither model.safetensors nor model.safetensors.index.json/],
    ['a file of the directory instead of the directory', () => path.join(modelDir(weights), 'model.safetensors'), 'ERR_MODEL_OPEN', /give the directory that holds it/],
    ['an index that is not JSON', () => shardedDir('{"weight_map": '), 'ERR_BAD_MODEL_FILE', /the index is not valid JSON/],
    ['an empty weight_map', () => shardedDir(index({})), 'ERR_BAD_MODEL_FILE', /'weight_map' is missing or empty/],
    ['a shard outside the directory', () => shardedDir(index(mapAll('../m0/model.safetensors'))), 'ERR_BAD_MODEL_FILE', /not a file in the model directory/],
    ['a shard that is not a string', () => shardedDir(index({ a: 7 })), 'ERR_BAD_MODEL_FILE', /must name a file/],
    ['a missing shard', () => shardedDir(index(mapAll('model-00001-of-00002.safetensors'))), 'ERR_BAD_MODEL_FILE', /lists model-00001-of-00002.safetensors, which is not in the directory/],
    [
      'an index naming a tensor its shard does not hold',
      () => shardedDir(index({ ...mapAll('a.safetensors'), 'model.layers.0.mlp.extra.weight': 'a.safetensors' }), { 'a.safetensors': weights }),
      'ERR_BAD_MODEL_FILE',
      /puts 'model.layers.0.mlp.extra.weight' in a.safetensors, which does not hold it/,
    ],
  ])('%s', async (_name, make, code, message) => {
    const err = await openError(make());
    expect(err.code, err.message).toBe(code);
    expect(err.message).toMatch(message);
  });
});
