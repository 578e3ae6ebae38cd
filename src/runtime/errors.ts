// The runtime's errors live with every layer's in src/errors.ts.
export { closedError, RuntimeError } from '../errors.js';
