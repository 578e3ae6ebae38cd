// Reads a JSON body with a size limit, counting bytes as they arrive (a missing or lying
// Content-Length cannot get past it).
import { ApiError, invalidRequest } from './errors.js';

export const DEFAULT_BODY_LIMIT = 4 * 1024 * 1024;

function tooLarge(limit: number): ApiError {
  return new ApiError(413, `the request body is larger than this server's limit of ${limit} bytes`, 'invalid_request_error', null, 'request_too_large');
}

export async function readJson(req: Request, limit: number): Promise<unknown> {
  const declared = req.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    const reader = req.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
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
