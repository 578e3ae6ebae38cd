// POST /v1/embeddings: vectors for a string, strings, token ids or arrays of token ids, as float
// arrays or base64 (little-endian float32, what the openai SDK asks for when its caller names no
// format, and decodes). A client that goes away cancels the work.
import type { Hono } from 'hono';
import type OpenAI from 'openai';

import type { EmbeddingInput } from '../../engine/embedder.js';
import type { Env, ServerContext } from '../context.js';
import { userHash } from '../logging.js';
import { parseBody } from '../schemas/common.js';
import { embeddingRequestSchema, type EmbeddingRequest } from '../schemas/embeddings.js';
import { jsonRequest } from './json-request.js';

/** One engine input per item: a string, or one array of token ids, is a single input. */
function inputsOf(input: EmbeddingRequest['input']): EmbeddingInput[] {
  if (typeof input === 'string') return [input];
  if (input.every((x) => typeof x === 'number')) return [input as number[]];
  return input as string[] | number[][];
}

function base64Of(v: Float32Array): string {
  // Float32Array is in the platform's byte order; every platform Node runs on is little-endian
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}

export function embeddingsRoute(app: Hono<Env>, ctx: ServerContext): void {
  app.post('/v1/embeddings', (c) => jsonRequest(c, ctx, async (raw, signal) => {
    const record = c.get('record');
    const b = parseBody(embeddingRequestSchema, raw);
    const embedder = ctx.embedder(b.model);
    const inputs = inputsOf(b.input);
    Object.assign(record.fields, { model: b.model, inputs: inputs.length, user: userHash(b.user ?? undefined) });
    const result = await embedder.embed(inputs, {
      signal,
      ...(b.dimensions != null ? { dimensions: b.dimensions } : {}),
      ...(b.truncate != null ? { truncate: b.truncate } : {}),
      ...(b.task != null ? { task: b.task } : {}),
    });
    record.fields.promptTokens = result.promptTokens;
    ctx.metrics.embedding(record.route, inputs.length, result.promptTokens);
    const base64 = b.encoding_format === 'base64';
    const body = {
      object: 'list' as const,
      data: result.vectors.map((v, index) => ({ object: 'embedding' as const, index, embedding: base64 ? base64Of(v) : Array.from(v) })),
      model: b.model,
      usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens },
    };
    // the SDK's own type, except that a base64 answer carries strings where it says number[]
    return c.json(body satisfies Omit<OpenAI.CreateEmbeddingResponse, 'data'> & { data: Array<{ object: 'embedding'; index: number; embedding: number[] | string }> });
  }));
}
