// `predict-otron serve`: a model server (all in one, chat only or embeddings only) or a gateway in
// front of replicas, from one command; both drain on SIGTERM / SIGINT.
import { loadEmbedder, type LoadEmbedderOptions } from '../engine/embedder.js';
import { loadReranker } from '../engine/reranker.js';
import { loadModel, type LoadModelOptions } from '../engine/language-model.js';
import { startGateway } from '../gateway/start.js';
import { createLogger, type Logger } from '../server/logging.js';
import { startServer } from '../server/start.js';
import { DEFAULT_MODEL, type GatewayConfig, type ModelServerConfig, parseServeConfig } from './serve-config.js';

export { DEFAULT_MODEL, parseServeConfig, type ServeConfig } from './serve-config.js';

export const serveUsage = `predict-otron serve [--model REF] [--embedding-model REF[=ID] ...] [--reranker REF[=ID] ...] [--host 127.0.0.1] [--port 8080] [--ctx N] [--parallel N] [--threads N] [--api-key K]
    [--max-queue 64] [--swap-mib N] [--window-mib N] [--swa-full] [--model-id NAME] [--cors ORIGINS] [--body-limit BYTES] [--shutdown-timeout SECONDS]
    [--kv-type f16|f32] [--flash-attn on|off] [--dtype auto|f32|f16|bf16] [--device auto|cpu|cuda[:N]|metal|rpc[:N]] [--gpu-layers N] [--rpc HOST:PORT] [--offline] [--log-level info] [--log-prompts] [--no-webui]
  Serves the chat page at / (--no-webui: not) and the OpenAI API (POST /v1/chat/completions, /v1/completions, /v1/embeddings; GET /v1/models,
  /v1/rerank, /health, /ready, /metrics). --embedding-model and --reranker (repeatable; ID is the name
  clients send, default the reference) serve embedding models and rerankers beside the chat model;
  without --model, only those. Sliding-window layers keep a ring of window x parallel + 512 cells
  (--swa-full: the whole context); --window-mib bounds the prompts' window rows kept so that longer
  shared prefixes stay reusable (default: the ring's size). Each flag can also be set as PREDICT_OTRON_<FLAG> (e.g. PREDICT_OTRON_API_KEY,
  comma-separated for several keys; PORT works too). Without --model it serves ${DEFAULT_MODEL}
  (gated: accept the licence on the hub and set HF_TOKEN; downloaded on first use).
predict-otron serve --role gateway --inference URL[,URL...] --embeddings URL[,URL...] [--probe-interval 2] [--host] [--port] [--api-key K] [--cors] [--shutdown-timeout]
  A gateway in front of replicas started with serve: chat and completions go to --inference, embeddings and
  rerank to --embeddings (least busy healthy replica, a conversation's next turn to the replica holding its
  prefix); replicas probed on /ready every --probe-interval seconds. SERVER_CONFIG (the original's JSON:
  {"serverMode":"HighAvailability","services":{"inference_url":URL|[URL...],"embeddings_url":...}}) does the same.`;

export async function serveCommand(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = parseServeConfig(argv, env);
  const logger = createLogger({ level: config.logLevel });
  if (config.role === 'gateway') await runGateway(config, logger);
  else await runModelServer(config, logger);
}

interface Closable {
  readonly inFlight: number;
  close(deadlineMs?: number): Promise<number>;
}

/** Resolves once a signal has drained the server; a second signal exits at once. */
function untilSignalled(server: Closable, shutdownSeconds: number, logger: Logger): Promise<void> {
  let stopping = false;
  return new Promise<void>((resolve, reject) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn(`${signal} again: exiting at once`);
        process.exit(1);
      }
      stopping = true;
      const inFlight = server.inFlight;
      // close() stops listening before it returns: once this line is out, new connections are refused
      const closed = server.close(shutdownSeconds * 1000);
      logger.info({ deadlineSeconds: shutdownSeconds, inFlight }, `${signal}: not accepting new connections; finishing requests in flight, then exiting`);
      closed.then((aborted) => {
        logger.info({ aborted }, 'stopped');
        resolve();
      }, reject);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

async function runGateway(config: GatewayConfig, logger: Logger): Promise<void> {
  const gateway = await startGateway({
    inference: config.inference, embeddings: config.embeddings, probeIntervalMs: config.probeIntervalMs,
    host: config.host, port: config.port, apiKeys: config.apiKeys, corsOrigins: config.corsOrigins,
    ...(config.bodyLimit !== undefined ? { bodyLimit: config.bodyLimit } : {}),
    logger, webui: config.webui,
  });
  logger.info({ url: gateway.url, port: gateway.port, inference: config.inference, embeddings: config.embeddings }, 'gateway listening; probing the replicas');
  await untilSignalled(gateway, config.shutdownSeconds, logger);
}

async function runModelServer(config: ModelServerConfig, logger: Logger): Promise<void> {
  const loadOptions: LoadModelOptions = { ...config.load, ...(config.offline ? { offline: true } : {}), progress: 'auto' };
  // listen first: /health answers and /ready says "loading" while the models download and load
  const modelPromise = config.model ? loadModel(config.model.ref, loadOptions) : undefined;
  modelPromise?.catch(() => undefined);
  const embedderOptions: LoadEmbedderOptions = {
    ...(loadOptions.threads !== undefined ? { threads: loadOptions.threads } : {}),
    ...(loadOptions.flashAttn !== undefined ? { flashAttn: loadOptions.flashAttn } : {}),
    ...(loadOptions.dtype !== undefined ? { dtype: loadOptions.dtype } : {}),
    ...(config.offline ? { offline: true } : {}),
    progress: 'auto',
  };
  const embeddings = config.embeddingModels.map(({ ref, id }) => {
    const model = loadEmbedder(ref, embedderOptions);
    model.catch(() => undefined);
    return { model, id, aliases: ref !== id ? [ref] : [] };
  });
  const rerankers = config.rerankers.map(({ ref, id }) => {
    const model = loadReranker(ref, embedderOptions);
    model.catch(() => undefined);
    return { model, id, aliases: ref !== id ? [ref] : [] };
  });
  const modelId = config.model?.id;
  const server = await startServer({
    ...(modelPromise && config.model ? { model: modelPromise, modelId: config.model.id, aliases: config.model.ref !== config.model.id ? [config.model.ref] : [] } : {}),
    embeddings,
    rerankers,
    host: config.host, port: config.port,
    apiKeys: config.apiKeys, corsOrigins: config.corsOrigins,
    ...(config.bodyLimit !== undefined ? { bodyLimit: config.bodyLimit } : {}),
    logger, logPrompts: config.logPrompts, webui: config.webui,
  });
  logger.info({ url: server.url, port: server.port, model: modelId, ref: config.model?.ref, embeddingModels: embeddings.map((e) => e.id),
    rerankers: rerankers.map((e) => e.id) }, 'listening; loading the models');
  const done = untilSignalled(server, config.shutdownSeconds, logger);

  try {
    if (modelPromise) {
      const model = await modelPromise;
      const onDevice = model.info.layerDevices.filter((d) => d === model.info.device.name).length;
      logger.info({ model: modelId, arch: model.info.arch, weightType: model.info.weightType, contextSize: model.info.contextSize,
        parallel: model.info.parallel, path: model.info.path, device: model.info.device.name,
        ...(model.info.device.kind !== 'cpu' ? { gpuLayers: `${onDevice} of ${model.info.layerDevices.length} layers, output on ${model.info.outputDevice}` } : {}) },
      'model ready');
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
