import { ChatTemplate } from '../chat/template.js';
import { type ChatMessage, type ChatMessageInput, checkMessages, flattenContent } from '../chat/messages.js';
import { resolveModel, type ResolveOptions } from '../hub/index.js';
import type { NativeModelInfo } from '../runtime/addon.js';
import type { Context } from '../runtime/context.js';
import { addRpcServer } from '../runtime/devices.js';
import { Model, type OpenModelOptions } from '../runtime/model.js';
import { type SamplingOptions, type SamplingParams, samplingParams } from '../sampling/options.js';
import { tokenizerFromDir, tokenizerFromGguf } from '../tokenizer/index.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { EngineError, invalidArg } from './errors.js';
import { type GenerationChunk, type GenerationResult, GenerationStream } from './generation-stream.js';
import { type ChatConfig, chatConfigFromDir, chatConfigFromGguf, endTokens } from './model-config.js';
import { Scheduler, type SchedulerStats } from './scheduler.js';

export interface LoadModelOptions extends ResolveOptions {
  /** compute threads (default: physical cores) */
  threads?: number;
  /** float weight type: 'auto' (F32 on CPU for safetensors, a GGUF's own types), 'f32', 'f16', 'bf16' */
  dtype?: OpenModelOptions['dtype'];
  /** the device that runs it: 'auto' (default: the first GPU, else the CPU), 'cpu', 'cuda', 'cuda:N', 'metal', 'rpc', 'rpc:N' */
  device?: OpenModelOptions['device'];
  /** on a GPU: the layers it holds, the output layer counting as one (default: all; llama.cpp's --n-gpu-layers) */
  gpuLayers?: number;
  /** ggml RPC servers ('host:port') whose devices are added before the device is chosen (device 'rpc') */
  rpc?: string[];
  /** KV cells shared by all requests; one request may use them all (default: min(training context, 8192)) */
  contextSize?: number;
  /** requests decoded together (default 8) */
  parallel?: number;
  /** requests that may wait beyond those; more get ERR_QUEUE_FULL (default 64) */
  maxQueue?: number;
  /** tokens per decode step, shared by generating requests and prompt chunks (default 512) */
  stepTokens?: number;
  /**
   * MiB of memory for the KV rows of preempted requests, copied back on their return instead of
   * recomputed (default: as much as the KV cache takes; 0: always recompute)
   */
  swapMiB?: number;
  /**
   * MiB of memory for prompts' sliding-window rows, which keep a shared prefix longer than the
   * window reusable after its sequence moved on (default: as much as the sliding layers' ring
   * takes; 0: such prefixes are recomputed)
   */
  windowMiB?: number;
  /**
   * Sliding-window layers keep the whole context like global ones (default false: a ring of
   * window x parallel + one step of cells, llama.cpp's default; several times less memory)
   */
  swaFull?: boolean;
  kvType?: 'f16' | 'f32';
  flashAttn?: boolean;
}

export interface GenerateOptions extends SamplingOptions {
  /** generated tokens at most (default: until an end token, a stop string or a full context) */
  maxTokens?: number;
  /** up to 16 strings; generation stops before the first that appears (it is not returned) */
  stop?: string | readonly string[];
  /** aborting cancels the request wherever it is: queued, prefilling or generating */
  signal?: AbortSignal;
}

export interface LanguageModelInfo extends NativeModelInfo {
  /** the reference it was loaded from, and the file or directory that was opened */
  ref: string;
  path: string;
  format: 'gguf' | 'hf';
  contextSize: number;
  parallel: number;
  /**
   * The KV cache: bytes in all; the sliding-window layers' window and ring cells when they keep
   * a ring of their own (0 when every layer keeps the whole context)
   */
  kvCache: { bytes: number; swaWindow: number; swaCells: number };
  /** where the chat template came from */
  chatTemplate: 'model' | 'builtin';
}

/** Text or token ids to continue. */
export type CompletionPrompt = string | readonly number[];

/** A conversation to answer or a prompt to continue. */
export type PromptInput = { messages: readonly ChatMessageInput[] } | { prompt: CompletionPrompt };

/** A request's checked options and tokenized prompt (LanguageModel.prepare). */
export interface PreparedRequest {
  readonly prompt: readonly number[];
  readonly sampling: SamplingParams;
  readonly stop: readonly string[];
  readonly maxTokens?: number;
}

