/** An error from the runtime, with a stable machine-readable code. */
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
