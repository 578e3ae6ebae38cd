// Reads a JSON body with a size limit, counting bytes as they arrive (a missing or lying
// Content-Length cannot get past it).
import { ApiError, invalidRequest } from './errors.js';

export const DEFAULT_BODY_LIMIT = 4 * 1024 * 1024;
/** A client has this long from its headers to the end of its body (a slow body holds nothing). */
export const DEFAULT_BODY_TIMEOUT_MS = 30_000;

function tooLarge(limit: number): ApiError {
  return new ApiError(413, `the request body is larger than this server's limit of ${limit} bytes`, 'invalid_request_error', null, 'request_too_large');
}

export async function readJson(req: Request, limit: number, timeoutMs = DEFAULT_BODY_TIMEOUT_MS): Promise<unknown> {
  const declared = req.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    const reader = req.body.getReader();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), Math.max(0, deadline - Date.now()))));
      const next = await Promise.race([reader.read(), late]).finally(() => clearTimeout(timer));
      if (next === 'late') {
        await reader.cancel().catch(() => undefined);
        throw new ApiError(408, `the request body did not arrive within ${timeoutMs / 1000} s`, 'invalid_request_error', null, 'request_timeout');
      }
      const { done, value } = next;
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        await reader.cancel().catch(() => undefined);
        throw tooLarge(limit);
      }
      chunks.push(value);
    }
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) throw invalidRequest('the request body is empty; send a JSON object', null, 'invalid_json');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw invalidRequest(`the request body is not valid JSON: ${(err as Error).message}`, null, 'invalid_json');
  }
}
