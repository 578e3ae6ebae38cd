// `serve`'s configuration from flags, PREDICT_OTRON_<FLAG> variables and the original's
// SERVER_CONFIG, checked before anything starts: a mistake is a one-line usage error, never a
// crash half-way through a start.
import { parseArgs } from 'node:util';

import type { LoadModelOptions } from '../engine/language-model.js';
import { defaultModelId } from '../server/app.js';
import { boolOption, deviceOption, dtypeOption, gpuLayersOption, intOption, kvTypeOption, rpcOption, UsageError } from './args.js';
import { parseServerConfig } from './server-config.js';

export const DEFAULT_MODEL = 'google/gemma-3-270m-it';

export const flags = {
  role: { type: 'string' }, inference: { type: 'string', multiple: true }, embeddings: { type: 'string', multiple: true }, 'probe-interval': { type: 'string' },
  model: { type: 'string' }, 'embedding-model': { type: 'string', multiple: true }, reranker: { type: 'string', multiple: true }, host: { type: 'string' }, port: { type: 'string' }, ctx: { type: 'string' },
  parallel: { type: 'string' }, threads: { type: 'string' }, 'api-key': { type: 'string' }, 'max-queue': { type: 'string' },
  'swap-mib': { type: 'string' }, 'window-mib': { type: 'string' }, 'swa-full': { type: 'boolean' }, 'model-id': { type: 'string' }, cors: { type: 'string' }, 'body-limit': { type: 'string' }, 'shutdown-timeout': { type: 'string' },
  'kv-type': { type: 'string' }, 'flash-attn': { type: 'string' }, dtype: { type: 'string' }, device: { type: 'string' }, 'gpu-layers': { type: 'string' }, rpc: { type: 'string' }, offline: { type: 'boolean' },
  'log-level': { type: 'string' }, 'log-prompts': { type: 'boolean' }, 'no-webui': { type: 'boolean' },
} as const;

type Values = {
  [K in keyof typeof flags]?: (typeof flags)[K] extends { multiple: true } ? string[] : (typeof flags)[K]['type'] extends 'boolean' ? boolean : string;
};

/** What every role shares. */
interface Common {
  host: string;
  port: number;
  apiKeys: string[];
  corsOrigins: string[];
  bodyLimit?: number;
  shutdownSeconds: number;
  logLevel: string;
  webui: boolean;
}

export interface ModelSpec {
  ref: string;
  /** the name clients send */
  id: string;
}

/** One process serving models: all in one, chat only (`--model`) or embeddings only (`--embedding-model`). */
export interface ModelServerConfig extends Common {
  role: 'server';
  model?: ModelSpec;
  embeddingModels: ModelSpec[];
  rerankers: ModelSpec[];
  load: LoadModelOptions;
  offline: boolean;
  logPrompts: boolean;
}

/** A gateway in front of inference and embeddings replicas. */
export interface GatewayConfig extends Common {
  role: 'gateway';
  inference: string[];
  embeddings: string[];
  probeIntervalMs: number;
}

export type ServeConfig = ModelServerConfig | GatewayConfig;

const list = (s: string | undefined) => (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);

