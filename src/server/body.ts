// Reads a JSON body with a size limit, counting bytes as they arrive (a missing or lying
// Content-Length cannot get past it).
import type { Readable } from 'node:stream';

import { ApiError, invalidRequest } from './errors.js';

export const DEFAULT_BODY_LIMIT = 4 * 1024 * 1024;
/** A client has this long from its headers to the end of its body (a slow body holds nothing). */
export const DEFAULT_BODY_TIMEOUT_MS = 30_000;

function tooLarge(limit: number): ApiError {
  return new ApiError(413, `the request body is larger than this server's limit of ${limit} bytes`, 'invalid_request_error', null, 'request_too_large');
}

/**
 * The request body as JSON. `incoming`: the Node request under @hono/node-server (c.env.incoming),
 * read directly; the Web stream the adapter would wrap it in costs about 0.7 ms a request, a
 * twentieth of a short embedding. Other runtimes (app.request, another adapter) read `req.body`.
 */
export async function readJson(req: Request, limit: number, timeoutMs = DEFAULT_BODY_TIMEOUT_MS, incoming?: unknown): Promise<unknown> {
  return parseJson(await readBody(req, limit, timeoutMs, incoming));
}

/** The request body's bytes, within the size limit and the deadline (413 / 408 past them). */
export async function readBody(req: Request, limit: number, timeoutMs = DEFAULT_BODY_TIMEOUT_MS, incoming?: unknown): Promise<Buffer> {
  const declared = req.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  const chunks = isNodeStream(incoming) ? await readNodeBody(incoming, limit, timeoutMs) : await readWebBody(req, limit, timeoutMs);
  return Buffer.concat(chunks);
}

/** A body as JSON, or the 400 OpenAI's API gives for an empty or broken one. */
export function parseJson(body: Buffer): unknown {
  const text = body.toString('utf8');
  if (!text.trim()) throw invalidRequest('the request body is empty; send a JSON object', null, 'invalid_json');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalidRequest(`the request body is not valid JSON: ${(err as Error).message}`, null, 'invalid_json');
  }
}

function tooSlow(timeoutMs: number): ApiError {
  return new ApiError(408, `the request body did not arrive within ${timeoutMs / 1000} s`, 'invalid_request_error', null, 'request_timeout');
}

function isNodeStream(x: unknown): x is Readable {
  return typeof x === 'object' && x !== null && typeof (x as Readable).on === 'function' && typeof (x as Readable).readableEnded === 'boolean';
}

/** What is left of a body refused half-way stays unread: the adapter drains it after the answer. */
function readNodeBody(incoming: Readable, limit: number, timeoutMs: number): Promise<Uint8Array[]> {
  if (incoming.readableEnded) return Promise.resolve([]);
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    const finish = (err: Error | null) => {
      clearTimeout(timer);
      incoming.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (err) {
        incoming.pause();
        reject(err);
      } else {
        resolve(chunks);
      }
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > limit) finish(tooLarge(limit));
      else chunks.push(chunk);
    };
    const onEnd = () => finish(null);
    const onError = (err: Error) => finish(invalidRequest(`the request body could not be read: ${err.message}`, null, 'invalid_body'));
    const onClose = () => finish(invalidRequest('the client closed the connection before its body ended', null, 'invalid_body'));
    const timer = setTimeout(() => finish(tooSlow(timeoutMs)), timeoutMs);
    incoming.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

async function readWebBody(req: Request, limit: number, timeoutMs: number): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  if (!req.body) return chunks;
  let size = 0;
  const reader = req.body.getReader();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), Math.max(0, deadline - Date.now()))));
    const next = await Promise.race([reader.read(), late]).finally(() => clearTimeout(timer));
    if (next === 'late') {
      await reader.cancel().catch(() => undefined);
      throw tooSlow(timeoutMs);
    }
    const { done, value } = next;
    if (done) return chunks;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
}
