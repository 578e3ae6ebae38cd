// predict-otron-9000: Gemma models on a native ggml runtime, for Node.js.
//   loadModel() → chat / chatStream / complete      (engine: scheduler, sampling, templates)
//   loadEmbedder() → embed, loadReranker() → rerank  (encoders: BERT family)
//   Model / Context / Batch, Encoder                 (the runtime underneath)
//   createApp / startServer                          (the OpenAI-compatible HTTP API)
export * from './runtime/index.js';
export * from './tokenizer/index.js';
export * from './hub/index.js';
export * from './engine/index.js';
export * from './server/index.js';
export * from './gateway/index.js';
export { ChatTemplate } from './chat/template.js';
export type { ChatMessage, ChatMessageInput, ChatRole, ChatTextPart } from './chat/messages.js';
export type { SamplingOptions } from './sampling/options.js';
export type { SampledToken, TokenLogprob } from './sampling/sampler.js';
