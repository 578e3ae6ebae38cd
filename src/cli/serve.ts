import { parseArgs } from 'node:util';

import { loadEmbedder, type LoadEmbedderOptions } from '../engine/embedder.js';
import { loadReranker } from '../engine/reranker.js';
import { loadModel, type LoadModelOptions } from '../engine/language-model.js';
import { defaultModelId } from '../server/app.js';
import { createLogger } from '../server/logging.js';
import { startServer } from '../server/start.js';
import { boolOption, dtypeOption, intOption, kvTypeOption, UsageError } from './args.js';

export const DEFAULT_MODEL = 'google/gemma-3-270m-it';

export const serveUsage = `predict-otron serve [--model REF] [--embedding-model REF[=ID] ...] [--reranker REF[=ID] ...] [--host 127.0.0.1] [--port 8080] [--ctx N] [--parallel N] [--threads N] [--api-key K]
    [--max-queue 64] [--swap-mib N] [--model-id NAME] [--cors ORIGINS] [--body-limit BYTES] [--shutdown-timeout SECONDS]
    [--kv-type f16|f32] [--flash-attn on|off] [--dtype auto|f32|f16|bf16] [--offline] [--log-level info] [--log-prompts] [--no-webui]
  Serves the chat page at / (--no-webui: not) and the OpenAI API (POST /v1/chat/completions, /v1/completions, /v1/embeddings; GET /v1/models,
  /v1/rerank, /health, /ready, /metrics). --embedding-model and --reranker (repeatable; ID is the name
  clients send, default the reference) serve embedding models and rerankers beside the chat model;
  without --model, only those. Each flag can also be set as PREDICT_OTRON_<FLAG> (e.g. PREDICT_OTRON_API_KEY,
  comma-separated for several keys; PORT works too). Without --model it serves ${DEFAULT_MODEL}
  (gated: accept the licence on the hub and set HF_TOKEN; downloaded on first use).`;

const flags = {
  model: { type: 'string' }, 'embedding-model': { type: 'string', multiple: true }, reranker: { type: 'string', multiple: true }, host: { type: 'string' }, port: { type: 'string' }, ctx: { type: 'string' },
  parallel: { type: 'string' }, threads: { type: 'string' }, 'api-key': { type: 'string' }, 'max-queue': { type: 'string' },
  'swap-mib': { type: 'string' }, 'model-id': { type: 'string' }, cors: { type: 'string' }, 'body-limit': { type: 'string' }, 'shutdown-timeout': { type: 'string' },
  'kv-type': { type: 'string' }, 'flash-attn': { type: 'string' }, dtype: { type: 'string' }, offline: { type: 'boolean' },
  'log-level': { type: 'string' }, 'log-prompts': { type: 'boolean' }, 'no-webui': { type: 'boolean' },
} as const;

type Values = {
  [K in keyof typeof flags]?: (typeof flags)[K] extends { multiple: true } ? string[] : (typeof flags)[K]['type'] extends 'boolean' ? boolean : string;
};

/** A flag's value, else PREDICT_OTRON_<FLAG> from the environment. */
function withEnv(values: Values, env: NodeJS.ProcessEnv): Values {
  const out: Record<string, string | string[] | boolean | undefined> = { ...values };
  for (const [name, spec] of Object.entries(flags)) {
    if (out[name] !== undefined) continue;
    const v = env[`PREDICT_OTRON_${name.toUpperCase().replaceAll('-', '_')}`];
    if (v === undefined || v === '') continue;
    // a list flag from the environment: comma-separated
    out[name] = spec.type === 'boolean' ? boolOption(v, name) : 'multiple' in spec ? list(v) : v;
  }
  out.port ??= env.PORT || undefined;
  return out as Values;
}

const list = (s: string | undefined) => (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);

/** REF or REF=ID: what to load and the name clients send for it. */
function modelSpec(spec: string, flag: string): { ref: string; id: string } {
  const eq = spec.lastIndexOf('=');
  const ref = eq > 0 ? spec.slice(0, eq) : spec;
  const id = eq > 0 ? spec.slice(eq + 1) : defaultModelId(spec);
  if (!ref || !id) throw new UsageError(`--${flag} takes REF or REF=ID, not '${spec}'`);
  return { ref, id };
}

