// Every metadata field the loaders read, in every format, given values no writer should produce:
// wrong kinds (a string for a number, an array for a scalar), NaN, absurd sizes, deep nesting,
// megabyte strings. Each file must load (and decode) or be refused with a JS Error whose code is
// ERR_* and whose message is short (a hostile value is described, never echoed); nothing may
// crash or abort the process. The hand-written cases in gguf/safetensors tests check the exact
// messages; this sweep checks that no field was forgotten.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadModel } from '../src/engine/language-model.js';
import { metadataKeys, T, withMetadata, type GgufValue } from './helpers/gguf-edit.js';
import { hfModel, tinyModel } from './helpers/models.js';
import { loadOutcome } from './helpers/outcome.js';
import { rawSafetensors, readSafetensors } from './helpers/safetensors.js';

let dir: string;
let n = 0;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potron-sweep-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const MAX_MESSAGE = 600;

async function expectHandled(p: string, what: string): Promise<string> {
  const outcome = await loadOutcome(p); // 'loaded' (and decoded) or the error's ERR_ code
  expect(outcome, what).toMatch(/^(loaded|ERR_[A-Z_]+)$/);
  return outcome;
}

async function expectShortError(p: string, what: string): Promise<void> {
  const { Model } = await import('../src/runtime/index.js');
  const err = await Model.open(p).then(async (m) => { await m.close(); return null; }, (e: Error) => e);
  if (err) expect(err.message.length, `${what}: ${err.message.slice(0, 200)}`).toBeLessThan(MAX_MESSAGE);
}

const big = 'x'.repeat(1 << 16);
const ggufValues: Array<[string, GgufValue]> = [
  ['a string', { type: T.STR, value: 'x' }],
  ['a 64 KB string', { type: T.STR, value: big }],
  ['NaN', { type: T.F32, value: NaN }],
  ['-inf', { type: T.F32, value: -Infinity }],
  ['1e300', { type: T.F64, value: 1e300 }],
  ['2^63', { type: T.U64, value: 1n << 63n }],
  ['-1', { type: T.I32, value: -1 }],
  ['0', { type: T.U32, value: 0 }],
  ['true', { type: T.BOOL, value: true }],
  ['an empty array', { type: T.ARR, elemType: T.U32, values: [] }],
  ['an array of strings', { type: T.ARR, elemType: T.STR, values: ['a', big] }],
  ['an array of NaN', { type: T.ARR, elemType: T.F32, values: [NaN, NaN] }],
  ['an array of 100,000 numbers', { type: T.ARR, elemType: T.I32, values: Array.from({ length: 100_000 }, (_, i) => i - 50_000) }],
];

describe('GGUF: every metadata key, every hostile value', () => {
  for (const family of ['gemma2', 'gemma3'] as const) {
    it(`${family}: the runtime loads or refuses each, with a short message`, async () => {
      const base = fs.readFileSync(tinyModel(family, 'q8_0'));
      const keys = [
        ...metadataKeys(base),
        // keys the loader reads that the generator does not write
        `${family}.attention.query_pre_attn_scalar`, `${family}.rope.scaling.factor`, `${family}.rope.scale_linear`,
        `${family}.rope.scaling.type`, `${family}.attention.sliding_window_pattern`, `${family}.rope.freq_base_swa`,
      ];
      const outcomes = new Map<string, number>();
      for (const key of new Set(keys)) {
        for (const [name, value] of [...ggufValues, ['absent', undefined] as const]) {
          const file = path.join(dir, `g${n++}.gguf`);
          fs.writeFileSync(file, withMetadata(base, key, value));
          const what = `${key} = ${name}`;
          const o = await expectHandled(file, what);
          outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
          if (o !== 'loaded') await expectShortError(file, what);
          fs.rmSync(file);
        }
      }
      // both happen: structure the runtime needs is refused, the rest (names, tokenizer keys) loads
      expect(outcomes.get('ERR_BAD_MODEL_FILE')).toBeGreaterThan(50);
      expect(outcomes.get('loaded')).toBeGreaterThan(50);
    });
  }

  it('the engine (tokenizer, template, end tokens) loads or refuses each tokenizer and template value', async () => {
    const base = fs.readFileSync(tinyModel('gemma3', 'q8_0'));
    const keys = metadataKeys(base).filter((k) => k.startsWith('tokenizer.') || k.startsWith('general.'));
    expect(keys.length).toBeGreaterThan(8);
    for (const key of keys) {
      for (const [name, value] of [...ggufValues, ['absent', undefined] as const]) {
        const file = path.join(dir, `e${n++}.gguf`);
        fs.writeFileSync(file, withMetadata(base, key, value));
        const what = `${key} = ${name}`;
        const m = await loadModel(file, { contextSize: 64, parallel: 1 }).catch((e: Error & { code?: string }) => e);
        if (m instanceof Error) {
          expect(m.code, `${what}: ${m.message.slice(0, 200)}`).toMatch(/^ERR_[A-Z_]+$/);
          expect(m.message.length, what).toBeLessThan(MAX_MESSAGE);
        } else {
          await m.close();
        }
        fs.rmSync(file);
      }
    }
  });
});

