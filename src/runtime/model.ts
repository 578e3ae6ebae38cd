import type { GgufMetadataValue, NativeContextOptions, NativeModel, NativeModelInfo, WeightDtype } from './addon.js';
import { Context } from './context.js';
import { autoFloatDtype, type DeviceSpec, listDevices, resolveDevice } from './devices.js';
import { closedError } from './errors.js';
import { backendLoadErrors, native } from './native.js';

export interface OpenModelOptions {
  /** Compute threads for contexts of this model (default: physical cores). */
  threads?: number;
  /**
   * Type of the float weight matrices (default 'auto': a GGUF's own types; for safetensors the
   * device's own: F32 on CPU, BF16 on CUDA from compute capability 8.0, F16 on older CUDA and on
   * Metal). 'f32' | 'f16' | 'bf16' convert F32/F16/BF16 matrices at load; quantized ones stay.
   */
  dtype?: WeightDtype;
  /**
   * The device that runs the model: 'auto' (default: the first GPU, else the CPU), 'cpu',
   * 'cuda', 'cuda:N', 'metal', or 'rpc' / 'rpc:N' (a ggml RPC server added with addRpcServer).
   * A device that is not there is ERR_NO_DEVICE.
   */
  device?: DeviceSpec;
  /**
   * On a GPU: how many layers it holds, the output layer counting as one more (llama.cpp's
   * --n-gpu-layers: the last N; 1 = the output layer alone); the other layers and the input
   * embeddings stay on the CPU, with their KV cache. Default: all. Ignored when the CPU runs it.
   */
  gpuLayers?: number;
  /**
   * Copy matrices into ggml's faster CPU layouts (AMX tiles on CPUs with AMX-INT8, interleaved
   * Q4_0/Q4_K/IQ4_NL with AVX2) where it has one, exactly as llama.cpp does (default true).
   * false keeps every matrix as stored, like llama.cpp's --no-repack.
   */
  repack?: boolean;
}

const dtypes: readonly WeightDtype[] = ['auto', 'f32', 'f16', 'bf16'];

export type ContextOptions = NativeContextOptions;

/**
 * A model loaded by the native runtime from a GGUF file or an HF model directory (config.json
 * + safetensors, single or sharded). Weights stay mmap'd where the file's type is the one used;
 * conversions (dtype, HF norm weights) go into memory of the model's own.
 */
export class Model {
  private native: NativeModel | null;
  private readonly contexts = new Set<Context>();
  readonly info: NativeModelInfo;

  private constructor(
    native: NativeModel,
    readonly path: string,
    private readonly threads: number | undefined,
  ) {
    this.native = native;
    this.info = native.info();
  }

  /**
   * Loads and validates a GGUF file or an HF model directory off the JS thread. A bad file
   * rejects with ERR_BAD_MODEL_FILE.
   */
  static async open(path: string, options: OpenModelOptions = {}): Promise<Model> {
    const { threads, dtype, repack, gpuLayers } = options;
    const device = resolveDevice(options.device ?? 'auto', listDevices(), backendLoadErrors());
    if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
      throw new RangeError(`threads must be a positive integer, not ${threads}`);
    }
    if (dtype !== undefined && !dtypes.includes(dtype)) {
      throw new RangeError(`dtype must be one of ${dtypes.join(', ')}, not ${String(dtype)}`);
    }
    if (repack !== undefined && typeof repack !== 'boolean') {
      throw new TypeError(`repack must be true or false, not ${String(repack)}`);
    }
    if (gpuLayers !== undefined && (!Number.isInteger(gpuLayers) || gpuLayers < -1 || gpuLayers > 2 ** 31 - 1)) {
      throw new RangeError(`gpuLayers must be a whole number of layers (or -1 for all), not ${gpuLayers}`);
    }
    const load = {
      dtype,
      autoDtype: autoFloatDtype(device),
      device: device.name,
      ...(repack !== undefined ? { repack } : {}),
      ...(gpuLayers !== undefined ? { gpuLayers } : {}),
    };
    return new Model(await native().loadModel(path, load), path, threads);
  }

  /** The HF model directory (absolute) the weights came from; undefined for a GGUF file. */
  get hfDir(): string | undefined {
    return this.info.dir;
  }

  get closed(): boolean {
    return this.native === null;
  }

  private live(): NativeModel {
    if (!this.native) throw closedError('model');
    return this.native;
  }

  /**
   * GGUF: every metadata entry (tokenizer arrays and chat template included). HF directory: a
   * GGUF-like record of config.json (general.architecture and the hyper-parameters).
   */
  metadata(): Record<string, GgufMetadataValue> {
    return this.live().metadata();
  }

  async createContext(options: ContextOptions = {}): Promise<Context> {
    const opts = { ...options };
    if (opts.threads === undefined && this.threads !== undefined) opts.threads = this.threads;
    const created = await this.live().createContext(opts);
    if (!this.native) {
      // close() ran while the cache was being allocated: free it rather than leak it (it holds
      // the model's weights alive)
      created.close();
      throw closedError('model');
    }
    const ctx = new Context(created, this.info.nVocab, (c) => this.contexts.delete(c));
    this.contexts.add(ctx);
    return ctx;
  }

  /** Closes every context of this model (waiting for running decodes), then the model. */
  async close(): Promise<void> {
    if (!this.native) return;
    const nativeModel = this.native;
    this.native = null;
    await Promise.all([...this.contexts].map((c) => c.close()));
    nativeModel.close();
  }
}

export const openModel = Model.open;

/** Physical CPU cores: the default thread count. */
export function physicalCores(): number {
  return native().physicalCores();
}
