// The N-API surface of the native addon (native/napi/addon.cpp, napi_model.cpp, napi_context.cpp,
// napi_encoder.cpp).
// Every method that computes returns a promise and runs off the JS thread. Errors thrown or
// rejected carry a string `code` (ERR_BAD_MODEL_FILE, ERR_CLOSED, ERR_BUSY, ERR_ABORTED,
// ERR_CONTEXT_FULL, ERR_INVALID_ARG, ...).

export type GgufMetadataValue =
  | number
  | boolean
  | string
  | string[]
  | number[]
  | boolean[]
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array;

export interface NativeHParams {
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  headDim: number;
  nFf: number[];
  rmsEps: number;
  embdScale: number;
  attnSoftcap: number;
  finalSoftcap: number;
  queryPreAttnScalar: number;
  slidingWindow: number;
  layerIsSwa: boolean[];
  ropeBase: number;
  ropeBaseSwa: number;
  ropeFreqScale: number;
  /** linear RoPE scaling of the sliding layers (Gemma 2 scales every layer, Gemma 3 the global ones) */
  ropeFreqScaleSwa: number;
  hasPostNorms: boolean;
  hasQkNorm: boolean;
  tiedOutput: boolean;
}

/** Type of the float weight matrices: 'auto' is a GGUF's own types and, for safetensors, the
 * device's default (`autoDtype`, chosen by src/runtime/devices.ts: F32 on CPU); an explicit type
 * converts F32/F16/BF16 matrices at load (quantized ones stay). Norm weights are always F32. */
export type WeightDtype = 'auto' | 'f32' | 'f16' | 'bf16';

/** A compute device ggml offers in this process (native/runtime/devices.cpp). */
export interface NativeDevice {
  /** ggml's name: "CPU", "CUDA0", "MTL0", … */
  name: string;
  /** the processor's model name */
  description: string;
  /** its ggml backend's registry name: "CPU", "CUDA", "MTL" (Metal), … */
  backend: string;
  kind: 'cpu' | 'gpu' | 'igpu' | 'accel';
  memoryFree: number;
  memoryTotal: number;
  /** CUDA devices: major.minor from the driver (8.6, 9.0); absent elsewhere or without a driver */
  computeCapability?: number;
}

export interface NativeLoadOptions {
  dtype?: WeightDtype;
  /** what 'auto' converts safetensors matrices to (default 'f32') */
  autoDtype?: Exclude<WeightDtype, 'auto'>;
  /** matrices into ggml's faster CPU layouts (AMX, interleaved) as llama.cpp does (default true) */
  repack?: boolean;
  /** a device name from listDevices() (default: the CPU); ERR_NO_DEVICE when absent */
  device?: string;
  /**
   * With a device other than the CPU: how many layers it holds, the output layer counting as one
   * more (llama.cpp's --n-gpu-layers: the last N; 1 = the output layer alone); the rest and the
   * input embeddings stay on the CPU. -1 (default): all of them. Ignored on the CPU.
   */
  gpuLayers?: number;
}

export interface NativeModelInfo {
  arch: 'gemma' | 'gemma2' | 'gemma3';
  /** 'gguf': a .gguf file; 'hf': an HF model directory (config.json + safetensors) */
  format: 'gguf' | 'hf';
  /** HF directory, absolute (tokenizer.json and tokenizer_config.json sit next to config.json) */
  dir?: string;
  nVocab: number;
  nCtxTrain: number;
  /** type holding most weight bytes in the file, e.g. "f32", "bf16", "q8_0" */
  weightType: string;
  /** type holding most matrix bytes in memory after the dtype policy, e.g. "f32", "bf16", "q8_0" */
  dtype: string;
  /** bytes of weights held: mapped from the files plus converted or repacked copies */
  weightBytes: number;
  /** of weightBytes, those used in place from the mmap'd files (page cache, not copied) */
  mappedBytes: number;
  /** of weightBytes, matrices held in ggml's faster CPU layouts (AMX tiles, interleaved quants) */
  repackedBytes: number;
  /** the device that runs it */
  device: NativeDevice;
  /** per layer, the device (ggml name) holding its weights and its KV cache: "CPU" or the GPU's */
  layerDevices: string[];
  /** the device of the final norm and the output matrix ("CPU" when gpuLayers is 0) */
  outputDevice: string;
  /** of weightBytes, those uploaded into the GPU's memory */
  deviceWeightBytes: number;
  hparams: NativeHParams;
}

