export type { Tokenizer } from './types.js';
export { TokenizerError } from './errors.js';
export { tokenizerFromDir } from './from-dir.js';
export { tokenizerFromGguf } from './from-gguf.js';
