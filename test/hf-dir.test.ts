// HF model directories (config.json + safetensors) against the GGUF the same generator run
// wrote: the same numbers must give the same logits, exactly (same kernels, same weights;
// HF norms get their +1 at load as the GGUF converter adds it). The HF directory is also
// checked against llama.cpp on the twin GGUF, as test/oracle.test.ts checks GGUFs. Then the
// multimodal gemma3 wrapper, transformers' defaults, and the dtype policy.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runtimeOptions, UsageError } from '../src/cli/args.js';
import { Batch, Model, type OpenModelOptions } from '../src/runtime/index.js';
import { argmax, logSoftmax, maxAbsDiff } from './helpers/compare.js';
import { families, hfModel, hfTwin, testTokens, tinyModel } from './helpers/models.js';
import { disposeOracle, oracleLogprobs } from './helpers/oracle.js';
import { readSafetensors, writeSafetensors } from './helpers/safetensors.js';

const N = 24; // three times the tiny models' sliding window
const tokens = testTokens(N, 384);

afterAll(disposeOracle);

/** Logits of every position of `tokens`, F32 cache, no flash attention (as the oracle runs). */
async function run(p: string, options: OpenModelOptions = {}) {
  const model = await Model.open(p, options);
  try {
    const ctx = await model.createContext({ nCtx: 64, kvType: 'f32', flashAttn: false });
    const batch = new Batch();
    tokens.forEach((t, i) => batch.add(t, i, 0, true));
    const logits = await ctx.decode(batch);
    return { info: model.info, metadata: model.metadata(), hfDir: model.hfDir, rows: tokens.map((_, i) => Float32Array.from(logits.row(i))) };
  } finally {
    await model.close();
  }
}

/** Elements of all RMSNorm weights of a tiny model (hidden 64, head size 16; 2/4/6 layers). */
function normElements(family: (typeof families)[number]): number {
  const perLayer = { gemma: 2 * 64, gemma2: 4 * 64, gemma3: 4 * 64 + 2 * 16 }[family];
  return 64 + { gemma: 2, gemma2: 4, gemma3: 6 }[family] * perLayer;
}

function worst(a: Float32Array[], b: Float32Array[]): number {
  return Math.max(...a.map((row, i) => maxAbsDiff(row, b[i]!)));
}

async function expectOracle(rows: Float32Array[], gguf: string): Promise<number> {
  const theirs = await oracleLogprobs(gguf, tokens, 384, { kvType: 'f32', flashAttn: false });
  let d = 0;
  rows.forEach((row, p) => {
    const ours = logSoftmax(row);
    d = Math.max(d, maxAbsDiff(ours, theirs[p]!));
    expect(argmax(ours), `argmax at position ${p}`).toBe(argmax(theirs[p]!));
  });
  expect(d).toBeLessThanOrEqual(1e-3);
  return d;
}

