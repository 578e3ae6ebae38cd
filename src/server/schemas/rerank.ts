// POST /v1/rerank in the shape Jina's and Cohere's APIs use and llama.cpp's server serves:
// a query, documents (strings, or objects with `text`), top_n, return_documents.
import { z } from 'zod';

import { MAX_RERANK_DOCUMENTS } from '../../engine/reranker.js';

const text = z.string().min(1, 'must not be an empty string');

export const rerankRequestSchema = z.strictObject({
  model: z.string().min(1),
  query: text,
  documents: z.array(z.union([text, z.looseObject({ text })])).min(1, 'must hold at least one document')
    .max(MAX_RERANK_DOCUMENTS, `may hold at most ${MAX_RERANK_DOCUMENTS} documents`),
  top_n: z.number().int().min(1).nullish(),
  return_documents: z.boolean().nullish(),
  user: z.string().max(256).nullish(),
});

export type RerankRequest = z.infer<typeof rerankRequestSchema>;