/**
 * A language model ready to serve many requests at once (continuous batching over one KV pool).
 * chat()/complete() resolve with the whole result; chatStream()/completeStream() yield chunks as
 * tokens come. Every method that generates takes an AbortSignal.
 */
export class LanguageModel {
  private closing: Promise<void> | null = null;
  /** bytes of the longest token: a prompt of c UTF-16 units is at least c / this many tokens */
  private readonly maxTokenBytes: number;

  private constructor(
    readonly info: LanguageModelInfo,
    readonly tokenizer: Tokenizer,
    private readonly template: ChatTemplate,
    /** token ids that end a generation (EOS, <end_of_turn>, generation_config's eos_token_id); never part of the text */
    readonly endTokens: ReadonlySet<number>,
    private readonly model: Model,
    private readonly ctx: Context,
    private readonly scheduler: Scheduler,
  ) {
    // one scan of the vocabulary (~25 ms for 262k tokens), at load rather than in a request
    let m = 1;
    for (let id = 0; id < tokenizer.vocabSize; id++) m = Math.max(m, tokenizer.tokenBytes(id).length);
    this.maxTokenBytes = m;
  }

  /** @internal use loadModel() */
  static async create(ref: string, options: LoadModelOptions = {}): Promise<LanguageModel> {
    const resolved = await resolveModel(ref, options);
    for (const endpoint of options.rpc ?? []) await addRpcServer(endpoint);
    const model = await Model.open(resolved.path, {
      ...(options.threads !== undefined ? { threads: options.threads } : {}),
      ...(options.dtype !== undefined ? { dtype: options.dtype } : {}),
      ...(options.device !== undefined ? { device: options.device } : {}),
      ...(options.gpuLayers !== undefined ? { gpuLayers: options.gpuLayers } : {}),
    });
    let tokenizer: Tokenizer | undefined;
    try {
      const meta = model.metadata();
      const isDir = resolved.format === 'hf';
      tokenizer = isDir ? await tokenizerFromDir(resolved.path) : await tokenizerFromGguf(meta, { startWorker: true });
      const chat: ChatConfig = isDir ? chatConfigFromDir(resolved.path) : chatConfigFromGguf(meta);
      const specials = { bos_token: chat.bosToken, eos_token: chat.eosToken };
      const template = chat.chatTemplate !== undefined ? new ChatTemplate(chat.chatTemplate, specials) : ChatTemplate.builtinGemma(specials);

      const stops = endTokens(chat, tokenizer);

      const parallel = positiveInt(options.parallel, 'parallel', 8);
      const maxQueue = positiveInt(options.maxQueue, 'maxQueue', 64, 0);
      const stepTokens = positiveInt(options.stepTokens, 'stepTokens', 512);
      const train = model.info.nCtxTrain > 0 ? model.info.nCtxTrain : 8192;
      const contextSize = positiveInt(options.contextSize, 'contextSize', Math.min(train, 8192), 16);
      const ctx = await model.createContext({
        nCtx: contextSize, nSeqMax: parallel, nUbatch: Math.min(512, stepTokens),
        ...(options.kvType ? { kvType: options.kvType } : {}),
        ...(options.flashAttn !== undefined ? { flashAttn: options.flashAttn } : {}),
        ...(options.swaFull !== undefined ? { swaFull: options.swaFull } : {}),
      });
      const swapMiB = positiveInt(options.swapMiB, 'swapMiB', -1, 0);
      const windowMiB = positiveInt(options.windowMiB, 'windowMiB', -1, 0);
      const scheduler = new Scheduler(ctx, tokenizer, contextSize, {
        parallel, maxQueue, stepTokens, ...(swapMiB >= 0 ? { swapBytes: swapMiB * 2 ** 20 } : {}),
        ...(windowMiB >= 0 ? { windowBytes: windowMiB * 2 ** 20 } : {}),
      });
      const info: LanguageModelInfo = {
        ...model.info, ref, path: resolved.path, format: resolved.format, contextSize, parallel,
        kvCache: (({ kvBytes, swaWindow, swaCells }) => ({ bytes: kvBytes, swaWindow, swaCells }))(ctx.state()),
        chatTemplate: template.builtin ? 'builtin' : 'model',
      };
      return new LanguageModel(info, tokenizer, template, stops, model, ctx, scheduler);
    } catch (err) {
      await tokenizer?.close();
      await model.close();
      throw err;
    }
  }

