// Embedding models people use (FastEmbed's list and the original platform's default), by full
// HF id and by the short name (the repo's own name) that tools like FastEmbed and Ollama use.
// Task prefixes are each model card's own instructions; they are applied only when a request
// names a task, never guessed from the text.

export interface EmbeddingCatalogEntry {
  id: string;
  arch: 'bert' | 'nomic-bert' | 'gemma-embedding';
  dimensions: number;
  /** Matryoshka-trained: `dimensions` may be cut down to this many (then re-normalized) */
  minDimensions?: number;
  /** the longest input it reads, in tokens */
  maxTokens: number;
  /** what to put before a query and before a document, as its model card says */
  prefixes?: { query: string; document: string };
  gated: boolean;
}

const BGE_QUERY = 'Represent this sentence for searching relevant passages: ';

export const embeddingCatalog: readonly EmbeddingCatalogEntry[] = Object.freeze([
  { id: 'BAAI/bge-small-en-v1.5', arch: 'bert', dimensions: 384, maxTokens: 512, prefixes: { query: BGE_QUERY, document: '' }, gated: false },
  { id: 'BAAI/bge-base-en-v1.5', arch: 'bert', dimensions: 768, maxTokens: 512, prefixes: { query: BGE_QUERY, document: '' }, gated: false },
  { id: 'BAAI/bge-large-en-v1.5', arch: 'bert', dimensions: 1024, maxTokens: 512, prefixes: { query: BGE_QUERY, document: '' }, gated: false },
  { id: 'sentence-transformers/all-MiniLM-L6-v2', arch: 'bert', dimensions: 384, maxTokens: 256, gated: false },
  { id: 'sentence-transformers/all-MiniLM-L12-v2', arch: 'bert', dimensions: 384, maxTokens: 256, gated: false },
  { id: 'intfloat/e5-small-v2', arch: 'bert', dimensions: 384, maxTokens: 512, prefixes: { query: 'query: ', document: 'passage: ' }, gated: false },
  { id: 'intfloat/e5-base-v2', arch: 'bert', dimensions: 768, maxTokens: 512, prefixes: { query: 'query: ', document: 'passage: ' }, gated: false },
  { id: 'intfloat/e5-large-v2', arch: 'bert', dimensions: 1024, maxTokens: 512, prefixes: { query: 'query: ', document: 'passage: ' }, gated: false },
  { id: 'thenlper/gte-small', arch: 'bert', dimensions: 384, maxTokens: 512, gated: false },
  { id: 'thenlper/gte-base', arch: 'bert', dimensions: 768, maxTokens: 512, gated: false },
  { id: 'thenlper/gte-large', arch: 'bert', dimensions: 1024, maxTokens: 512, gated: false },
  { id: 'mixedbread-ai/mxbai-embed-large-v1', arch: 'bert', dimensions: 1024, minDimensions: 64, maxTokens: 512, prefixes: { query: BGE_QUERY, document: '' }, gated: false },
  { id: 'Snowflake/snowflake-arctic-embed-xs', arch: 'bert', dimensions: 384, maxTokens: 512, prefixes: { query: BGE_QUERY, document: '' }, gated: false },
  { id: 'Snowflake/snowflake-arctic-embed-s', arch: 'bert', dimensions: 384, maxTokens: 512, prefixes: { query: BGE_QUERY, document: '' }, gated: false },
  { id: 'Snowflake/snowflake-arctic-embed-m', arch: 'bert', dimensions: 768, maxTokens: 512, prefixes: { query: BGE_QUERY, document: '' }, gated: false },
  { id: 'Snowflake/snowflake-arctic-embed-l', arch: 'bert', dimensions: 1024, maxTokens: 512, prefixes: { query: BGE_QUERY, document: '' }, gated: false },
  { id: 'nomic-ai/nomic-embed-text-v1', arch: 'nomic-bert', dimensions: 768, maxTokens: 2048, prefixes: { query: 'search_query: ', document: 'search_document: ' }, gated: false },
  { id: 'nomic-ai/nomic-embed-text-v1.5', arch: 'nomic-bert', dimensions: 768, minDimensions: 64, maxTokens: 2048, prefixes: { query: 'search_query: ', document: 'search_document: ' }, gated: false },
  { id: 'google/embeddinggemma-300m', arch: 'gemma-embedding', dimensions: 768, minDimensions: 128, maxTokens: 2048, prefixes: { query: 'task: search result | query: ', document: 'title: none | text: ' }, gated: true },
].map((e) => Object.freeze(e as EmbeddingCatalogEntry)));

/** The entry for a full HF id or a short name (case-insensitive), else undefined. */
export function embeddingCatalogEntry(name: string): EmbeddingCatalogEntry | undefined {
  const n = name.toLowerCase();
  return embeddingCatalog.find((e) => e.id.toLowerCase() === n || e.id.split('/')[1]!.toLowerCase() === n);
}
