import { RuntimeError } from '../runtime/errors.js';

/** A tokenizer error with a stable machine-readable code. */
export class TokenizerError extends RuntimeError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'TokenizerError';
  }
}
