// A model on a device other than the CPU, without a GPU: ggml's RPC backend serves this machine's
// CPU from another process (build/potron-rpc-server) as a device of GPU type. As on CUDA, its
// memory is not ours: weights are uploaded, each offloaded layer's KV cache lives there, and the
// scheduler splits every graph between it and the local CPU (the input embeddings always stay
// here). What must hold is what must hold on a GPU: the same logits as the CPU alone, for full and
// partial offload, and llama.cpp's (the oracle) within the oracle tests' tolerance.
//
// Tolerances: the server runs the same ggml kernels on the same CPU with F32 weights (no AMX or
// repacking on either side for F32), so offloaded logits match the CPU's to rounding: 1e-4 on
// log-probabilities. Against llama.cpp: the oracle tests' 1e-3 (F32 cache). The 262k-vocabulary
// model's serving shapes (F16 cache, flash attention, batched steps): 1e-3 against the CPU.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { NativeDevice } from '../src/runtime/addon.js';
import { addRpcServer, listDevices, resolveDevice } from '../src/runtime/devices.js';
import { Batch, type Context, Model } from '../src/runtime/index.js';
import { argmax, logSoftmax, maxAbsDiff } from './helpers/compare.js';
import { families, gemma3VocabModel, root, testTokens, tinyModel } from './helpers/models.js';
import { disposeOracle, oracleLogprobs } from './helpers/oracle.js';

