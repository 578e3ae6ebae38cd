// Which device runs a model, and what 'auto' means there: policy over the list of devices the
// native runtime reports (native/runtime/devices.cpp). Pure functions, so every rule is tested
// without the hardware it is about.
import type { NativeDevice, WeightDtype } from './addon.js';
import { RuntimeError } from '../errors.js';
import { native } from './native.js';

/** The devices ggml offers in this process: the CPU always, GPUs where a backend for them is loaded. */
export function listDevices(): NativeDevice[] {
  return native().listDevices();
}

/**
 * Adds the devices of a ggml RPC server ('host:port': llama.cpp's rpc-server, or
 * build/potron-rpc-server serving a CPU), usable from then on as `rpc` / `rpc:N`. ggml ends the
 * process if a server in use goes away, so this is for servers you run yourself.
 */
export function addRpcServer(endpoint: string): Promise<NativeDevice[]> {
  return native().addRpcServer(endpoint);
}

/** What a user asks for: `auto`, `cpu`, `cuda`, `cuda:N`, `metal`, `rpc` or `rpc:N`. */
export type DeviceSpec = string;

interface ParsedSpec {
  kind: 'auto' | 'cpu' | 'cuda' | 'metal' | 'rpc';
  /** cuda:N / rpc:N: ggml's CUDA<N> (the driver's ordinal N) / RPC<N> (in the order servers were added) */
  index?: number;
}

export function parseDeviceSpec(spec: DeviceSpec): ParsedSpec {
  const s = String(spec).trim().toLowerCase();
  if (s === 'auto' || s === 'cpu' || s === 'cuda' || s === 'metal' || s === 'rpc') return { kind: s };
  const m = /^(cuda|rpc):(\d{1,3})$/.exec(s);
  if (m) return { kind: m[1] as 'cuda' | 'rpc', index: Number(m[2]) };
  throw new RuntimeError('ERR_INVALID_ARG', `device must be auto, cpu, cuda, cuda:N, metal, rpc or rpc:N, not '${String(spec)}'`);
}

function present(devices: readonly NativeDevice[]): string {
  return devices.map((d) => `${d.name} (${d.description})`).join(', ') || 'none';
}

/**
 * The device a spec names among those present. `auto`: the first GPU (CUDA or Metal, in ggml's
 * order), else the CPU. A named device that is not there is ERR_NO_DEVICE, never a silent CPU.
 */
export function resolveDevice(spec: DeviceSpec, devices: readonly NativeDevice[], loadErrors: readonly string[] = []): NativeDevice {
  const want = parseDeviceSpec(spec);
  const cpu = devices.find((d) => d.kind === 'cpu');
  // backends by ggml's registry names: "CUDA" (devices CUDA0, …), "MTL" for Metal (MTL0)
  const gpus = devices.filter((d) => d.backend === 'CUDA' || d.backend === 'MTL');
  let found: NativeDevice | undefined;
  if (want.kind === 'auto') found = gpus[0] ?? cpu;
  else if (want.kind === 'cpu') found = cpu;
  else if (want.kind === 'metal') found = gpus.find((d) => d.backend === 'MTL');
  else {
    // RPC devices are never chosen by auto: they exist only where a server was added on purpose
    const backend = want.kind === 'cuda' ? 'CUDA' : 'RPC';
    const of = devices.filter((d) => d.backend === backend);
    found = want.index === undefined ? of[0] : of.find((d) => d.name.toLowerCase() === `${want.kind}${want.index}`);
  }
  if (!found) {
    const why =
      want.kind === 'cuda'
        ? loadErrors.length
          ? loadErrors.join('; ')
          : 'no such CUDA device here (this build has no CUDA backend, or the driver finds no GPU: check nvidia-smi)'
        : want.kind === 'metal'
          ? 'Metal runs on Apple silicon macOS builds only'
          : want.kind === 'rpc'
            ? 'no RPC server was added (addRpcServer, --rpc host:port)'
            : 'no CPU backend was loaded';
    throw new RuntimeError('ERR_NO_DEVICE', `device '${spec}' is not available: ${why}. Devices present: ${present(devices)}`);
  }
  return found;
}

/**
 * The type float weight matrices of a safetensors model are held in under dtype 'auto' (a GGUF
 * keeps its own types): BF16 on CUDA devices of compute capability 8.0 or more (Ampere on, where
 * cuBLAS and ggml's kernels run BF16 natively), F16 on older CUDA devices and where the capability
 * is unknown, F16 on Metal (its fast path; the original kept F32 there, which doubles memory and
 * halves bandwidth for no accuracy a Gemma needs), F32 on the CPU (BF16 or F16 matrices make ggml
 * round the activations too, and cost time in conversions there).
 */
export function autoFloatDtype(device: NativeDevice): Exclude<WeightDtype, 'auto'> {
  if (device.backend === 'CUDA') return device.computeCapability !== undefined && device.computeCapability >= 8 ? 'bf16' : 'f16';
  if (device.kind === 'cpu') return 'f32';
  return 'f16';
}
