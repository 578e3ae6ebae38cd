// One place where requests to the hub are made: the token goes only to the hub's own origin,
// network failures and aborts become HubErrors, and nothing the token touches is logged.
import { HubError, redact } from './errors.js';
import type { RequestContext } from './http-errors.js';
import type { TokenSource } from './token.js';

/** Metadata requests give up after this long without an answer; downloads are not timed. */
const METADATA_TIMEOUT_MS = 30_000;

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ENETUNREACH', 'EHOSTUNREACH', 'EPIPE',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
]);

/** The system error code under a failed fetch (undici wraps it in TypeError('fetch failed')). */
export function networkCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && (NETWORK_CODES.has(e.code) || e.code.startsWith('UND_ERR'))) return e.code;
    if (Array.isArray((e as { errors?: unknown }).errors)) return networkCode((e as { errors: unknown[] }).errors[0]);
  }
  if (err instanceof TypeError && /fetch failed|terminated|other side closed/i.test(err.message)) {
    const cause = (err as { cause?: { message?: unknown } }).cause?.message;
    return typeof cause === 'string' && cause ? cause : err.message;
  }
  return undefined;
}

export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  return (signal?.aborted ?? false) || (err as { name?: string })?.name === 'AbortError';
}

export interface HubHttpOptions {
  endpoint: string;
  token: TokenSource;
  signal?: AbortSignal;
}

export class HubHttp {
  readonly endpoint: string;
  readonly token: string | undefined;
  readonly tokenSource: TokenSource['source'];
  readonly signal: AbortSignal | undefined;
  private readonly origin: string;

  constructor(opts: HubHttpOptions) {
    this.endpoint = opts.endpoint;
    this.origin = new URL(opts.endpoint).origin;
    this.token = opts.token.token;
    this.tokenSource = opts.token.source;
    this.signal = opts.signal;
  }

  context(repo: string, revision?: string, file?: string): RequestContext {
    return { endpoint: this.endpoint, repo, revision, file, token: this.token, tokenSource: this.tokenSource };
  }

  /**
   * A request with the token attached when (and only when) it goes to the hub's origin: a CDN
   * URL is pre-signed and must not see the token. `timeout` bounds the wait for the headers.
   */
  async request(url: string, init: RequestInit & { timeout?: boolean } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.token && new URL(url).origin === this.origin) headers.set('Authorization', `Bearer ${this.token}`);
    headers.set('User-Agent', 'predict-otron-9000');
    const signals = [this.signal, init.timeout ? AbortSignal.timeout(METADATA_TIMEOUT_MS) : undefined].filter((s): s is AbortSignal => !!s);
    try {
      return await fetch(url, { ...init, headers, signal: signals.length ? AbortSignal.any(signals) : undefined });
    } catch (err) {
      throw this.failure(err, url);
    }
  }

  /** A HubError for anything thrown while talking to the hub: aborted, timed out, network, or an answer we cannot read. */
  failure(err: unknown, url: string): HubError {
    if (err instanceof HubError) return err;
    if (this.signal?.aborted) return new HubError('ERR_ABORTED', 'the model download was aborted');
    const name = (err as { name?: string })?.name;
    const code = name === 'TimeoutError' ? 'ETIMEDOUT' : networkCode(err);
    if (code) return new HubError('ERR_HUB_NETWORK', `cannot reach ${new URL(url).host} (${code})`);
    return new HubError('ERR_HUB_BAD_RESPONSE',
      `unreadable answer from ${new URL(url).host}: ${redact(String((err as Error)?.message ?? err), this.token)}`);
  }
}