const serverExe = path.join(root, 'build', 'potron-rpc-server');
const N = 24; // three times the tiny models' sliding window

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A potron-rpc-server on a free port, once it accepts connections. */
async function startRpcServer(): Promise<{ endpoint: string; child: ChildProcess; stop: () => Promise<void> }> {
  const port = await freePort();
  const endpoint = `127.0.0.1:${port}`;
  const child = spawn(serverExe, [endpoint, '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (child.exitCode !== null) return reject(new Error(`potron-rpc-server exited: ${out}`));
      if (out.includes('transport')) return resolve(); // printed right before it listens
      setTimeout(check, 20);
    };
    check();
  });
  // listening follows the banner: wait until a connection is accepted (closed at once: the server
  // then waits for the next client)
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const sock = net.connect(port, '127.0.0.1', () => {
        sock.destroy();
        r(true);
      });
      sock.once('error', () => r(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    endpoint,
    child,
    stop: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

let server: Awaited<ReturnType<typeof startRpcServer>>;
let rpc: NativeDevice;

beforeAll(async () => {
  expect(fs.existsSync(serverExe), `${serverExe} (built with the addon: npm run build:native)`).toBe(true);
  server = await startRpcServer();
  const added = await addRpcServer(server.endpoint);
  expect(added).toHaveLength(1);
  rpc = added[0]!;
});
afterAll(async () => {
  await disposeOracle();
  // the models using the server are closed by then; ggml would end this process if a server in use went away
  await server?.stop();
});

async function logprobs(ctx: Context, tokens: number[]) {
  const batch = new Batch();
  tokens.forEach((t, i) => batch.add(t, i, 0, true));
  const logits = await ctx.decode(batch);
  return tokens.map((_, i) => logSoftmax(logits.row(i)));
}

async function run(file: string, tokens: number[], open: Parameters<typeof Model.open>[1], kv: { kvType: 'f16' | 'f32'; flashAttn: boolean }) {
  const model = await Model.open(file, open);
  try {
    const ctx = await model.createContext({ nCtx: 64, ...kv });
    return { info: model.info, rows: await logprobs(ctx, tokens) };
  } finally {
    await model.close();
  }
}

function worst(a: Float64Array[], b: Float64Array[]) {
  let w = 0;
  for (let p = 0; p < a.length; p++) {
    w = Math.max(w, maxAbsDiff(a[p]!, b[p]!));
    expect(argmax(a[p]!), `argmax at position ${p}`).toBe(argmax(b[p]!));
  }
  return w;
}

describe('an RPC device', () => {
  it('is listed as a GPU of backend RPC, chosen by rpc / rpc:N, never by auto', () => {
    expect(rpc).toMatchObject({ name: 'RPC0', backend: 'RPC', kind: 'gpu' });
    expect(rpc.memoryTotal).toBeGreaterThan(0);
    const devices = listDevices();
    expect(devices.map((d) => d.name)).toContain('RPC0');
    expect(resolveDevice('rpc', devices).name).toBe('RPC0');
    expect(resolveDevice('rpc:0', devices).name).toBe('RPC0');
    expect(resolveDevice('auto', devices).kind).toBe('cpu');
    expect(() => resolveDevice('rpc:3', devices)).toThrow(expect.objectContaining({ code: 'ERR_NO_DEVICE' }));
  });

  it('adding an address where nothing listens is ERR_NO_DEVICE (ggml itself would end the process)', async () => {
    const port = await freePort();
    await expect(addRpcServer(`127.0.0.1:${port}`)).rejects.toMatchObject({ code: 'ERR_NO_DEVICE', message: expect.stringContaining(`127.0.0.1:${port}`) });
    await expect(addRpcServer('no-port-here')).rejects.toMatchObject({ code: 'ERR_NO_DEVICE' });
  });
});

describe.each(families)('%s on the device', (family) => {
  const file = tinyModel(family, 'f32');
  let tokens: number[];
  let cpu: Float64Array[];
  let nLayer: number;

  beforeAll(async () => {
    const probe = await Model.open(file, { device: 'cpu' });
    nLayer = probe.info.hparams.nLayer;
    tokens = testTokens(N, probe.info.nVocab);
    await probe.close();
    cpu = (await run(file, tokens, { device: 'cpu' }, { kvType: 'f32', flashAttn: false })).rows;
  });

  it('every layer: weights uploaded, the logits of the CPU and of llama.cpp', async () => {
    const { info, rows } = await run(file, tokens, { device: 'rpc' }, { kvType: 'f32', flashAttn: false });
    expect(info.device.name).toBe('RPC0');
    expect(info.layerDevices).toEqual(Array(nLayer).fill('RPC0'));
    expect(info.outputDevice).toBe('RPC0');
    // everything but the input embeddings is on the device (and, tied, a copy of them as the output)
    expect(info.deviceWeightBytes).toBeGreaterThan(0);
    const vsCpu = worst(rows, cpu);
    expect(vsCpu).toBeLessThanOrEqual(1e-4);
    const oracle = await oracleLogprobs(file, tokens, rows[0]!.length, { kvType: 'f32', flashAttn: false });
    const vsLlama = worst(rows, oracle.map((r) => Float64Array.from(r)));
    expect(vsLlama).toBeLessThanOrEqual(1e-3);
    console.log(`${family} all layers on RPC0: max |Δ logprob| vs CPU ${vsCpu.toExponential(2)}, vs llama.cpp ${vsLlama.toExponential(2)}`);
  });

  it.each([
    { gpuLayers: 2, what: 'the last layer and the output' },
    { gpuLayers: 1, what: 'the output layer alone' },
    { gpuLayers: 0, what: 'nothing' },
  ])('gpuLayers $gpuLayers: $what on the device, as llama.cpp splits', async ({ gpuLayers }) => {
    const { info, rows } = await run(file, tokens, { device: 'rpc', gpuLayers }, { kvType: 'f32', flashAttn: false });
    // llama.cpp's rule: layer il on the GPU iff il >= n_layer + 1 - ngl; the output counts as layer n_layer
    const expected = Array.from({ length: nLayer }, (_, il) => (il >= nLayer + 1 - gpuLayers ? 'RPC0' : 'CPU'));
    expect(info.layerDevices).toEqual(expected);
    expect(info.outputDevice).toBe(gpuLayers >= 1 ? 'RPC0' : 'CPU');
    expect(info.deviceWeightBytes > 0).toBe(gpuLayers >= 1);
    expect(worst(rows, cpu)).toBeLessThanOrEqual(1e-4);
  });
});

describe('serving shapes on a split model', () => {
  // the real Gemma 3 vocabulary (262k rows: the tied output's device copy is the largest tensor),
  // F16 cache with flash attention, several sequences decoded together step by step, a sequence
  // saved from the device's cache and restored into another
  it('prefill, batched steps and a restored sequence give the CPU\'s logits', async () => {
    const steps = async (device: 'cpu' | 'rpc') => {
      const model = await Model.open(gemma3VocabModel, { device, gpuLayers: 3 });
      try {
        const ctx = await model.createContext({ nCtx: 256, nSeqMax: 3, nUbatch: 16, kvType: 'f16', flashAttn: true });
        const V = model.info.nVocab;
        const prompts = [testTokens(40, V, 1), testTokens(23, V, 2)];
        const out: Float64Array[] = [];
        const prefill = new Batch();
        prompts.forEach((p, s) => p.forEach((t, i) => prefill.add(t, i, s, i === p.length - 1)));
        let logits = await ctx.decode(prefill);
        for (let r = 0; r < logits.rows; r++) out.push(logSoftmax(logits.row(r)));
        const pos = prompts.map((p) => p.length);
        for (let step = 0; step < 6; step++) {
          const b = new Batch();
          for (let s = 0; s < 2; s++) b.add(argmax(out[out.length - 2 + s]!), pos[s]!++, s, true);
          logits = await ctx.decode(b);
          for (let r = 0; r < logits.rows; r++) out.push(logSoftmax(logits.row(r)));
        }
        // sequence 0's rows read back from wherever its layers keep them, into sequence 2
        const saved = ctx.seqSave(0, 0, pos[0]!);
        ctx.seqRestore(2, 0, saved);
        const b = new Batch();
        b.add(7, pos[0]!, 2, true);
        b.add(7, pos[0]!, 0, true);
        logits = await ctx.decode(b);
        for (let r = 0; r < logits.rows; r++) out.push(logSoftmax(logits.row(r)));
        return { out, info: model.info };
      } finally {
        await model.close();
      }
    };
    const cpu = await steps('cpu');
    const dev = await steps('rpc');
    expect(dev.info.layerDevices.filter((d) => d === 'RPC0')).toHaveLength(2);
    expect(dev.out).toHaveLength(cpu.out.length);
    const w = worst(dev.out, cpu.out);
    expect(w).toBeLessThanOrEqual(1e-3);
    // the restored copy continues as its original (to rounding: its rows sit in other cells)
    expect(maxAbsDiff(dev.out.at(-2)!, dev.out.at(-1)!)).toBeLessThanOrEqual(1e-3);
  });

  it('abort of a long prefill on the split model: ERR_ABORTED, the cache as it was, the context goes on', async () => {
    const model = await Model.open(tinyModel('gemma3'), { device: 'rpc', gpuLayers: 3 });
    try {
      const ctx = await model.createContext({ nCtx: 2048, nUbatch: 1 });
      await ctx.decode(new Batch().addSequence([2, 9], 0, 1, false));
      const controller = new AbortController();
      // 1500 ubatches of one token, each a round trip to the server: aborted long before the end
      // (an abort that arrives before the work starts counts too, so no timing is assumed)
      const p = ctx.decode(new Batch().addSequence(testTokens(1500, 384, 1), 0, 0, true), { signal: controller.signal });
      controller.abort();
      await expect(p).rejects.toMatchObject({ code: 'ERR_ABORTED' });
      expect(ctx.state().kvUsed).toBe(2);
      expect(ctx.seqPosMax(0)).toBe(-1);
      const l = await ctx.decode(new Batch().addSequence([2, 5, 6], 0, 0, true));
      expect(l.rows).toBe(1);
    } finally {
      await model.close();
    }
  });

  it('gpuLayers must be a whole number of layers', async () => {
    await expect(Model.open(tinyModel('gemma3'), { device: 'rpc', gpuLayers: 1.5 })).rejects.toThrow(/gpuLayers/);
    await expect(Model.open(tinyModel('gemma3'), { device: 'rpc', gpuLayers: -2 })).rejects.toThrow(/gpuLayers/);
    // more than the model has means all of them, as llama.cpp's -ngl 999
    const m = await Model.open(tinyModel('gemma3'), { device: 'rpc', gpuLayers: 999 });
    expect(new Set([...m.info.layerDevices, m.info.outputDevice])).toEqual(new Set(['RPC0']));
    await m.close();
  });
});

describe('the engine on a split model', () => {
  it('loadModel({ rpc, device, gpuLayers }): 8 concurrent greedy requests give the CPU\'s tokens', async () => {
    const { loadModel } = await import('../src/engine/language-model.js');
    const second = await startRpcServer();
    const opts = { contextSize: 512, parallel: 8, kvType: 'f32', flashAttn: false } as const;
    const prompts = Array.from({ length: 8 }, (_, i) => testTokens(10 + 3 * i, 384, 10 + i));
    const greedy = async (m: Awaited<ReturnType<typeof loadModel>>) =>
      (await Promise.all(prompts.map((p) => m.complete(p, { temperature: 0, maxTokens: 16 })))).map((r) => r.tokens.map((t) => t.id));
    try {
      const onCpu = await loadModel(tinyModel('gemma3', 'f32'), { ...opts, device: 'cpu' });
      const want = await greedy(onCpu);
      await onCpu.close();
      // the second server's device is RPC1 in this process (RPC0 is the first one's)
      const split = await loadModel(tinyModel('gemma3', 'f32'), { ...opts, rpc: [second.endpoint], device: 'rpc:1', gpuLayers: 3 });
      try {
        expect(split.info.device.name).toBe('RPC1');
        expect(await greedy(split)).toEqual(want);
      } finally {
        await split.close();
      }
    } finally {
      await second.stop();
    }
  });
});

describe('--rpc and --gpu-layers on the command line', () => {
  const bin = path.join(root, 'bin', 'predict-otron.js');
  const cli = async (args: string[]) => {
    try {
      const { stdout, stderr } = await promisify(execFile)('node', [bin, ...args]);
      return { code: 0, stdout, stderr };
    } catch (err) {
      return err as { code: number; stdout: string; stderr: string };
    }
  };

  it('logits through a second server (one client each) equal the CPU\'s; bad values are usage errors', async () => {
    const second = await startRpcServer();
    try {
      const tokens = testTokens(12, 256).join(',');
      const args = ['logits', '--model', tinyModel('gemma2'), '--tokens', tokens, '--threads', '1'];
      const onDevice = await cli([...args, '--rpc', second.endpoint, '--device', 'rpc', '--gpu-layers', '2']);
      expect(onDevice.stderr).toBe('');
      expect(onDevice.code).toBe(0);
      const onCpu = await cli([...args, '--device', 'cpu']);
      const a = JSON.parse(onDevice.stdout).logits as number[][];
      const b = JSON.parse(onCpu.stdout).logits as number[][];
      expect(a).toHaveLength(12);
      expect(worst(a.map((r) => logSoftmax(r)), b.map((r) => logSoftmax(r)))).toBeLessThanOrEqual(1e-4);
    } finally {
      await second.stop();
    }
    for (const [flag, value, message] of [['--gpu-layers', 'many', '--gpu-layers must be'], ['--rpc', 'localhost', '--rpc takes host:port']]) {
      const res = await cli(['logits', '--model', tinyModel('gemma2'), '--tokens', '2', flag!, value!]);
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(message);
    }
  });
});
