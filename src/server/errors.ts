// OpenAI-shaped errors: `{ error: { message, type, param, code } }` with the HTTP status that the
// official SDKs map to their typed exceptions (400 BadRequest, 401, 404, 413, 429, 5xx).

export type ErrorType = 'invalid_request_error' | 'authentication_error' | 'rate_limit_error' | 'server_error';

export interface ErrorBody {
  error: { message: string; type: ErrorType; param: string | null; code: string | null };
}

/** An error meant for the client: its message is safe to show. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ErrorType = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
    /** extra response headers (Retry-After, WWW-Authenticate) */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  body(): ErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = null): ApiError =>
  new ApiError(400, message, 'invalid_request_error', param, code);

/**
 * Maps what the engine throws to the status a client can act on: the request's own fault 400,
 * the server's capacity 429 / 503 with Retry-After; anything else (ERR_BUSY, ERR_COMPUTE,
 * ERR_NATIVE: our bugs) is a 500 that names the request id.
 */
export function toApiError(err: unknown): ApiError | null {
  if (err instanceof ApiError) return err;
  const e = err as { code?: unknown; message?: unknown; param?: unknown };
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const param = typeof e?.param === 'string' ? e.param : null;
  switch (e?.code) {
    case 'ERR_INVALID_ARG':
      return invalidRequest(message, param, 'invalid_value');
    case 'ERR_TEMPLATE':
      return invalidRequest(message, 'messages', 'invalid_messages');
    case 'ERR_CONTEXT_LENGTH':
      return invalidRequest(message, param ?? 'messages', 'context_length_exceeded');
    case 'ERR_QUEUE_FULL':
      return new ApiError(429, `the server is busy: ${message}`, 'rate_limit_error', null, 'queue_full', { 'retry-after': '1' });
    case 'ERR_CONTEXT_FULL': // the other requests hold the KV cache: this one fits alone, later
      return new ApiError(429, `the server's KV cache is full: ${message}; retry shortly`, 'rate_limit_error', null, 'kv_cache_full', { 'retry-after': '1' });
    case 'ERR_NO_MEMORY':
      return unavailable('the server ran out of memory for this request; retry shortly or with a shorter prompt');
    case 'ERR_ABORTED': // the client's own aborts never get an answer; this is the server's deadline
      return unavailable('the request was cancelled because the server is shutting down; retry on another replica');
    case 'ERR_CLOSED':
      return unavailable('the model is shutting down; retry on another replica');
    default:
      return null;
  }
}

export const unavailable = (message: string): ApiError =>
  new ApiError(503, message, 'server_error', null, 'unavailable', { 'retry-after': '1' });

/** The body of a 500: says what to quote in a report, nothing about the internals. */
export function internalError(requestId: string): ApiError {
  return new ApiError(500, `the server failed to answer this request (request id ${requestId}); see the server log`, 'server_error', null, 'internal_error');
}

export function errorResponse(err: ApiError, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(err.body()), {
    status: err.status,
    headers: { 'content-type': 'application/json', ...err.headers, ...headers },
  });
}
