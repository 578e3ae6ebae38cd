import crypto from 'node:crypto';

/** The client's X-Request-Id when it is a sane token (it goes into logs and headers), else a new one. */
export function requestId(given: string | undefined): string {
  return given && /^[\w.:-]{1,64}$/.test(given) ? given : crypto.randomUUID();
}