export interface NativeContextOptions {
  /** KV cells shared by all sequences (default 4096) */
  nCtx?: number;
  /** sequence ids 0..nSeqMax-1 (default 16, at most 256) */
  nSeqMax?: number;
  /** tokens per graph evaluation (default 512) */
  nUbatch?: number;
  /** compute threads (default: physical cores) */
  threads?: number;
  /** KV cache type (default f16) */
  kvType?: 'f16' | 'f32';
  /** fused flash attention (default true) */
  flashAttn?: boolean;
  /**
   * Sliding-window layers keep the whole context, as global layers do (llama.cpp's swa_full).
   * Default false: they keep a ring of window x nSeqMax + nUbatch cells (when smaller than the
   * context), which is all they ever read.
   */
  swaFull?: boolean;
}

export interface NativeContextState {
  nCtx: number;
  nSeqMax: number;
  nUbatch: number;
  threads: number;
  kvType: 'f16' | 'f32';
  flashAttn: boolean;
  /** cells in use of the global layers' cache, which holds every cached position */
  kvUsed: number;
  /** bytes of both caches */
  kvBytes: number;
  swaFull: boolean;
  /** the sliding-window layers' window when they have a ring of their own, else 0 */
  swaWindow: number;
  /** cells of that ring (0 when none) */
  swaCells: number;
  swaBytes: number;
  busy: boolean;
}

export interface NativeContext {
  /**
   * Runs the batch; entry i is token tokens[i] of sequence seq[i] at position pos[i]. Resolves
   * with the logits of every position whose output flag is set, n_outputs x n_vocab, rows in
   * batch order. The Float32Array owns native memory (no copy); with `out`, the logits are
   * written into it (ERR_INVALID_ARG if too small; do not touch it until the promise settles)
   * and the result is a view of it.
   */
  decode(tokens: Int32Array, pos: Int32Array, seq: Int32Array, output: Uint8Array, out?: Float32Array): Promise<Float32Array>;
  /** Stops the running decode between ubatches (it rejects with ERR_ABORTED; the cache is unchanged). */
  abort(): void;
  /** Drops positions [p0, p1) of a sequence; p1 < 0: to the end. */
  seqRemove(seq: number, p0: number, p1: number): void;
  /** Makes dst see src's cached positions [p0, p1) (cells are shared, not copied). */
  seqCopy(src: number, dst: number, p0: number, p1: number): void;
  /**
   * A copy of a sequence's cached rows of positions [p0, p1): every position's global-layer
   * rows (each must be cached) and the sliding-window rows the ring still holds at the end of
   * the range; with slidingOnly, only the sliding-window rows, all of which must be held.
   * ERR_BUSY while a decode runs.
   */
  seqSave(seq: number, p0: number, p1: number, slidingOnly?: boolean): Uint8Array;
  /**
   * Saved rows back as positions p0, p0 + 1, ... of seq, in free cells (ERR_CONTEXT_FULL when
   * there are too few; the range is then removed from seq). ERR_INVALID_ARG for data saved by
   * a context of another model or other settings.
   */
  seqRestore(seq: number, p0: number, data: Uint8Array): void;
  /** Highest cached position of a sequence, -1 when empty. */
  seqPosMax(seq: number): number;
  /**
   * The first position from which the sliding-window ring still holds every position seq holds
   * (0 with one cache for every layer). Continuing seq at position p (after removing [p, end))
   * is exact iff this is 0 or p - swaWindow + 1 >= this.
   */
  seqWindowFrom(seq: number): number;
  clear(): void;
  state(): NativeContextState;
  /** Frees the context; throws ERR_BUSY while a decode runs. */
  close(): void;
}

export interface NativeModel {
  info(): NativeModelInfo;
  /**
   * GGUF: every metadata entry, tokenizer arrays and chat template included. HF directory: a
   * GGUF-like record of config.json (general.architecture, <arch>.* hyper-parameters,
   * tokenizer.ggml.*_token_id, hf.model_type, hf.dir, ...).
   */
  metadata(): Record<string, GgufMetadataValue>;
  createContext(options?: NativeContextOptions): Promise<NativeContext>;
  /** Releases the model; contexts already created keep the weights alive until they close. */
  close(): void;
}

/**
 * The sampler's whole-vocabulary loops (native/runtime/sampling_kernels.cpp). Synchronous: each takes
 * tens of microseconds on a 262,144-entry row. Rows are read, never written.
 */
