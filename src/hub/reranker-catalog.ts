// Rerankers (cross-encoders) people use, by full HF id and by short name (the repo's own name),
// as the embedding catalog lists embedding models.

export interface RerankerCatalogEntry {
  id: string;
  /** bert: a BertForSequenceClassification; xlm-roberta: XLMRobertaForSequenceClassification */
  arch: 'bert' | 'xlm-roberta';
  /** the longest query + document pair it reads, in tokens */
  maxTokens: number;
  languages: string;
  gated: boolean;
}

export const rerankerCatalog: readonly RerankerCatalogEntry[] = Object.freeze([
  { id: 'BAAI/bge-reranker-base', arch: 'xlm-roberta', maxTokens: 512, languages: 'English, Chinese', gated: false },
  { id: 'BAAI/bge-reranker-large', arch: 'xlm-roberta', maxTokens: 512, languages: 'English, Chinese', gated: false },
  { id: 'BAAI/bge-reranker-v2-m3', arch: 'xlm-roberta', maxTokens: 8192, languages: 'multilingual', gated: false },
  { id: 'cross-encoder/ms-marco-MiniLM-L-6-v2', arch: 'bert', maxTokens: 512, languages: 'English', gated: false },
  { id: 'cross-encoder/ms-marco-MiniLM-L-12-v2', arch: 'bert', maxTokens: 512, languages: 'English', gated: false },
].map((e) => Object.freeze(e as RerankerCatalogEntry)));

/** The entry for a full HF id or a short name (case-insensitive), else undefined. */
export function rerankerCatalogEntry(name: string): RerankerCatalogEntry | undefined {
  const n = name.toLowerCase();
  return rerankerCatalog.find((e) => e.id.toLowerCase() === n || e.id.split('/')[1]!.toLowerCase() === n);
}
