// POST /v1/embeddings as OpenAI defines it, plus two documented extensions: `truncate` (cut
// inputs longer than the model reads instead of a 400) and `task` (the model card's query or
// document prefix).
import { z } from 'zod';

import { MAX_EMBEDDING_INPUTS } from '../../engine/embedder.js';

const tokenId = z.number().int().min(0).max(2 ** 31 - 1);
const text = z.string().min(1, 'must not be an empty string');
const items = <T extends z.ZodType>(t: T) => z.array(t).min(1, 'must hold at least one item').max(MAX_EMBEDDING_INPUTS, `may hold at most ${MAX_EMBEDDING_INPUTS} items`);

export const embeddingRequestSchema = z.strictObject({
  model: z.string().min(1),
  input: z.union([text, items(text), items(tokenId), items(items(tokenId))]),
  encoding_format: z.enum(['float', 'base64']).nullish(),
  dimensions: z.number().int().min(1).nullish(),
  user: z.string().max(256).nullish(),
  truncate: z.boolean().nullish(),
  task: z.enum(['query', 'document']).nullish(),
});

export type EmbeddingRequest = z.infer<typeof embeddingRequestSchema>;
