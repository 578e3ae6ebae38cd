export { type AppOptions, createApp, defaultModelId, type EmbeddingModelOptions, type RerankerModelOptions, type ServerApp } from './app.js';
export { type RunningServer, type StartOptions, startServer } from './start.js';
export { ApiError, type ErrorBody } from './errors.js';
export { createLogger } from './logging.js';
export type { ServerMetrics } from './metrics.js';
