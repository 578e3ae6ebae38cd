import { RuntimeError } from '../runtime/errors.js';

/**
 * Codes the engine adds to the runtime's: ERR_INVALID_ARG (a bad option; `param` names it),
 * ERR_CONTEXT_LENGTH (the prompt cannot fit), ERR_QUEUE_FULL (too many waiting requests),
 * ERR_ABORTED (the caller's signal fired), ERR_TEMPLATE (the chat template failed), ERR_CLOSED.
 */
export class EngineError extends RuntimeError {
  /** The option or request field at fault, where there is one (e.g. "temperature"). */
  readonly param: string | undefined;
  constructor(code: string, message: string, options?: { param?: string; cause?: unknown }) {
    super(code, message, options);
    this.name = 'EngineError';
    this.param = options?.param;
  }
}

export function invalidArg(param: string, message: string): EngineError {
  return new EngineError('ERR_INVALID_ARG', `${param} ${message}`, { param });
}

export function abortedError(): EngineError {
  return new EngineError('ERR_ABORTED', 'the request was aborted');
}
