// Device selection and the dtype policy: the rules against device lists as ggml reports them on
// machines we do not have (CUDA, Metal), then the native runtime on this one (CPU only).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

import type { NativeDevice } from '../src/runtime/addon.js';
import { autoFloatDtype, parseDeviceSpec, resolveDevice } from '../src/runtime/devices.js';
import { Model } from '../src/runtime/index.js';
import { native } from '../src/runtime/native.js';
import { hfModel, root, tinyModel } from './helpers/models.js';

const cpu: NativeDevice = { name: 'CPU', description: 'AMD EPYC 9654', backend: 'CPU', kind: 'cpu', memoryFree: 64e9, memoryTotal: 64e9 };
const cuda = (i: number, cc?: number): NativeDevice => ({
  name: `CUDA${i}`, description: 'NVIDIA GeForce', backend: 'CUDA', kind: 'gpu', memoryFree: 20e9, memoryTotal: 24e9,
  ...(cc !== undefined ? { computeCapability: cc } : {}),
});
// ggml's own names: registry "MTL", device "MTL0" (ggml-metal.cpp GGML_METAL_NAME)
const metal: NativeDevice = { name: 'MTL0', description: 'Apple M2 Max', backend: 'MTL', kind: 'gpu', memoryFree: 48e9, memoryTotal: 48e9 };
// ggml lists GPUs before the CPU; an order with the CPU first must give the same answers
const linuxCuda = [cuda(0, 8.6), cuda(1, 7.5), cpu];
const mac = [metal, cpu];
// a ggml RPC server's device (addRpcServer): of GPU type, but never chosen unasked
const rpc = (i: number): NativeDevice => ({ name: `RPC${i}`, description: '127.0.0.1:50052', backend: 'RPC', kind: 'gpu', memoryFree: 8e9, memoryTotal: 8e9 });

describe('device specs', () => {
  it('accepts auto, cpu, cuda, cuda:N and metal in any case, with spaces around', () => {
    expect(parseDeviceSpec('auto')).toEqual({ kind: 'auto' });
    expect(parseDeviceSpec(' CPU ')).toEqual({ kind: 'cpu' });
    expect(parseDeviceSpec('cuda')).toEqual({ kind: 'cuda' });
    expect(parseDeviceSpec('CUDA:1')).toEqual({ kind: 'cuda', index: 1 });
    expect(parseDeviceSpec('metal')).toEqual({ kind: 'metal' });
    expect(parseDeviceSpec('rpc')).toEqual({ kind: 'rpc' });
    expect(parseDeviceSpec('RPC:2')).toEqual({ kind: 'rpc', index: 2 });
  });

  it.each(['', 'gpu', 'cuda:', 'cuda:-1', 'cuda:x', 'cuda:1:2', 'vulkan', 'cuda0', 'rpc:', 'rpc0', 'metal:0'])('refuses %j with ERR_INVALID_ARG', (spec) => {
    expect(() => parseDeviceSpec(spec)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
  });
});

describe('resolveDevice', () => {
  it('auto picks the first GPU, else the CPU', () => {
    expect(resolveDevice('auto', linuxCuda).name).toBe('CUDA0');
    expect(resolveDevice('auto', [cpu, ...linuxCuda.slice(0, 2)]).name).toBe('CUDA0');
    expect(resolveDevice('auto', mac).name).toBe('MTL0');
    expect(resolveDevice('auto', [cpu]).name).toBe('CPU');
    // RPC devices exist only where a server was added on purpose: auto stays with a real GPU or the CPU
    expect(resolveDevice('auto', [rpc(0), cpu]).name).toBe('CPU');
    expect(resolveDevice('auto', [rpc(0), ...linuxCuda]).name).toBe('CUDA0');
  });

  it('names a device exactly: cpu next to GPUs, cuda:N by its ordinal, cuda the first', () => {
    expect(resolveDevice('cpu', linuxCuda).name).toBe('CPU');
    expect(resolveDevice('cuda:1', linuxCuda).name).toBe('CUDA1');
    expect(resolveDevice('cuda', linuxCuda).name).toBe('CUDA0');
    expect(resolveDevice('metal', mac).name).toBe('MTL0');
    expect(resolveDevice('rpc', [rpc(0), rpc(1), cpu]).name).toBe('RPC0');
    expect(resolveDevice('rpc:1', [rpc(0), rpc(1), cpu]).name).toBe('RPC1');
  });

  it('a device that is not there is ERR_NO_DEVICE naming those present, never the CPU instead', () => {
    for (const [spec, devices] of [['cuda:2', linuxCuda], ['cuda', [cpu]], ['metal', linuxCuda], ['cuda', mac], ['rpc', linuxCuda], ['rpc:1', [rpc(0), cpu]], ['cuda', [rpc(0), cpu]]] as const) {
      let err: unknown;
      try {
        resolveDevice(spec, devices);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'ERR_NO_DEVICE' });
      const message = (err as Error).message;
      expect(message).toContain(`'${spec}'`);
      for (const d of devices) expect(message).toContain(d.name);
    }
  });
});

