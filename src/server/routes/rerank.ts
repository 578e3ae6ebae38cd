// POST /v1/rerank (and /rerank, as llama.cpp's server also answers): documents scored against a
// query by a cross-encoder, best first, with relevance_score in (0, 1).
import type { Hono } from 'hono';

import type { Env, ServerContext } from '../context.js';
import { userHash } from '../logging.js';
import { parseBody } from '../schemas/common.js';
import { rerankRequestSchema } from '../schemas/rerank.js';
import { jsonRequest } from './json-request.js';

export function rerankRoute(app: Hono<Env>, ctx: ServerContext): void {
  for (const route of ['/v1/rerank', '/rerank']) {
    app.post(route, (c) => jsonRequest(c, ctx, async (raw, signal) => {
      const record = c.get('record');
      const b = parseBody(rerankRequestSchema, raw);
      const reranker = ctx.reranker(b.model);
      const docs = b.documents.map((d) => (typeof d === 'string' ? d : d.text));
      Object.assign(record.fields, { model: b.model, documents: docs.length, user: userHash(b.user ?? undefined) });
      const r = await reranker.rerank(b.query, docs, { signal, ...(b.top_n != null ? { topN: b.top_n } : {}) });
      record.fields.promptTokens = r.promptTokens;
      return c.json({
        object: 'list',
        model: b.model,
        results: r.results.map((x) => ({
          index: x.index, relevance_score: x.relevanceScore, ...(b.return_documents ? { document: { text: docs[x.index]! } } : {}),
        })),
        usage: { prompt_tokens: r.promptTokens, total_tokens: r.promptTokens },
      });
    }));
  }
}