describe.each(families)('%s HF directory', (family) => {
  it('f32: the same logits as the GGUF twin (single file and sharded), and llama.cpp agrees', async () => {
    const gguf = await run(hfTwin(family, 'f32'));
    const hf = await run(hfModel(family, 'f32'));
    const sharded = await run(hfModel(family, 'f32', true));
    expect(worst(hf.rows, gguf.rows)).toBe(0);
    expect(worst(sharded.rows, gguf.rows)).toBe(0);
    // config.json read into the same hyper-parameters as the GGUF's (layer pattern, soft-caps,
    // RoPE bases, query scale, ...)
    expect(hf.info.hparams).toEqual(gguf.info.hparams);
    expect(hf.info).toMatchObject({ arch: family, format: 'hf', nVocab: 384, nCtxTrain: 512, weightType: 'f32', dtype: 'f32' });
    expect(hf.info.weightBytes).toBe(gguf.info.weightBytes);
    // matrices are used in place from the mmap; only the norms (+1 applied) are copied
    expect(gguf.info.mappedBytes).toBe(gguf.info.weightBytes);
    expect(hf.info.weightBytes - hf.info.mappedBytes).toBe(4 * normElements(family));
    expect(gguf.info).toMatchObject({ format: 'gguf', dtype: 'f32' });
    expect(gguf.info.dir).toBeUndefined();
    expect(hf.info.dir).toBe(fs.realpathSync(hfModel(family, 'f32')));
    expect(hf.hfDir).toBe(hf.info.dir);
    const d = await expectOracle(hf.rows, hfTwin(family, 'f32'));
    console.log(`${family} HF f32 vs llama.cpp on the twin GGUF: max |Δ logprob| = ${d.toExponential(2)}`);
  });

  it('bf16: kept as bf16 equals the GGUF twin; auto on CPU converts to f32 exactly as a GGUF asked for f32', async () => {
    const gguf = await run(hfTwin(family, 'bf16'));
    const hf = await run(hfModel(family, 'bf16'), { dtype: 'bf16' });
    const sharded = await run(hfModel(family, 'bf16', true), { dtype: 'bf16' });
    expect(worst(hf.rows, gguf.rows)).toBe(0);
    expect(worst(sharded.rows, gguf.rows)).toBe(0);
    expect(hf.info).toMatchObject({ weightType: 'bf16', dtype: 'bf16', weightBytes: gguf.info.weightBytes });
    expect(hf.info.weightBytes - hf.info.mappedBytes).toBe(4 * normElements(family));
    await expectOracle(hf.rows, hfTwin(family, 'bf16'));

    const auto = await run(hfModel(family, 'bf16'));
    const ggufF32 = await run(hfTwin(family, 'bf16'), { dtype: 'f32' });
    expect(auto.info).toMatchObject({ weightType: 'bf16', dtype: 'f32', mappedBytes: 0 });
    expect(ggufF32.info).toMatchObject({ weightType: 'bf16', dtype: 'f32', weightBytes: auto.info.weightBytes });
    expect(worst(auto.rows, ggufF32.rows)).toBe(0);
    // F32 matrices take twice the bytes (norms are F32 either way)
    expect(auto.info.weightBytes).toBeGreaterThan(1.9 * hf.info.weightBytes);
    // BF16 matmuls round the activations too, so the two differ a little, not a lot
    const d = worst(auto.rows, hf.rows);
    expect(d).toBeGreaterThan(0);
    expect(d).toBeLessThan(0.1);
  });
});

describe('gemma3 f16 HF directory', () => {
  it('equals its GGUF twin', async () => {
    const gguf = await run(hfTwin('gemma3', 'f16'));
    const hf = await run(hfModel('gemma3', 'f16'), { dtype: 'f16' });
    expect(worst(hf.rows, gguf.rows)).toBe(0);
    expect(hf.info).toMatchObject({ weightType: 'f16', dtype: 'f16' });
  });
});

describe('HF metadata', () => {
  it('is a GGUF-like record of config.json', async () => {
    const hf = await run(hfModel('gemma2', 'f32'));
    expect(hf.metadata).toMatchObject({
      'general.architecture': 'gemma2',
      'hf.model_type': 'gemma2',
      'hf.architectures': ['Gemma2ForCausalLM'],
      'hf.dir': fs.realpathSync(hfModel('gemma2', 'f32')),
      'gemma2.block_count': 4,
      'gemma2.embedding_length': 64,
      'gemma2.attention.head_count': 4,
      'gemma2.attention.head_count_kv': 2,
      'gemma2.attention.sliding_window': 8,
      'gemma2.attention.sliding_window_pattern': [true, false, true, false],
      'gemma2.attn_logit_softcapping': 1.5,
      'gemma2.final_logit_softcapping': 2,
      'tokenizer.ggml.bos_token_id': 2,
      'tokenizer.ggml.eos_token_id': 1,
      'tokenizer.ggml.pad_token_id': 0,
    });
  });
});

