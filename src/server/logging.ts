// Structured logs (pino). Prompt and completion text are left out unless asked for; token ids
// and API keys never appear.
import crypto from 'node:crypto';

import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(options: { level?: string } = {}): Logger {
  return pino({
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { service: 'predict-otron' },
    // defence in depth: no header that carries a credential is ever written out
    redact: { paths: ['req.headers.authorization', 'headers.authorization', '*.apiKey', '*.token'], censor: '[redacted]' },
  });
}

/** OpenAI's `user` field, logged as a short hash: requests can be grouped without storing who sent them. */
export function userHash(user: string | undefined): string | undefined {
  return user ? crypto.createHash('sha256').update(user).digest('hex').slice(0, 16) : undefined;
}
