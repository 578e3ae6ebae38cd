// Request fields shared by /v1/chat/completions and /v1/completions, with OpenAI's ranges.
// Types and ranges are checked here; the engine checks again what only it can (token ids in
// logit_bias against the vocabulary, the prompt against the context).
import { z } from 'zod';

import { ApiError, invalidRequest } from '../errors.js';

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const nullable = <T extends z.ZodType>(t: T) => t.nullish();

/** Most choices one request may ask for (n times the number of prompts). */
export const MAX_CHOICES = 16;

export const samplingFields = {
  model: z.string().min(1),
  max_tokens: nullable(int(1, 2 ** 31 - 1)),
  temperature: nullable(z.number().min(0).max(2)),
  top_p: nullable(z.number().gt(0).max(1)),
  n: nullable(int(1, MAX_CHOICES)),
  stop: nullable(z.union([z.string().min(1).max(256), z.array(z.string().min(1).max(256)).max(16)])),
  seed: nullable(z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER)),
  presence_penalty: nullable(z.number().min(-2).max(2)),
  frequency_penalty: nullable(z.number().min(-2).max(2)),
  logit_bias: nullable(z.record(z.string().regex(/^\d+$/, 'keys must be token ids'), z.number().min(-100).max(100))
    .refine((b) => Object.keys(b).length <= 1024, 'may name at most 1024 tokens')),
  stream: nullable(z.boolean()),
  stream_options: nullable(z.strictObject({
    include_usage: z.boolean().optional(),
    // random padding against length side channels: nothing to pad here, so only false is honest
    include_obfuscation: z.literal(false).optional(),
  })),
  user: z.string().max(256).nullish(),
  // OpenAI accepts these as hints about its own infrastructure; none changes the output here
  metadata: nullable(z.record(z.string(), z.string())),
  service_tier: nullable(z.enum(['auto', 'default'])),
  store: nullable(z.literal(false)),
  prompt_cache_key: nullable(z.string()),
  safety_identifier: nullable(z.string().max(256)),
  // extras beyond OpenAI's fields, as vLLM and llama-server name them
  top_k: nullable(int(0, 2 ** 31 - 1)),
  min_p: nullable(z.number().min(0).max(1)),
  repetition_penalty: nullable(z.number().gt(0).max(100)),
};

/** OpenAI fields this server cannot honour: each is refused by name rather than ignored. */
export type Refusal = string | ((value: unknown) => string | null);

/** Some fields are refused outright; others only for values this server cannot honour. */
export function refuseUnsupported(body: unknown, fields: Record<string, Refusal>): void {
  if (typeof body !== 'object' || body === null) return; // parseBody says what is wrong with it
  for (const [field, rule] of Object.entries(fields)) {
    const v = (body as Record<string, unknown>)[field];
    if (v === undefined || v === null) continue;
    const why = typeof rule === 'string' ? rule : rule(v);
    if (why === null) continue;
    throw invalidRequest(`${field} is not supported by this server: ${why}. Remove it from the request.`, field, 'unsupported_parameter');
  }
}

function pathString(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${String(p)}` : String(p);
  return s;
}

/** Parses with a zod schema; the first problem becomes a 400 that names the field. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalidRequest('the request body must be a JSON object');
  }
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0]!;
    const param = pathString([...issue.path, key]);
    throw invalidRequest(`unrecognized request argument: ${param}; this server does not know it`, param, 'unknown_parameter');
  }
  const param = pathString(issue.path);
  const v = issue.path.reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<PropertyKey, unknown>)[k] : undefined), body);
  const shown = issue.code === 'invalid_type' && v === undefined ? 'is required' : `is invalid: ${issue.message}`;
  throw invalidRequest(`${param || 'the body'} ${shown}`, param || null, issue.code === 'invalid_type' && v === undefined ? 'missing_required_parameter' : 'invalid_value');
}

export function checkMaxTokens(maxTokens: number | null | undefined, maxCompletion: number | null | undefined): number | undefined {
  if (maxTokens != null && maxCompletion != null && maxTokens !== maxCompletion) {
    throw invalidRequest('max_tokens and max_completion_tokens disagree; send one of them', 'max_completion_tokens');
  }
  return maxCompletion ?? maxTokens ?? undefined;
}

export type { ApiError };
