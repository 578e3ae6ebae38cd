import { addRpcServer, parseDeviceSpec } from '../runtime/devices.js';

/** A usage error: printed without a stack, exit code 1. */
export class UsageError extends Error {}

export function intOption(value: string | undefined, name: string, dflt: number | undefined, min = 1): number | undefined {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, not '${value}'`);
  return n;
}

export function requireOption(value: string | undefined, name: string): string {
  if (!value) throw new UsageError(`--${name} is required`);
  return value;
}

export function kvTypeOption(value: string | undefined): 'f16' | 'f32' | undefined {
  if (value === undefined || value === 'f16' || value === 'f32') return value;
  throw new UsageError(`--kv-type must be f16 or f32, not '${value}'`);
}

export function dtypeOption(value: string | undefined): 'auto' | 'f32' | 'f16' | 'bf16' | undefined {
  if (value === undefined || value === 'auto' || value === 'f32' || value === 'f16' || value === 'bf16') return value;
  throw new UsageError(`--dtype must be auto, f32, f16 or bf16, not '${value}'`);
}

/** --device: checked here so that a typo is a usage error, not a failed load. */
export function deviceOption(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    parseDeviceSpec(value);
  } catch (err) {
    throw new UsageError(`--${(err as Error).message}`); // "device must be auto, cpu, …, not '…'"
  }
  return value;
}

export function boolOption(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'on' || value === 'true' || value === '1') return true;
  if (value === 'off' || value === 'false' || value === '0') return false;
  throw new UsageError(`--${name} must be on or off, not '${value}'`);
}

/** parseArgs options every command that runs a model takes. */
export const runtimeArgs = {
  model: { type: 'string' },
  threads: { type: 'string' },
  'kv-type': { type: 'string' },
  'flash-attn': { type: 'string' },
  dtype: { type: 'string' },
  device: { type: 'string' },
  'gpu-layers': { type: 'string' },
  rpc: { type: 'string' },
} as const;

type RuntimeValues = {
  model?: string; threads?: string; 'kv-type'?: string; 'flash-attn'?: string; dtype?: string; device?: string; 'gpu-layers'?: string; rpc?: string;
};

/** --rpc host:port[,host:port]: ggml RPC servers whose devices are added (device rpc / rpc:N). */
export function rpcOption(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const e of list) if (!/^[^\s:]+:\d{1,5}$/.test(e)) throw new UsageError(`--rpc takes host:port[,host:port], not '${e}'`);
  return list;
}

/** --gpu-layers N: whole layers, -1 for all. */
export function gpuLayersOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === '-1') return -1;
  return intOption(value, 'gpu-layers', undefined, 0);
}

/** The model path, thread count and context options given on the command line. */
export function runtimeOptions(values: RuntimeValues): {
  modelPath: string;
  threads: number | undefined;
  kvType: 'f16' | 'f32' | undefined;
  flashAttn: boolean | undefined;
  dtype: 'auto' | 'f32' | 'f16' | 'bf16' | undefined;
  device: string | undefined;
  gpuLayers: number | undefined;
  rpc: string[] | undefined;
} {
  return {
    modelPath: requireOption(values.model, 'model'),
    threads: intOption(values.threads, 'threads', undefined),
    kvType: kvTypeOption(values['kv-type']),
    flashAttn: boolOption(values['flash-attn'], 'flash-attn'),
    dtype: dtypeOption(values.dtype),
    device: deviceOption(values.device),
    gpuLayers: gpuLayersOption(values['gpu-layers']),
    rpc: rpcOption(values.rpc),
  };
}

/** Model.open's device options from the command line, after adding any --rpc servers. */
export async function deviceOptions(o: { device: string | undefined; gpuLayers: number | undefined; rpc: string[] | undefined }) {
  for (const endpoint of o.rpc ?? []) await addRpcServer(endpoint);
  return { ...(o.device ? { device: o.device } : {}), ...(o.gpuLayers !== undefined ? { gpuLayers: o.gpuLayers } : {}) };
}