describe('config.json layer pattern', () => {
  it('comes from layer_types, else sliding_window_pattern (or _sliding_window_pattern), else the family default', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potron-hf-swa-'));
    try {
      fs.cpSync(hfModel('gemma3', 'f32'), dir, { recursive: true });
      const base = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
      const swa = async (change: (c: Record<string, unknown>) => void) => {
        const c = structuredClone(base);
        change(c);
        fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(c));
        const m = await Model.open(dir);
        const pattern = m.info.hparams.layerIsSwa;
        await m.close();
        return pattern;
      };
      const T = true, F = false;
      expect(await swa((c) => { c.layer_types = ['full_attention', 'sliding_attention', 'full_attention', 'sliding_attention', 'full_attention', 'sliding_attention']; })).toEqual([F, T, F, T, F, T]);
      expect(await swa((c) => { delete c.layer_types; c.sliding_window_pattern = 2; delete c._sliding_window_pattern; })).toEqual([T, F, T, F, T, F]);
      expect(await swa((c) => { delete c.layer_types; c._sliding_window_pattern = 3; })).toEqual([T, T, F, T, T, F]);
      expect(await swa((c) => { delete c.layer_types; delete c._sliding_window_pattern; })).toEqual([T, T, T, T, T, F]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('gemma3 multimodal checkpoints (Gemma3ForConditionalGeneration)', () => {
  let dir: string;
  let plain: Awaited<ReturnType<typeof run>>;
  const src = () => hfModel('gemma3', 'f32');

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potron-hf-mm-'));
    plain = await run(src());
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** A gemma3 config as Google's 4b one is written: text_config lists only what differs from
   * Gemma3TextConfig's defaults, so rope_theta, rope_local_base_freq, the layer pattern,
   * rms_norm_eps and max_position_embeddings come from the defaults. */
  function wrap(name: string, prefix: string, textExtra: Record<string, unknown> = {}, withLmHead = false): string {
    const out = path.join(dir, name);
    fs.mkdirSync(out);
    const config = {
      architectures: ['Gemma3ForConditionalGeneration'],
      boi_token_index: 255999,
      eoi_token_index: 256000,
      eos_token_id: [1, 106],
      image_token_index: 262144,
      initializer_range: 0.02,
      mm_tokens_per_image: 256,
      model_type: 'gemma3',
      text_config: {
        head_dim: 16,
        hidden_size: 64,
        intermediate_size: 128,
        model_type: 'gemma3_text',
        num_attention_heads: 4,
        num_hidden_layers: 6,
        num_key_value_heads: 2,
        query_pre_attn_scalar: 16,
        sliding_window: 8,
        vocab_size: 384,
        ...textExtra,
      },
      torch_dtype: 'float32',
      transformers_version: '4.50.0.dev0',
      vision_config: { hidden_size: 32, image_size: 896, model_type: 'siglip_vision_model', num_hidden_layers: 2, patch_size: 14 },
    };
    fs.writeFileSync(path.join(out, 'config.json'), JSON.stringify(config, null, 2));
    const tensors = readSafetensors(path.join(src(), 'model.safetensors')).map((t) => ({ ...t, name: t.name.replace(/^model\./, prefix) }));
    const f32 = (shape: number[]) => Buffer.alloc(4 * shape.reduce((a, b) => a * b, 1));
    tensors.push({ name: 'vision_tower.vision_model.embeddings.patch_embedding.weight', dtype: 'F32', shape: [32, 3, 14, 14], bytes: f32([32, 3, 14, 14]) });
    tensors.push({ name: 'multi_modal_projector.mm_input_projection_weight', dtype: 'F32', shape: [32, 64], bytes: f32([32, 64]) });
    if (withLmHead) {
      const embd = tensors.find((t) => t.name.endsWith('embed_tokens.weight'))!;
      tensors.push({ ...embd, name: 'lm_head.weight', bytes: Buffer.alloc(embd.bytes.length) }); // tied: never read
    }
    writeSafetensors(path.join(out, 'model.safetensors'), tensors);
    return out;
  }

  it('loads the language model with transformers defaults (older layout: language_model.model.*)', async () => {
    const mm = await run(wrap('old-layout', 'language_model.model.'));
    expect(worst(mm.rows, plain.rows)).toBe(0);
    expect(mm.info.hparams).toEqual(plain.info.hparams);
    expect(mm.info.hparams).toMatchObject({ ropeBase: 1e6, ropeBaseSwa: 1e4, rmsEps: Math.fround(1e-6), layerIsSwa: [true, true, true, true, true, false] });
    expect(mm.info.nCtxTrain).toBe(131072); // Gemma3TextConfig's max_position_embeddings
    expect(mm.metadata).toMatchObject({ 'general.architecture': 'gemma3', 'hf.model_type': 'gemma3', 'tokenizer.ggml.eos_token_id': 1, 'hf.eos_token_ids': [1, 106] });
  });

  it('loads the newer layout (model.language_model.*, a tied lm_head.weight saved anyway)', async () => {
    const mm = await run(wrap('new-layout', 'model.language_model.', {}, true));
    expect(worst(mm.rows, plain.rows)).toBe(0);
  });

  it('applies linear RoPE scaling to the global layers', async () => {
    const mm = await run(wrap('scaled', 'language_model.model.', { rope_scaling: { factor: 8.0, rope_type: 'linear' } }));
    expect(mm.info.hparams.ropeFreqScale).toBe(0.125);
    expect(worst(mm.rows, plain.rows)).toBeGreaterThan(1e-3); // positions up to 23 rotate differently
  });
});

describe('dtype policy', () => {
  it('converts a GGUF F32 model to bf16 and f16 when asked, as it converts an HF one', async () => {
    const f32 = await run(tinyModel('gemma3', 'f32'));
    const bf16 = await run(tinyModel('gemma3', 'f32'), { dtype: 'bf16' });
    const f16 = await run(tinyModel('gemma3', 'f32'), { dtype: 'f16', repack: false });
    expect(f32.info).toMatchObject({ weightType: 'f32', dtype: 'f32' });
    expect(bf16.info).toMatchObject({ weightType: 'f32', dtype: 'bf16' });
    expect(f16.info).toMatchObject({ weightType: 'f32', dtype: 'f16' });
    // the matrices halve; the F32 norms stay
    const norms = 4 * normElements('gemma3');
    expect(bf16.info.weightBytes).toBe((f32.info.weightBytes - norms) / 2 + norms);
    expect(bf16.info.mappedBytes).toBe(norms); // the converted matrices are ours, the norms stay mapped
    expect(f16.info.weightBytes).toBe(bf16.info.weightBytes);
    for (const other of [bf16, f16]) {
      const d = worst(other.rows, f32.rows);
      expect(d).toBeGreaterThan(0);
      expect(d).toBeLessThan(0.1);
    }
    // where ggml multiplies F16 from a layout of its own (AMX), a converted matrix is held once,
    // in that layout; only the tied output matrix gets a second copy (tok_embd stays for lookups)
    const f16Relaid = await run(tinyModel('gemma3', 'f32'), { dtype: 'f16' });
    expect(worst(f16Relaid.rows, f16.rows)).toBeLessThan(1e-2);
    const embdF16 = 2 * 64 * 384;
    expect(f16Relaid.info.weightBytes - f16.info.weightBytes).toBeLessThanOrEqual(f16Relaid.info.repackedBytes > 0 ? embdF16 + 64 * 64 : 0);
    // the same conversion from the HF directory of the same weights
    const hfBf16 = await run(hfModel('gemma3', 'f32'), { dtype: 'bf16' });
    const twinBf16 = await run(hfTwin('gemma3', 'f32'), { dtype: 'bf16' });
    expect(worst(hfBf16.rows, twinBf16.rows)).toBe(0);
  });

  it('leaves quantized GGUF matrices as they are', async () => {
    const q = await run(tinyModel('gemma2', 'q8_0'));
    const asked = await run(tinyModel('gemma2', 'q8_0'), { dtype: 'f16' });
    expect(q.info).toMatchObject({ weightType: 'q8_0', dtype: 'q8_0' });
    expect(asked.info).toMatchObject({ weightType: 'q8_0', dtype: 'q8_0', weightBytes: q.info.weightBytes });
    // nothing converted: in place, or (where ggml has a faster layout on this CPU) relaid
    expect(q.info.mappedBytes + q.info.repackedBytes).toBe(q.info.weightBytes);
    expect(worst(asked.rows, q.rows)).toBe(0);
    const plainLayout = await run(tinyModel('gemma2', 'q8_0'), { repack: false });
    expect(plainLayout.info).toMatchObject({ repackedBytes: 0, mappedBytes: plainLayout.info.weightBytes }); // in place
  });

  it('rejects an unknown dtype', async () => {
    await expect(Model.open(tinyModel('gemma'), { dtype: 'f64' as never })).rejects.toBeInstanceOf(RangeError);
    expect(runtimeOptions({ model: 'm.gguf', dtype: 'bf16' }).dtype).toBe('bf16');
    expect(() => runtimeOptions({ model: 'm.gguf', dtype: 'int8' })).toThrow(UsageError);
  });
});
