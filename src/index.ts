// predict-otron-9000: the native Gemma runtime (more layers to come: engine, server).
export * from './runtime/index.js';
export * from './tokenizer/index.js';
export * from './hub/index.js';
