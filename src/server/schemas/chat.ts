import { z } from 'zod';

import { type Refusal, samplingFields } from './common.js';

const textPart = z.strictObject({ type: z.literal('text'), text: z.string() });

const message = z.strictObject({
  // 'tool' and 'function' messages belong to tool calling, which this server does not do
  role: z.enum(['system', 'developer', 'user', 'assistant']),
  content: z.union([z.string(), z.array(textPart).min(1)]),
});

export const chatRequestSchema = z.strictObject({
  ...samplingFields,
  messages: z.array(message).min(1),
  max_completion_tokens: samplingFields.max_tokens,
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  response_format: z.strictObject({ type: z.literal('text') }).optional(),
  tool_choice: z.literal('none').optional(),
  tools: z.array(z.unknown()).max(0).optional(),
  parallel_tool_calls: z.boolean().optional(),
  modalities: z.array(z.literal('text')).nullish(),
  prompt_cache_retention: z.literal('in_memory').nullish(),
});

export type ChatRequest = z.infer<typeof chatRequestSchema>;

/** Known OpenAI chat fields that this server cannot honour, and why. */
export const chatUnsupported: Record<string, Refusal> = {
  tools: (v) => (Array.isArray(v) && v.length === 0 ? null : 'tool calling is not implemented yet'),
  tool_choice: (v) => (v === 'none' ? null : 'tool calling is not implemented yet'),
  response_format: (v) => ((v as { type?: unknown }).type === 'text' ? null : 'only {"type": "text"} is implemented (no JSON mode or schemas yet)'),
  modalities: (v) => (Array.isArray(v) && v.every((m) => m === 'text') ? null : 'the models served here write text only'),
  functions: 'function calling is not implemented',
  function_call: 'function calling is not implemented',
  audio: 'the models served here read and write text only',
  prediction: 'predicted outputs are not implemented',
  reasoning_effort: 'the Gemma models served here do not reason in a separate channel',
  verbosity: 'the Gemma models served here have no verbosity control',
  web_search_options: 'there is no web search',
  moderation: 'there is no moderation model',
  prompt_cache_options: 'prompt caching here is automatic (shared prefixes reuse the KV cache)',
};