// JSON values: deep (within the 64-level limit, and far beyond it), wrong kinds, absurd sizes
const deep = (d: number) => JSON.parse('['.repeat(d) + ']'.repeat(d)) as unknown;
const jsonValues: Array<[string, () => unknown]> = [
  ['nested 60 deep', () => deep(60)],
  ['a string', () => 'x'],
  ['a 100 KB string', () => 'y'.repeat(100_000)],
  ['an object', () => ({ o: 1 })],
  ['1e300', () => 1e300],
  ['-1', () => -1],
  ['0', () => 0],
  ['0.5', () => 0.5],
  ['true', () => true],
  ['null', () => null],
  ['an array of 100,000 numbers', () => Array.from({ length: 100_000 }, (_, i) => i)],
];

describe('config.json: every field, every hostile value', () => {
  it('the runtime loads or refuses each, with a short message; nesting past 64 levels is refused in any field', async () => {
    const src = hfModel('gemma2', 'bf16');
    const config = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
    const fields = new Set([
      ...Object.keys(config), 'head_dim', 'hidden_act', 'rope_scaling', 'sliding_window_pattern', '_sliding_window_pattern',
      'rope_local_base_freq', 'use_bidirectional_attention', 'tie_word_embeddings', 'text_config',
    ]);
    const dirFor = (text: string) => {
      const d = path.join(dir, `c${n++}`);
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, 'config.json'), text);
      fs.symlinkSync(path.join(src, 'model.safetensors'), path.join(d, 'model.safetensors'));
      return d;
    };
    for (const field of fields) {
      for (const [name, value] of jsonValues) {
        const d = dirFor(JSON.stringify({ ...config, [field]: value() }));
        const o = await expectHandled(d, `${field} = ${name}`);
        if (o !== 'loaded') await expectShortError(d, `${field} = ${name}`);
        fs.rmSync(d, { recursive: true });
      }
      // 100,000 levels deep: refused while parsing, whatever the field
      const d = dirFor(JSON.stringify({ ...config, [field]: 0 }).replace(`"${field}":0`, `"${field}":${'['.repeat(1e5)}${']'.repeat(1e5)}`));
      expect(await expectHandled(d, `${field} nested 100,000 deep`)).toBe('ERR_BAD_MODEL_FILE');
      fs.rmSync(d, { recursive: true });
    }
  });
});

describe('safetensors headers: every field, every hostile value', () => {
  it('the runtime loads or refuses each, with a short message', async () => {
    const src = hfModel('gemma2', 'bf16');
    const file = fs.readFileSync(path.join(src, 'model.safetensors'));
    const headerLen = Number(file.readBigUInt64LE(0));
    const header = JSON.parse(file.toString('utf8', 8, 8 + headerLen)) as Record<string, Record<string, unknown>>;
    const data = file.subarray(8 + headerLen);
    const config = fs.readFileSync(path.join(src, 'config.json'));
    const first = readSafetensors(path.join(src, 'model.safetensors'))[0]!.name;
    const edits: Array<[string, (h: Record<string, Record<string, unknown>>, v: unknown) => void]> = [
      ['dtype', (h, v) => { h[first]!.dtype = v; }],
      ['shape', (h, v) => { h[first]!.shape = v; }],
      ['a shape entry', (h, v) => { (h[first]!.shape as unknown[])[0] = v; }],
      ['data_offsets', (h, v) => { h[first]!.data_offsets = v; }],
      ['an offset', (h, v) => { (h[first]!.data_offsets as unknown[])[1] = v; }],
      ['the tensor entry', (h, v) => { h[first] = v as Record<string, unknown>; }],
      ['__metadata__', (h, v) => { h.__metadata__ = v as Record<string, unknown>; }],
      ['__metadata__.format', (h, v) => { h.__metadata__ = { format: v }; }],
    ];
    for (const [field, edit] of edits) {
      for (const [name, value] of jsonValues) {
        const h = JSON.parse(JSON.stringify(header)) as Record<string, Record<string, unknown>>;
        edit(h, value());
        const d = path.join(dir, `s${n++}`);
        fs.mkdirSync(d);
        fs.writeFileSync(path.join(d, 'config.json'), config);
        fs.writeFileSync(path.join(d, 'model.safetensors'), rawSafetensors(JSON.stringify(h), data));
        const o = await expectHandled(d, `${field} = ${name}`);
        if (o !== 'loaded') await expectShortError(d, `${field} = ${name}`);
        fs.rmSync(d, { recursive: true });
      }
    }
  });
});

