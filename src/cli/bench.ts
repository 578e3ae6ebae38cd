import { parseArgs } from 'node:util';

import { resolveModel } from '../hub/index.js';
import { Batch, Model, type Context } from '../runtime/index.js';
import { deviceOptions, intOption, runtimeArgs, runtimeOptions } from './args.js';

export const benchUsage = `predict-otron bench --model FILE [--threads N] [--prompt 512] [--gen 128] [--reps 3] [--depth 0] [--kv-type f16|f32] [--flash-attn on|off] [--dtype auto|f32|f16|bf16] [--device auto|cpu|cuda[:N]|metal|rpc[:N]] [--gpu-layers N] [--rpc HOST:PORT] [--json]
  Measures prefill and decode tokens/s the way llama-bench does (pp: one prompt; tg:
  single-token steps; each after --depth tokens already in the cache, as llama-bench -d), and
  the process's peak RSS.`;

export interface BenchResult {
  model: string;
  arch: string;
  weight_type: string;
  /** type the matrices are held in (after --dtype) */
  dtype: string;
  /** the device that ran it (ggml's name: CPU, CUDA0, …) */
  device: string;
  threads: number;
  n_prompt: number;
  n_gen: number;
  reps: number;
  /** tokens in the cache before each measured run */
  depth: number;
  /** bytes of the KV cache (the sliding-window layers in their ring) */
  kv_bytes: number;
  prefill_tokens_per_s: number;
  decode_tokens_per_s: number;
  prefill_runs: number[];
  decode_runs: number[];
  peak_rss_bytes: number;
}

function randomTokens(n: number, nVocab: number, seed: number): number[] {
  // xorshift: the same tokens on every run
  let x = seed || 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.push((x >>> 0) % nVocab);
  }
  return out;
}

/** The cache as a measured run finds it: `fill` tokens of one sequence (not timed). */
async function refill(ctx: Context, fill: number[]): Promise<void> {
  ctx.clear();
  if (fill.length) await ctx.decode(new Batch().addSequence(fill, 0, 0, false));
}

async function prefill(ctx: Context, tokens: number[], fill: number[] = []): Promise<number> {
  await refill(ctx, fill);
  const batch = new Batch().addSequence(tokens, fill.length, 0, true);
  const t0 = process.hrtime.bigint();
  await ctx.decode(batch);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function generate(ctx: Context, tokens: number[], fill: number[] = []): Promise<number> {
  await refill(ctx, fill);
  const batch = new Batch();
  // one logits buffer for every step, as the engine's scheduler and llama-bench keep one
  const out = new Float32Array(ctx.nVocab);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < tokens.length; i++) {
    batch.clear().add(tokens[i]!, fill.length + i, 0, true);
    await ctx.decode(batch, { out });
  }
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

export async function benchCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...runtimeArgs,
      prompt: { type: 'string' },
      gen: { type: 'string' },
      reps: { type: 'string' },
      depth: { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  const { modelPath, threads, kvType, flashAttn, dtype, ...dev } = runtimeOptions(values);
  const nPrompt = intOption(values.prompt, 'prompt', 512)!;
  const nGen = intOption(values.gen, 'gen', 128)!;
  const reps = intOption(values.reps, 'reps', 3)!;
  const depth = intOption(values.depth, 'depth', 0, 0)!;
  // any model reference: a path, an HF id (downloaded into the HF cache), org/repo:file.gguf
  const model = await Model.open((await resolveModel(modelPath)).path, { threads, dtype, ...(await deviceOptions(dev)) });
  try {
    const V = model.info.nVocab;
    const ctx = await model.createContext({
      nCtx: depth + nPrompt + nGen,
      nSeqMax: 1,
      kvType,
      flashAttn,
    });
    const promptTokens = randomTokens(nPrompt, V, 42);
    const genTokens = randomTokens(nGen, V, 7);
    const fill = randomTokens(depth, V, 3);
    // warm-up, as llama-bench does: pages the weights in and sizes the compute buffers
    await prefill(ctx, promptTokens.slice(0, Math.min(nPrompt, 32)));
    await generate(ctx, genTokens.slice(0, 1));
    const prefillRuns: number[] = [];
    const decodeRuns: number[] = [];
    for (let r = 0; r < reps; r++) prefillRuns.push(nPrompt / (await prefill(ctx, promptTokens, fill)));
    for (let r = 0; r < reps; r++) decodeRuns.push(nGen / (await generate(ctx, genTokens, fill)));
    const result: BenchResult = {
      model: modelPath,
      arch: model.info.arch,
      weight_type: model.info.weightType,
      dtype: model.info.dtype,
      device: model.info.device.name,
      threads: ctx.state().threads,
      n_prompt: nPrompt,
      n_gen: nGen,
      reps,
      depth,
      kv_bytes: ctx.state().kvBytes,
      prefill_tokens_per_s: mean(prefillRuns),
      decode_tokens_per_s: mean(decodeRuns),
      prefill_runs: prefillRuns,
      decode_runs: decodeRuns,
      peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    };
    if (values.json) {
      process.stdout.write(JSON.stringify(result) + '\n');
    } else {
      process.stdout.write(
        `${result.arch} ${result.weight_type} threads=${result.threads}\n` +
          `  prefill pp${nPrompt}: ${result.prefill_tokens_per_s.toFixed(1)} tokens/s\n` +
          `  decode  tg${nGen}: ${result.decode_tokens_per_s.toFixed(1)} tokens/s\n` +
          `  peak RSS: ${(result.peak_rss_bytes / 2 ** 20).toFixed(0)} MiB\n`,
      );
    }
  } finally {
    await model.close();
  }
}