export interface NativeKernels {
  /** index of the largest value, the lowest on ties */
  argmax(row: Float32Array): number;
  /** the k largest values, best first (ties: lower index first), into ids/vals; returns min(k, row.length) */
  topK(row: Float32Array, k: number, ids: Int32Array, vals: Float32Array): number;
  /** log(sum_i exp(scale * row[i])) */
  logPartition(row: Float32Array, scale: number): number;
  /** draws i with probability proportional to exp(scale * row[i]); u uniform in [0, 1) */
  sampleSoftmax(row: Float32Array, scale: number, u: number): number;
  /** nucleus of softmax(scale * row): fewest entries with mass >= p, into ids/vals (as long as the row), unordered; returns the count */
  topP(row: Float32Array, scale: number, p: number, ids: Int32Array, vals: Float32Array): number;
  /** entries >= threshold in index order into ids/vals (as long as the row); returns the count */
  selectAtLeast(row: Float32Array, threshold: number, ids: Int32Array, vals: Float32Array): number;
}

export interface NativeEncoderOptions {
  dtype?: WeightDtype;
  repack?: boolean;
  /** compute threads (default: physical cores) */
  threads?: number;
  /** tokens per graph (default: the model's context); an input must fit in one */
  nUbatch?: number;
  flashAttn?: boolean;
}

export interface NativeEncoderInfo {
  arch: 'bert' | 'nomic-bert';
  format: 'gguf' | 'hf';
  /** the HF directory (absolute), for that format */
  dir?: string;
  nVocab: number;
  /** the longest input the model reads */
  nCtxTrain: number;
  /** the length of its vectors */
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nFf: number;
  /** rank: a reranker (cross-encoder), which gives nOut scores per input instead of a vector */
  pooling: 'mean' | 'cls' | 'last' | 'rank';
  /** floats per input: nEmbd, or a reranker's labels */
  nOut: number;
  nUbatch: number;
  threads: number;
  flashAttn: boolean;
  weightType: string;
  dtype: string;
  weightBytes: number;
  mappedBytes: number;
  repackedBytes: number;
}

/** An embedding model and the context that runs it (native/runtime/encoder_context.cpp). */
export interface NativeEncoder {
  info(): NativeEncoderInfo;
  /** GGUF: every metadata entry (the tokenizer's included); HF directory: a GGUF-like record of its configs */
  metadata(): Record<string, GgufMetadataValue>;
  /**
   * One pooled vector per input (not normalized; a reranker: its scores), inputs.length x nOut
   * floats in input order. Inputs are token ids, 1..min(nUbatch, nCtxTrain) each (else
   * ERR_CONTEXT_LENGTH); types, when given, one token type per token of each input (a
   * cross-encoder's second segment is type 1). One encode at a time (ERR_BUSY); abort() rejects
   * a running one with ERR_ABORTED.
   */
  encode(inputs: Int32Array[], types?: Int32Array[]): Promise<Float32Array>;
  abort(): void;
  /** ERR_BUSY while an encode runs */
  close(): void;
}

export interface NativeAddon {
  /**
   * The version of this surface (native/napi/addon.cpp kSurfaceVersion), raised whenever it changes,
   * so that a stale build or prebuild is caught at load instead of failing later.
   */
  surfaceVersion: number;
  kernels: NativeKernels;
  /** path: a .gguf file or an HF model directory */
  loadModel(path: string, options?: NativeLoadOptions): Promise<NativeModel>;
  /** path: an embedding model (bert, nomic-bert): a .gguf file or an HF directory */
  loadEncoder(path: string, options?: NativeEncoderOptions): Promise<NativeEncoder>;
  physicalCores(): number;
  systemInfo(): string;
  /** the devices ggml offers here: the CPU always, GPUs where a backend for them is loaded */
  listDevices(): NativeDevice[];
  /**
   * Adds the devices of a ggml RPC server at 'host:port' (llama.cpp's rpc-server, or
   * build/potron-rpc-server serving a CPU): from then on listed and usable as a model's device.
   * ERR_NO_DEVICE when nothing answers there; ERR_NO_BACKEND in a build without RPC. ggml ends the
   * process if a server in use goes away later (its RPC client has no error path).
   */
  addRpcServer(endpoint: string): Promise<NativeDevice[]>;
  /**
   * Loads a ggml backend library built on its own (the optional CUDA package's libggml-cuda.so)
   * and returns its devices. ERR_NO_BACKEND when it cannot load (the message says why: a missing
   * CUDA runtime, say) or when this addon was built from source (ggml is inside it).
   */
  loadBackend(path: string): NativeDevice[];
  /**
   * Lowers the calling thread to run only on otherwise idle CPU (Linux SCHED_IDLE, the macOS
   * background band, Windows background mode); false where that is not possible.
   */
  lowerThreadToIdle(): boolean;
}
