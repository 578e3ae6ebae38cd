// The engine's errors live with every layer's in src/errors.ts (chat and sampling, below the
// engine, throw them too).
export { abortedError, EngineError, invalidArg } from '../errors.js';