export async function serveCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const { values: given } = parseArgs({ args: argv, options: flags, strict: true });
  const values = withEnv(given as Values, env);
  const embeddingRefs = (values['embedding-model'] ?? []).map((s) => modelSpec(s, 'embedding-model'));
  const rerankerRefs = (values.reranker ?? []).map((s) => modelSpec(s, 'reranker'));
  // the default chat model only when nothing at all is named
  const ref = (values.model as string | undefined) ?? (embeddingRefs.length || rerankerRefs.length ? undefined : DEFAULT_MODEL);
  const port = intOption(values.port as string | undefined, 'port', 8080, 0)!;
  if (port > 65535) throw new UsageError(`--port must be at most 65535, not ${port}`);
  const shutdownSeconds = intOption(values['shutdown-timeout'] as string | undefined, 'shutdown-timeout', 30, 0)!;
  const bodyLimit = intOption(values['body-limit'] as string | undefined, 'body-limit', undefined, 1024);
  const logLevel = (values['log-level'] as string | undefined) ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new UsageError(`--log-level must be fatal, error, warn, info, debug, trace or silent, not '${logLevel}'`);
  }
  const loadOptions: LoadModelOptions = {
    threads: intOption(values.threads as string | undefined, 'threads', undefined),
    contextSize: intOption(values.ctx as string | undefined, 'ctx', undefined, 16),
    parallel: intOption(values.parallel as string | undefined, 'parallel', undefined),
    maxQueue: intOption(values['max-queue'] as string | undefined, 'max-queue', undefined, 0),
    swapMiB: intOption(values['swap-mib'] as string | undefined, 'swap-mib', undefined, 0),
    kvType: kvTypeOption(values['kv-type'] as string | undefined),
    flashAttn: boolOption(values['flash-attn'] as string | undefined, 'flash-attn'),
    dtype: dtypeOption(values.dtype as string | undefined),
    ...(values.offline ? { offline: true } : {}),
    progress: 'auto',
  };
  for (const k of Object.keys(loadOptions) as (keyof typeof loadOptions)[]) if (loadOptions[k] === undefined) delete loadOptions[k];

  const logger = createLogger({ level: logLevel });
  // listen first: /health answers and /ready says "loading" while the models download and load
  const modelPromise = ref !== undefined ? loadModel(ref, loadOptions) : undefined;
  modelPromise?.catch(() => undefined);
  const modelId = ref !== undefined ? ((values['model-id'] as string | undefined) ?? defaultModelId(ref)) : undefined;
  const embedderOptions: LoadEmbedderOptions = {
    ...(loadOptions.threads !== undefined ? { threads: loadOptions.threads } : {}),
    ...(loadOptions.flashAttn !== undefined ? { flashAttn: loadOptions.flashAttn } : {}),
    ...(loadOptions.dtype !== undefined ? { dtype: loadOptions.dtype } : {}),
    ...(values.offline ? { offline: true } : {}),
    progress: 'auto',
  };
  const embeddings = embeddingRefs.map(({ ref: r, id }) => {
    const model = loadEmbedder(r, embedderOptions);
    model.catch(() => undefined);
    return { model, id, aliases: r !== id ? [r] : [] };
  });
  const rerankers = rerankerRefs.map(({ ref: r, id }) => {
    const model = loadReranker(r, embedderOptions);
    model.catch(() => undefined);
    return { model, id, aliases: r !== id ? [r] : [] };
  });
  const server = await startServer({
    ...(modelPromise && modelId ? { model: modelPromise, modelId, aliases: ref !== modelId ? [ref!] : [] } : {}),
    embeddings,
    rerankers,
    host: (values.host as string | undefined) ?? '127.0.0.1', port,
    apiKeys: list(values['api-key'] as string | undefined), corsOrigins: list(values.cors as string | undefined),
    ...(bodyLimit !== undefined ? { bodyLimit } : {}),
    logger, logPrompts: values['log-prompts'] === true, webui: values['no-webui'] !== true,
  });
  logger.info({ url: server.url, port: server.port, model: modelId, ref, embeddingModels: embeddings.map((e) => e.id), rerankers: rerankers.map((e) => e.id) },
    'listening; loading the models');

  let stopping: Promise<number> | null = null;
  const stop = (why: string) => {
    if (stopping) {
      logger.warn(`${why} again: exiting at once`);
      process.exit(1);
    }
    const inFlight = server.inFlight;
    // close() stops listening before it returns: once this line is out, new connections are refused
    stopping = server.close(shutdownSeconds * 1000);
    logger.info({ deadlineSeconds: shutdownSeconds, inFlight }, `${why}: not accepting new connections; finishing requests in flight, then exiting`);
    return stopping;
  };
  const done = new Promise<void>((resolve, reject) => {
    const onSignal = (signal: NodeJS.Signals) => {
      stop(signal).then((aborted) => {
        logger.info({ aborted }, 'stopped');
        resolve();
      }, reject);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });

  try {
    if (modelPromise) {
      const model = await modelPromise;
      logger.info({ model: modelId, arch: model.info.arch, weightType: model.info.weightType, contextSize: model.info.contextSize,
        parallel: model.info.parallel, path: model.info.path }, 'model ready');
    }
    for (const e of embeddings) {
      const m = await e.model;
      logger.info({ model: e.id, arch: m.info.arch, dimensions: m.info.dimensions, pooling: m.info.pooling, maxTokens: m.info.maxTokens,
        path: m.info.path }, 'embedding model ready');
    }
    for (const e of rerankers) {
      const m = await e.model;
      logger.info({ model: e.id, arch: m.info.arch, maxTokens: m.info.maxTokens, path: m.info.path }, 'reranker ready');
    }
  } catch (err) {
    await server.close(0);
    throw err;
  }
  await done;
}