/** An encoder file or directory: 'loaded' (and it encodes without crashing) or the error's ERR_ code. */
async function encoderOutcome(p: string, what: string): Promise<string> {
  const { Encoder } = await import('../src/runtime/encoder.js');
  try {
    const e = await Encoder.open(p, { threads: 1 });
    try {
      await e.encode([[2, 7, 3]]);
    } catch (err) {
      expect((err as { code?: string }).code, what).toMatch(/^ERR_/);
    } finally {
      await e.close();
    }
    return 'loaded';
  } catch (err) {
    const e = err as Error & { code?: string };
    expect(e, what).toBeInstanceOf(Error);
    expect(e.code, `${what}: ${e.message.slice(0, 200)}`).toMatch(/^ERR_[A-Z_]+$/);
    expect(e.message.length, what).toBeLessThan(MAX_MESSAGE);
    return e.code!;
  }
}

describe('embedding models: every metadata key and config field, every hostile value', () => {
  it('GGUF (bert, nomic-bert): the encoder loads or refuses each, with a short message', async () => {
    const { encoderModels } = await import('./helpers/models.js');
    for (const { arch, gguf } of [encoderModels[0]!, encoderModels[2]!]) {
      const base = fs.readFileSync(gguf);
      const keys = [...metadataKeys(base).filter((k) => !k.startsWith('tokenizer.ggml.tokens') && !k.startsWith('tokenizer.ggml.token_type') && !k.startsWith('tokenizer.ggml.scores')),
        `${arch}.attention.head_count_kv`, `${arch}.rope.freq_base`];
      const outcomes = new Map<string, number>();
      for (const key of new Set(keys)) {
        for (const [name, value] of [...ggufValues, ['absent', undefined] as const]) {
          const file = path.join(dir, `b${n++}.gguf`);
          fs.writeFileSync(file, withMetadata(base, key, value));
          const o = await encoderOutcome(file, `${arch} ${key} = ${name}`);
          outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
          fs.rmSync(file);
        }
      }
      expect(outcomes.get('ERR_BAD_MODEL_FILE'), arch).toBeGreaterThan(30);
      expect(outcomes.get('loaded'), arch).toBeGreaterThan(30);
    }
  });

  it('EmbeddingGemma: its own GGUF keys and its Dense and modules configs, every hostile value', async () => {
    const { embeddingGemmaModel } = await import('./helpers/models.js');
    const fixture = embeddingGemmaModel('f32');
    const base = fs.readFileSync(fixture.gguf);
    const a = 'gemma-embedding.';
    const outcomes = new Map<string, number>();
    for (const key of [`${a}attention.sliding_window`, `${a}attention.sliding_window_pattern`, `${a}pooling_type`, `${a}rope.freq_base_swa`,
      `${a}dense_2_feat_out`, `${a}attention.query_pre_attn_scalar`, 'general.architecture']) {
      for (const [name, value] of [...ggufValues, ['absent', undefined] as const]) {
        const file = path.join(dir, `g${n++}.gguf`);
        fs.writeFileSync(file, withMetadata(base, key, value));
        const o = await encoderOutcome(file, `gemma-embedding ${key} = ${name}`);
        outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
        fs.rmSync(file);
      }
    }
    expect(outcomes.get('ERR_BAD_MODEL_FILE')).toBeGreaterThan(10);
    expect(outcomes.get('loaded')).toBeGreaterThan(10);

    // HF: 2_Dense/config.json and modules.json fields (the weights linked, not copied)
    const src = fixture.hfDir;
    const dense = JSON.parse(fs.readFileSync(path.join(src, '2_Dense', 'config.json'), 'utf8')) as Record<string, unknown>;
    const modules = JSON.parse(fs.readFileSync(path.join(src, 'modules.json'), 'utf8')) as Record<string, unknown>[];
    const dirFor = (denseText: string, modulesText: string) => {
      const d = path.join(dir, `e${n++}`);
      fs.mkdirSync(d);
      for (const f of fs.readdirSync(src)) {
        if (f === '2_Dense' || f === 'modules.json') continue;
        fs.symlinkSync(path.join(src, f), path.join(d, f));
      }
      fs.mkdirSync(path.join(d, '2_Dense'));
      fs.symlinkSync(path.join(src, '2_Dense', 'model.safetensors'), path.join(d, '2_Dense', 'model.safetensors'));
      fs.writeFileSync(path.join(d, '2_Dense', 'config.json'), denseText);
      fs.writeFileSync(path.join(d, 'modules.json'), modulesText);
      return d;
    };
    for (const field of Object.keys(dense)) {
      for (const [name, value] of jsonValues) {
        const d = dirFor(JSON.stringify({ ...dense, [field]: value() }), JSON.stringify(modules));
        await encoderOutcome(d, `EmbeddingGemma 2_Dense ${field} = ${name}`);
        fs.rmSync(d, { recursive: true });
      }
    }
    for (const field of ['path', 'type']) {
      for (const [name, value] of jsonValues) {
        const changed = modules.map((m) => (m['path'] === '2_Dense' ? { ...m, [field]: value() } : m));
        const d = dirFor(JSON.stringify(dense), JSON.stringify(changed));
        await encoderOutcome(d, `EmbeddingGemma modules.json 2_Dense ${field} = ${name}`);
        fs.rmSync(d, { recursive: true });
      }
    }
  });

  it('config.json of an XLM-RoBERTa cross-encoder: loads or refuses each field\'s hostile values, with a short message', async () => {
    const { xlmrReranker } = await import('./helpers/models.js');
    const src = xlmrReranker.hfDir;
    const config = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
    const outcomes = new Map<string, number>();
    for (const field of Object.keys(config)) {
      for (const [name, value] of jsonValues) {
        const d = path.join(dir, `x${n++}`);
        fs.mkdirSync(d);
        for (const f of fs.readdirSync(src)) if (f !== 'config.json') fs.symlinkSync(path.join(src, f), path.join(d, f));
        fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify({ ...config, [field]: value() }));
        const o = await encoderOutcome(d, `xlm-roberta config ${field} = ${name}`);
        outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
        fs.rmSync(d, { recursive: true });
      }
    }
    expect(outcomes.get('ERR_BAD_MODEL_FILE')).toBeGreaterThan(10);
    expect(outcomes.get('loaded')).toBeGreaterThan(10);
  });

  it('config.json (bert, nomic_bert) and the pooling config: loads or refuses each, with a short message', async () => {
    const { encoderModels } = await import('./helpers/models.js');
    for (const { arch, hfDir: src } of [encoderModels[0]!, encoderModels[2]!]) {
      const config = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
      const pooling = JSON.parse(fs.readFileSync(path.join(src, '1_Pooling', 'config.json'), 'utf8')) as Record<string, unknown>;
      const dirFor = (configText: string, poolingText: string) => {
        const d = path.join(dir, `n${n++}`);
        fs.mkdirSync(path.join(d, '1_Pooling'), { recursive: true });
        fs.writeFileSync(path.join(d, 'config.json'), configText);
        fs.writeFileSync(path.join(d, '1_Pooling', 'config.json'), poolingText);
        fs.copyFileSync(path.join(src, 'modules.json'), path.join(d, 'modules.json'));
        fs.symlinkSync(path.join(src, 'model.safetensors'), path.join(d, 'model.safetensors'));
        return d;
      };
      const fields = new Set([...Object.keys(config), 'hidden_act', 'position_embedding_type', 'rotary_emb_fraction', 'moe_every_n_layers']);
      for (const field of fields) {
        for (const [name, value] of jsonValues) {
          const d = dirFor(JSON.stringify({ ...config, [field]: value() }), JSON.stringify(pooling));
          await encoderOutcome(d, `${arch} config ${field} = ${name}`);
          fs.rmSync(d, { recursive: true });
        }
      }
      for (const field of Object.keys(pooling)) {
        for (const [name, value] of jsonValues) {
          const d = dirFor(JSON.stringify(config), JSON.stringify({ ...pooling, [field]: value() }));
          await encoderOutcome(d, `${arch} pooling ${field} = ${name}`);
          fs.rmSync(d, { recursive: true });
        }
      }
    }
  });
});