/** A flag's value, else PREDICT_OTRON_<FLAG> from the environment. */
function withEnv(values: Values, env: NodeJS.ProcessEnv): Values {
  const out: Record<string, string | string[] | boolean | undefined> = { ...values };
  for (const [name, spec] of Object.entries(flags)) {
    if (out[name] !== undefined) continue;
    const v = env[`PREDICT_OTRON_${name.toUpperCase().replaceAll('-', '_')}`];
    if (v === undefined || v === '') continue;
    // Kubernetes sets PREDICT_OTRON_PORT=tcp://10.0.0.1:80 in every pod of a namespace with a
    // Service named predict-otron (service links): that is never a port of ours
    if (name === 'port' && /^(tcp|udp|sctp):\/\//.test(v)) continue;
    // a list flag from the environment: comma-separated
    out[name] = spec.type === 'boolean' ? boolOption(v, name) : 'multiple' in spec ? list(v) : v;
  }
  out.port ??= env.PORT || undefined;
  return out as Values;
}

/** REF or REF=ID: what to load and the name clients send for it. */
function modelSpec(spec: string, flag: string): ModelSpec {
  const eq = spec.lastIndexOf('=');
  const ref = eq > 0 ? spec.slice(0, eq) : spec;
  const id = eq > 0 ? spec.slice(eq + 1) : defaultModelId(spec);
  if (!ref || !id) throw new UsageError(`--${flag} takes REF or REF=ID, not '${spec}'`);
  return { ref, id };
}

/** A replica's base URL: http(s), no credentials (they would end up in logs), no query. */
export function replicaUrl(given: string, flag: string): string {
  let u: URL;
  try {
    u = new URL(given);
  } catch {
    throw new UsageError(`--${flag}: '${given.slice(0, 80)}' is not a URL; give http://host:port`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--${flag}: '${u.protocol}' is not http or https (${u.host})`);
  if (u.username || u.password) throw new UsageError(`--${flag}: put no credentials in a replica's URL (${u.host}); clients' API keys are forwarded`);
  if (u.search || u.hash) throw new UsageError(`--${flag}: a replica's URL takes no query or fragment (${u.host})`);
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

/**
 * The configuration `serve` runs with. argv: the arguments after `serve`. Flags win over
 * PREDICT_OTRON_* variables, which win over SERVER_CONFIG.
 */
export function parseServeConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ServeConfig {
  let given: Values;
  try {
    given = parseArgs({ args: argv, options: flags, strict: true, allowPositionals: false }).values as Values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const values = withEnv(given, env);
  const sc = env.SERVER_CONFIG?.trim() ? parseServerConfig(env.SERVER_CONFIG) : null;

  const role = values.role ?? (sc?.mode === 'HighAvailability' ? 'gateway' : 'server');
  if (role !== 'server' && role !== 'gateway') throw new UsageError(`--role must be server or gateway, not '${String(role).slice(0, 40)}'`);
  const port = intOption(values.port ?? (sc?.port !== undefined ? String(sc.port) : undefined), 'port', 8080, 0)!;
  if (port > 65535) throw new UsageError(`--port must be at most 65535, not ${port}`);
  const logLevel = values['log-level'] ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new UsageError(`--log-level must be fatal, error, warn, info, debug, trace or silent, not '${logLevel}'`);
  }
  const bodyLimit = intOption(values['body-limit'], 'body-limit', undefined, 1024);
  const common: Common = {
    host: values.host ?? sc?.host ?? '127.0.0.1',
    port,
    apiKeys: list(values['api-key']),
    corsOrigins: list(values.cors),
    ...(bodyLimit !== undefined ? { bodyLimit } : {}),
    shutdownSeconds: intOption(values['shutdown-timeout'], 'shutdown-timeout', 30, 0)!,
    logLevel,
    webui: values['no-webui'] !== true,
  };

  if (role === 'gateway') {
    // what only a model server takes is refused, not ignored: a gateway given --model was meant to be something else
    const modelFlags = ['model', 'embedding-model', 'reranker', 'ctx', 'parallel', 'threads', 'max-queue', 'swap-mib', 'window-mib', 'swa-full', 'model-id', 'kv-type',
      'flash-attn', 'dtype', 'device', 'gpu-layers', 'rpc', 'offline', 'log-prompts'] as const;
    const stray = modelFlags.filter((f) => values[f] !== undefined);
    if (stray.length) throw new UsageError(`a gateway serves no model of its own: drop ${stray.map((f) => `--${f}`).join(', ')} (the replicas take them)`);
    const inference = (values.inference ?? sc?.inference ?? []).flatMap(list).map((u) => replicaUrl(u, 'inference'));
    const embeddings = (values.embeddings ?? sc?.embeddings ?? []).flatMap(list).map((u) => replicaUrl(u, 'embeddings'));
    if (!inference.length && !embeddings.length) {
      throw new UsageError('--role gateway needs replicas: --inference URL[,URL...] and/or --embeddings URL[,URL...] (or SERVER_CONFIG)');
    }
    const probeSeconds = Number(values['probe-interval'] ?? 2);
    if (!(probeSeconds >= 0.05 && probeSeconds <= 3600)) throw new UsageError(`--probe-interval must be seconds between 0.05 and 3600, not '${values['probe-interval']}'`);
    return { role, ...common, inference, embeddings, probeIntervalMs: Math.round(probeSeconds * 1000) };
  }

  for (const f of ['inference', 'embeddings', 'probe-interval'] as const) {
    if (values[f] !== undefined) throw new UsageError(`--${f} is for --role gateway; a model server takes --model / --embedding-model`);
  }
  const embeddingModels = (values['embedding-model'] ?? []).map((s) => modelSpec(s, 'embedding-model'));
  const rerankers = (values.reranker ?? []).map((s) => modelSpec(s, 'reranker'));
  // the default chat model only when nothing at all is named
  const ref = values.model ?? (embeddingModels.length || rerankers.length ? undefined : DEFAULT_MODEL);
  const load: LoadModelOptions = {
    threads: intOption(values.threads, 'threads', undefined),
    contextSize: intOption(values.ctx, 'ctx', undefined, 16),
    parallel: intOption(values.parallel, 'parallel', undefined),
    maxQueue: intOption(values['max-queue'], 'max-queue', undefined, 0),
    swapMiB: intOption(values['swap-mib'], 'swap-mib', undefined, 0),
    windowMiB: intOption(values['window-mib'], 'window-mib', undefined, 0),
    swaFull: values['swa-full'] === true ? true : undefined,
    kvType: kvTypeOption(values['kv-type']),
    flashAttn: boolOption(values['flash-attn'], 'flash-attn'),
    dtype: dtypeOption(values.dtype),
    device: deviceOption(values.device),
    gpuLayers: gpuLayersOption(values['gpu-layers']),
    rpc: rpcOption(values.rpc),
  };
  for (const k of Object.keys(load) as (keyof typeof load)[]) if (load[k] === undefined) delete load[k];
  return {
    role, ...common,
    ...(ref !== undefined ? { model: { ref, id: values['model-id'] ?? defaultModelId(ref) } } : {}),
    embeddingModels, rerankers, load,
    offline: values.offline === true,
    logPrompts: values['log-prompts'] === true,
  };
}