  /** The prompt text a conversation renders to with the model's chat template. */
  renderChat(messages: readonly ChatMessageInput[], options: { addGenerationPrompt?: boolean } = {}): string {
    return this.template.render(checkMessages(messages), options);
  }

  async tokenize(text: string, options: { addSpecial?: boolean } = {}): Promise<number[]> {
    return this.dedupeBos(await this.tokenizer.encode(text, { addSpecial: options.addSpecial ?? true }));
  }

  detokenize(ids: readonly number[], options: { skipSpecial?: boolean } = {}): string {
    return this.tokenizer.decode(ids, options);
  }

  /**
   * Starts a generation and resolves once it is queued, so errors about the request itself
   * (invalid options, a prompt too long, a full queue) reject here, before any output: what an
   * HTTP server needs to choose a status code.
   */
  async start(input: PromptInput, options: GenerateOptions = {}, stream = true): Promise<GenerationStream> {
    return this.startPrepared(await this.prepare(input, options), { stream, ...(options.signal ? { signal: options.signal } : {}) });
  }

  /**
   * The work a request needs once, however many choices it asks for: every option checked first,
   * then a cheap bound on the prompt's size (no tokenizing of a prompt that cannot fit), then the
   * template rendered and the prompt tokenized. startPrepared() then queues one choice of it.
   */
  async prepare(input: PromptInput, options: GenerateOptions = {}): Promise<PreparedRequest> {
    this.live();
    const sampling = samplingParams(options, this.info.nVocab);
    const stop = stopStrings(options.stop);
    if (options.maxTokens !== undefined && (!Number.isInteger(options.maxTokens) || options.maxTokens < 1)) {
      throw invalidArg('max_tokens', `must be an integer >= 1, not ${options.maxTokens}`);
    }
    let prompt: number[];
    if ('messages' in input) {
      const messages = checkMessages(input.messages);
      this.checkPromptSize(messages.reduce((n, m) => n + flattenContent(m.content).length, 0));
      prompt = await this.chatPrompt(messages);
    } else {
      if (typeof input.prompt === 'string') this.checkPromptSize(input.prompt.length);
      prompt = await this.completionPrompt(input.prompt);
    }
    this.live();
    return { prompt, sampling, stop, ...(options.maxTokens !== undefined ? { maxTokens: options.maxTokens } : {}) };
  }

