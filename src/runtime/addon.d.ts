// The N-API surface of the native addon (native/addon.cpp, napi_model.cpp, napi_context.cpp).
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
  hasPostNorms: boolean;
  hasQkNorm: boolean;
  tiedOutput: boolean;
}

export interface NativeModelInfo {
  arch: 'gemma' | 'gemma2' | 'gemma3';
  nVocab: number;
  nCtxTrain: number;
  /** ggml type holding most weight bytes, e.g. "f32", "bf16", "q8_0" */
  weightType: string;
  weightBytes: number;
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
}

export interface NativeContextState {
  nCtx: number;
  nSeqMax: number;
  nUbatch: number;
  threads: number;
  kvType: 'f16' | 'f32';
  flashAttn: boolean;
  kvUsed: number;
  kvBytes: number;
  busy: boolean;
}

export interface NativeContext {
  /**
   * Runs the batch; entry i is token tokens[i] of sequence seq[i] at position pos[i]. Resolves
   * with the logits of every position whose output flag is set, n_outputs x n_vocab, rows in
   * batch order. The Float32Array owns native memory (no copy).
   */
  decode(tokens: Int32Array, pos: Int32Array, seq: Int32Array, output: Uint8Array): Promise<Float32Array>;
  /** Stops the running decode between ubatches (it rejects with ERR_ABORTED; the cache is unchanged). */
  abort(): void;
  /** Drops positions [p0, p1) of a sequence; p1 < 0: to the end. */
  seqRemove(seq: number, p0: number, p1: number): void;
  /** Makes dst see src's cached positions [p0, p1) (cells are shared, not copied). */
  seqCopy(src: number, dst: number, p0: number, p1: number): void;
  /** Highest cached position of a sequence, -1 when empty. */
  seqPosMax(seq: number): number;
  clear(): void;
  state(): NativeContextState;
  /** Frees the context; throws ERR_BUSY while a decode runs. */
  close(): void;
}

export interface NativeModel {
  info(): NativeModelInfo;
  /** Every GGUF metadata entry, tokenizer arrays and chat template included. */
  metadata(): Record<string, GgufMetadataValue>;
  createContext(options?: NativeContextOptions): Promise<NativeContext>;
  /** Releases the model; contexts already created keep the weights alive until they close. */
  close(): void;
}

export interface NativeAddon {
  loadModel(path: string): Promise<NativeModel>;
  physicalCores(): number;
  systemInfo(): string;
}
