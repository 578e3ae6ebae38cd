export { EngineError } from './errors.js';
export type { FinishReason, GenerationChunk, GenerationResult, GenerationStream, Usage } from './generation-stream.js';
export {
  type CompletionPrompt,
  type GenerateOptions,
  LanguageModel,
  type LanguageModelInfo,
  LazyStream,
  loadModel,
  type LoadModelOptions,
} from './language-model.js';
export type { SchedulerStats } from './scheduler.js';
export {
  Embedder,
  type EmbedderInfo,
  type EmbeddingInput,
  type EmbeddingResult,
  type EmbeddingTask,
  type EmbedOptions,
  loadEmbedder,
  type LoadEmbedderOptions,
  MAX_EMBEDDING_INPUTS,
} from './embedder.js';
export {
  loadReranker,
  type LoadRerankerOptions,
  MAX_RERANK_DOCUMENTS,
  Reranker,
  type RerankerInfo,
  type RerankOptions,
  type RerankResult,
} from './reranker.js';
