// The original platform's SERVER_CONFIG JSON, accepted for drop-in use:
//   {"serverMode": "Standalone"}
//   {"serverMode": "HighAvailability", "services": {"inference_url": "http://a:8080", "embeddings_url": "http://b:8080"}}
// plus its optional serverHost / serverPort. Our extension: a URL may be a list (or a
// comma-separated string) of replicas. Unlike the original, a malformed value stops the start
// with a message instead of falling back to Standalone, and a missing URL is never a panic.
import { UsageError } from './args.js';

export interface ServerConfigJson {
  mode: 'Standalone' | 'HighAvailability';
  host?: string;
  port?: number;
  inference: string[];
  embeddings: string[];
}

const TOP = new Set(['serverMode', 'serverHost', 'serverPort', 'services']);
const SERVICES = new Set(['inference_url', 'embeddings_url']);

/** Shortened so a pasted secret or a huge value is not echoed whole. */
const show = (v: unknown) => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

export function parseServerConfig(text: string): ServerConfigJson {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`SERVER_CONFIG is not valid JSON (${(err as Error).message}); ` +
      `example: {"serverMode":"HighAvailability","services":{"inference_url":"http://inference:8080","embeddings_url":"http://embeddings:8080"}}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError('SERVER_CONFIG must be a JSON object with "serverMode"');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!TOP.has(k)) throw new UsageError(`SERVER_CONFIG has an unknown field "${k.slice(0, 40)}"; it takes serverMode, serverHost, serverPort and services`);
  }
  // "Local" is what the original's guide calls Standalone
  const mode = o.serverMode === 'Local' ? 'Standalone' : o.serverMode;
  if (mode !== 'Standalone' && mode !== 'HighAvailability') {
    throw new UsageError(`SERVER_CONFIG.serverMode must be "Standalone" or "HighAvailability", not ${show(o.serverMode)}`);
  }
  const out: ServerConfigJson = { mode, inference: [], embeddings: [] };
  if (o.serverHost !== undefined) {
    if (typeof o.serverHost !== 'string' || !o.serverHost) throw new UsageError(`SERVER_CONFIG.serverHost must be a host name or address, not ${show(o.serverHost)}`);
    out.host = o.serverHost;
  }
  if (o.serverPort !== undefined) {
    if (!Number.isInteger(o.serverPort) || (o.serverPort as number) < 0 || (o.serverPort as number) > 65535) {
      throw new UsageError(`SERVER_CONFIG.serverPort must be a port number 0..65535, not ${show(o.serverPort)}`);
    }
    out.port = o.serverPort as number;
  }
  if (o.services !== undefined && o.services !== null) {
    if (typeof o.services !== 'object' || Array.isArray(o.services)) throw new UsageError('SERVER_CONFIG.services must be an object with inference_url and embeddings_url');
    const s = o.services as Record<string, unknown>;
    for (const k of Object.keys(s)) {
      if (!SERVICES.has(k)) throw new UsageError(`SERVER_CONFIG.services has an unknown field "${k.slice(0, 40)}"; it takes inference_url and embeddings_url`);
    }
    out.inference = urls(s.inference_url, 'inference_url');
    out.embeddings = urls(s.embeddings_url, 'embeddings_url');
  }
  if (mode === 'HighAvailability') {
    const missing = [!out.inference.length && 'services.inference_url', !out.embeddings.length && 'services.embeddings_url'].filter(Boolean);
    if (missing.length) {
      throw new UsageError(`SERVER_CONFIG is HighAvailability but ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} missing; ` +
        'give each as a URL or a list of URLs of the replicas (or use serve --role gateway --inference URL,... --embeddings URL,...)');
    }
  }
  return out;
}

function urls(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  const list = typeof v === 'string' ? v.split(',') : Array.isArray(v) ? v : null;
  if (!list || list.some((u) => typeof u !== 'string')) throw new UsageError(`SERVER_CONFIG.services.${field} must be a URL or a list of URLs, not ${show(v)}`);
  return (list as string[]).map((u) => u.trim()).filter(Boolean);
}
