// One model the server answers for: its names, and the model itself once it has loaded (a
// promise is accepted so /health answers while it loads).
import { ApiError, unavailable } from './errors.js';

export class Served<T extends { readonly closed: boolean }> {
  private value: T | null = null;
  private error: unknown = null;
  readonly ids: ReadonlySet<string>;

  constructor(
    readonly id: string,
    aliases: readonly string[],
    given: T | Promise<T>,
    private readonly kind: string,
  ) {
    this.ids = new Set([id, ...aliases]);
    if (given instanceof Promise) given.then((m) => (this.value = m), (err: unknown) => (this.error = err ?? new Error(`${kind} load failed`)));
    else this.value = given;
  }

  get loaded(): T | null {
    return this.value;
  }

  get state(): 'loading' | 'ready' | 'failed' {
    return this.value ? 'ready' : this.error ? 'failed' : 'loading';
  }

  /** The model, or a 503 while it loads, after loading failed, or once it is closed. */
  get(): T {
    if (!this.value) {
      throw unavailable(this.error ? `the ${this.kind} '${this.id}' failed to load; see the server log`
        : `the ${this.kind} '${this.id}' is still loading; retry shortly (GET /ready says when)`);
    }
    if (this.value.closed) throw unavailable('the model is closed; the server is shutting down');
    return this.value;
  }
}

/** A 404 for a model this server does not serve, naming those it does. */
export function unknownModel(requested: string, what: string, served: readonly string[]): ApiError {
  const list = served.length ? `this server serves ${served.map((s) => `'${s}'`).join(', ')}` : `this server serves no ${what}`;
  return new ApiError(404, `the model '${requested}' does not exist here as ${what}; ${list} (GET /v1/models lists them)`,
    'invalid_request_error', 'model', 'model_not_found');
}
