// Optional API keys, sent as `Authorization: Bearer <key>` as the OpenAI SDKs do.
import crypto from 'node:crypto';

import { ApiError } from './errors.js';

const digest = (s: string) => crypto.createHash('sha256').update(s).digest();

/** Returns a check that throws a 401 unless the header carries one of the keys (none: open). */
export function apiKeyCheck(keys: readonly string[]): (authorization: string | undefined) => void {
  // compare fixed-length digests in constant time, so timing tells nothing about a key
  const wanted = keys.filter((k) => k.length > 0).map(digest);
  return (authorization) => {
    if (!wanted.length) return;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) {
      throw new ApiError(401, 'missing API key: send it as "Authorization: Bearer <key>"', 'authentication_error', null, 'missing_api_key',
        { 'www-authenticate': 'Bearer' });
    }
    const got = digest(m[1]!);
    let ok = false;
    for (const w of wanted) ok = crypto.timingSafeEqual(w, got) || ok;
    // the key itself is never echoed back or logged
    if (!ok) throw new ApiError(401, 'incorrect API key', 'authentication_error', null, 'invalid_api_key', { 'www-authenticate': 'Bearer' });
  };
}
