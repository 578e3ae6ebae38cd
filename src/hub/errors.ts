import { RuntimeError } from '../runtime/errors.js';

/** An error from the hub client, with a stable machine-readable code and a message that says what to do. */
export class HubError extends RuntimeError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'HubError';
  }
}

/**
 * Removes every occurrence of the token from text that came from elsewhere (a server's error body,
 * a lower layer's message) before it goes into a message or a log line.
 */
export function redact(text: string, token: string | undefined): string {
  if (!token) return text;
  return text.split(token).join('hf_***');
}