  /** Queues one choice of a prepared request (`seed` overrides the request's, as choice i of n uses seed + i). */
  async startPrepared(p: PreparedRequest, o: { seed?: number; signal?: AbortSignal; stream?: boolean } = {}): Promise<GenerationStream> {
    this.live();
    return this.scheduler.submit({
      prompt: p.prompt, sampling: o.seed === undefined ? p.sampling : { ...p.sampling, seed: o.seed }, stop: p.stop,
      stopTokens: this.endTokens, stream: o.stream ?? true,
      ...(p.maxTokens !== undefined ? { maxTokens: p.maxTokens } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
  }

  /**
   * A prompt of `chars` UTF-16 units is at least chars / (longest token's bytes) tokens (a UTF-8
   * byte per unit at the least): past the context that is refused before any tokenizing.
   */
  private checkPromptSize(chars: number): void {
    const atLeast = Math.ceil(chars / this.maxTokenBytes);
    if (atLeast >= this.info.contextSize) {
      throw new EngineError('ERR_CONTEXT_LENGTH',
        `the prompt is ${chars} characters, at least ${atLeast} tokens, but the context holds ${this.info.contextSize} ` +
        '(the prompt and at least one generated token must fit); shorten the prompt or load the model with a larger context', { param: 'messages' });
    }
  }

  async chat(messages: readonly ChatMessageInput[], options: GenerateOptions = {}): Promise<GenerationResult> {
    return (await this.start({ messages }, options, false)).result;
  }

  chatStream(messages: readonly ChatMessageInput[], options: GenerateOptions = {}): LazyStream {
    return new LazyStream((signal) => this.start({ messages }, { ...options, signal }), options.signal);
  }

  async complete(prompt: CompletionPrompt, options: GenerateOptions = {}): Promise<GenerationResult> {
    return (await this.start({ prompt }, options, false)).result;
  }

  completeStream(prompt: CompletionPrompt, options: GenerateOptions = {}): LazyStream {
    return new LazyStream((signal) => this.start({ prompt }, { ...options, signal }), options.signal);
  }

  /** Queue depth, running requests, KV use and token counters. */
  stats(): SchedulerStats {
    return this.scheduler.stats();
  }

  /** Aborts running and queued requests (they reject with ERR_CLOSED), then frees the model. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.scheduler.close();
      await this.ctx.close();
      await this.model.close();
      await this.tokenizer.close();
    })();
    return this.closing;
  }

  /** Waits for every queued and running request to finish. */
  idle(): Promise<void> {
    return this.scheduler.idle();
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  private live(): void {
    if (this.closing) throw new EngineError('ERR_CLOSED', 'the model is closed');
  }

  private async chatPrompt(messages: readonly ChatMessage[]): Promise<number[]> {
    const text = this.template.render(messages, { addGenerationPrompt: true });
    // the template writes BOS itself; the tokenizer adds it only where the template did not
    const ids = await this.tokenizer.encode(text, { addSpecial: false });
    const bos = this.tokenizer.bosId;
    if (this.tokenizer.addBos && bos !== undefined && ids[0] !== bos) ids.unshift(bos);
    return this.dedupeBos(ids);
  }

  private async completionPrompt(prompt: CompletionPrompt): Promise<number[]> {
    if (typeof prompt === 'string') return this.tokenize(prompt);
    if (!Array.isArray(prompt)) throw invalidArg('prompt', 'must be a string or an array of token ids');
    for (const t of prompt) {
      if (!Number.isInteger(t) || t < 0 || t >= this.info.nVocab) {
        throw invalidArg('prompt', `holds ${JSON.stringify(t)}, which is not a token id in [0, ${this.info.nVocab - 1}]`);
      }
    }
    return [...prompt];
  }

  /** A prompt that starts with BOS written out as text and BOS added gets one, not two. */
  private dedupeBos(ids: number[]): number[] {
    const bos = this.tokenizer.bosId;
    while (bos !== undefined && ids.length > 1 && ids[0] === bos && ids[1] === bos) ids.shift();
    return ids;
  }
}

/**
 * A stream whose request starts when iteration starts (tokenizing is asynchronous), so that
 * chatStream() can return at once. Errors from starting reject the first next() and `result`.
 */
export class LazyStream implements AsyncIterable<GenerationChunk> {
  private readonly controller = new AbortController();
  private readonly started: Promise<GenerationStream>;
  readonly result: Promise<GenerationResult>;

  constructor(start: (signal: AbortSignal) => Promise<GenerationStream>, signal?: AbortSignal) {
    if (signal?.aborted) this.controller.abort();
    this.started = start(this.controller.signal);
    this.result = this.started.then((s) => s.result);
    this.result.catch(() => undefined);
    if (signal && !signal.aborted) {
      const onAbort = () => this.controller.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      const detach = () => signal.removeEventListener('abort', onAbort);
      this.result.then(detach, detach); // the request ended (or never started): let go of the signal
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<GenerationChunk> {
    let inner: AsyncIterator<GenerationChunk> | null = null;
    return {
      next: async () => {
        inner ??= (await this.started)[Symbol.asyncIterator]();
        return inner.next();
      },
      return: async () => {
        this.controller.abort();
        return { done: true, value: undefined };
      },
    };
  }
}

function positiveInt(v: number | undefined, name: string, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min) throw invalidArg(name, `must be an integer >= ${min}, not ${v}`);
  return v;
}

/** Bounds on stop strings: each one is matched against the text at every token. */
export const MAX_STOP_STRINGS = 16;
export const MAX_STOP_LENGTH = 256;

function stopStrings(stop: string | readonly string[] | undefined | null): string[] {
  if (stop === undefined || stop === null) return [];
  const list = typeof stop === 'string' ? [stop] : stop;
  if (!Array.isArray(list) || list.length > MAX_STOP_STRINGS) throw invalidArg('stop', `must be a string or an array of at most ${MAX_STOP_STRINGS} strings`);
  for (const s of list) {
    if (typeof s !== 'string' || s.length === 0 || s.length > MAX_STOP_LENGTH) {
      throw invalidArg('stop', `must hold non-empty strings of at most ${MAX_STOP_LENGTH} characters`);
    }
  }
  return [...list];
}

/** Loads a model from an HF id (`google/gemma-3-1b-it[@rev]`), `org/repo:file.gguf`, a local HF directory or a .gguf file. */
export function loadModel(ref: string, options: LoadModelOptions = {}): Promise<LanguageModel> {
  return LanguageModel.create(ref, options);
}