describe('the dtype policy (auto, for safetensors)', () => {
  it('BF16 on CUDA from compute capability 8.0, F16 below it or when unknown, F16 on Metal, F32 on the CPU', () => {
    expect(autoFloatDtype(cuda(0, 8.0))).toBe('bf16');
    expect(autoFloatDtype(cuda(0, 8.6))).toBe('bf16');
    expect(autoFloatDtype(cuda(0, 12.0))).toBe('bf16');
    expect(autoFloatDtype(cuda(0, 7.5))).toBe('f16');
    expect(autoFloatDtype(cuda(0, 6.1))).toBe('f16');
    expect(autoFloatDtype(cuda(0))).toBe('f16');
    expect(autoFloatDtype(metal)).toBe('f16');
    expect(autoFloatDtype(cpu)).toBe('f32');
  });
});

describe('devices of this process (CPU only here)', () => {
  const devices = native().listDevices();
  const hasCuda = devices.some((d) => d.backend === 'CUDA');

  it('lists the CPU with its memory', () => {
    const cpus = devices.filter((d) => d.kind === 'cpu');
    expect(cpus).toHaveLength(1);
    expect(cpus[0]).toMatchObject({ name: 'CPU', backend: 'CPU' });
    expect(cpus[0]!.memoryTotal).toBeGreaterThan(0);
    expect(cpus[0]!.computeCapability).toBeUndefined();
  });

  it('a model says which device runs it; auto is the CPU where there is no GPU', async () => {
    const m = await Model.open(tinyModel('gemma3'));
    expect(m.info.device.name).toBe(hasCuda ? 'CUDA0' : 'CPU');
    await m.close();
  });

  it.runIf(!hasCuda)('asking for CUDA or Metal here is ERR_NO_DEVICE from the JS side and from the addon alike', async () => {
    await expect(Model.open(tinyModel('gemma3'), { device: 'cuda' })).rejects.toMatchObject({ code: 'ERR_NO_DEVICE' });
    await expect(Model.open(tinyModel('gemma3'), { device: 'metal' })).rejects.toMatchObject({ code: 'ERR_NO_DEVICE' });
    // the addon checks the name itself too (a caller of the raw surface)
    await expect(native().loadModel(tinyModel('gemma3'), { device: 'CUDA0' })).rejects.toMatchObject({
      code: 'ERR_NO_DEVICE',
      message: expect.stringContaining('present: CPU'),
    });
  });

  it('autoDtype converts safetensors matrices under auto; a GGUF keeps its types; an explicit dtype wins', async () => {
    const hf = hfModel('gemma3', 'bf16');
    const asF16 = await native().loadModel(hf, { autoDtype: 'f16' });
    expect(asF16.info().dtype).toBe('f16');
    asF16.close();
    const byDefault = await native().loadModel(hf);
    expect(byDefault.info().dtype).toBe('f32');
    byDefault.close();
    const explicit = await native().loadModel(hf, { dtype: 'bf16', autoDtype: 'f16' });
    expect(explicit.info().dtype).toBe('bf16');
    explicit.close();
    const gguf = await native().loadModel(tinyModel('gemma3', 'f32'), { autoDtype: 'f16' });
    expect(gguf.info().dtype).toBe('f32');
    gguf.close();
    // options are checked before anything is queued, as every option of the addon is
    expect(() => native().loadModel(hf, { autoDtype: 'q8_0' as 'f16' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
  });
});

describe('--device on the command line', () => {
  const run = promisify(execFile);
  const bin = path.join(root, 'bin', 'predict-otron.js');
  async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run('node', [bin, ...args]);
      return { code: 0, stdout, stderr };
    } catch (err) {
      return err as { code: number; stdout: string; stderr: string };
    }
  }

  it('a spec that is not one is a usage error before anything loads', async () => {
    const res = await cli(['bench', '--model', tinyModel('gemma3'), '--device', 'gpu']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain("--device must be auto, cpu, cuda, cuda:N, metal, rpc or rpc:N, not 'gpu'");
  });

  it('bench reports the device it ran on; a missing device is a one-line error, not a crash', async () => {
    const ok = await cli(['bench', '--model', tinyModel('gemma3'), '--device', 'cpu', '--prompt', '8', '--gen', '4', '--reps', '1', '--threads', '1', '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ device: 'CPU' });
    if (native().listDevices().some((d) => d.backend === 'MTL')) return;
    const missing = await cli(['bench', '--model', tinyModel('gemma3'), '--device', 'metal']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("device 'metal' is not available");
    expect(missing.stderr).not.toContain('    at ');
  });
});

describe('backend packages (the optional CUDA package)', () => {
  it('one that is installed but cannot load leaves the CPU working and says why when its device is asked for', async () => {
    const { backendLoadErrors, backendPackages, loadBackendPackages } = await import('../src/runtime/native.js');
    const fs = await import('node:fs');
    const os = await import('node:os');
    const [cudaPkg] = backendPackages;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'potron-backend-pkg-'));
    try {
      // an app with the package installed whose library is not one (a truncated download, say)
      fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"app","version":"1.0.0"}');
      const pkgDir = path.join(dir, 'node_modules', cudaPkg.name);
      fs.mkdirSync(pkgDir, { recursive: true });
      fs.writeFileSync(path.join(pkgDir, 'package.json'), JSON.stringify({ name: cudaPkg.name, version: '0.1.0' }));
      fs.writeFileSync(path.join(pkgDir, cudaPkg.file), 'not an ELF file');
      const before = backendLoadErrors().length;
      loadBackendPackages(native(), dir);
      if (process.platform !== cudaPkg.platform || process.arch !== cudaPkg.arch) {
        expect(backendLoadErrors()).toHaveLength(before); // not this platform's package: not even tried
        return;
      }
      const errors = backendLoadErrors().slice(before);
      expect(errors).toHaveLength(1);
      // a source build refuses any backend library (ggml is inside it); a prebuild names dlopen's reason
      expect(errors[0]).toMatch(new RegExp(`${cudaPkg.name} is installed but did not load: .*(built from source|${cudaPkg.file})`));
      expect(native().listDevices().some((d) => d.kind === 'cpu')).toBe(true);
      let err: unknown;
      try {
        resolveDevice('cuda', native().listDevices(), backendLoadErrors());
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 'ERR_NO_DEVICE', message: expect.stringContaining(`${cudaPkg.name} is installed but did not load`) });
      const m = await Model.open(tinyModel('gemma3'), { device: 'cpu' });
      expect(m.info.device.name).toBe('CPU');
      await m.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a library path that is not there is ERR_NO_BACKEND from the addon, not a crash', () => {
    expect(() => native().loadBackend('/nonexistent/libggml-cuda.so')).toThrow(expect.objectContaining({ code: 'ERR_NO_BACKEND' }));
  });
});
