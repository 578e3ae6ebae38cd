// Model references, the HF hub download and cache, and the Gemma catalog.
export { HubError } from './errors.js';
export { parseModelRef, formatModelRef, type ModelRef } from './ref.js';
export { resolveModel, type ResolvedModel, type ResolveOptions } from './resolve.js';
export { catalog, catalogEntry, type CatalogEntry, type GemmaFamily } from './catalog.js';
export { embeddingCatalog, embeddingCatalogEntry, type EmbeddingCatalogEntry } from './embedding-catalog.js';
export { rerankerCatalog, rerankerCatalogEntry, type RerankerCatalogEntry } from './reranker-catalog.js';
export {
  listCachedModels, cachedRevisions, repoCacheDir, repoFolderName, type CachedModel, type CachedRevision,
} from './cache.js';
export { hfHome, hubCacheDir, hubEndpoint } from './paths.js';
export type { HubLogger, ProgressMode } from './progress.js';
