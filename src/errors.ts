// The error classes of every layer, in the module at the bottom of the import graph: the
// runtime, tokenizer, chat, sampling, engine and hub all throw these, and none of them imports
// from a layer above it to do so.

/** An error with a stable machine-readable code (ERR_*), from any layer. */
export class RuntimeError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RuntimeError';
    this.code = code;
  }
}

export function closedError(what: string): RuntimeError {
  return new RuntimeError('ERR_CLOSED', `the ${what} is closed`);
}

/**
 * Codes about a request (engine, chat, sampling): ERR_INVALID_ARG (a bad option; `param` names
 * it), ERR_CONTEXT_LENGTH (the prompt cannot fit), ERR_CONTEXT_FULL (no room in the KV cache now),
 * ERR_QUEUE_FULL (too many waiting requests), ERR_ABORTED (the caller's signal fired),
 * ERR_TEMPLATE (the chat template failed), ERR_CLOSED.
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
