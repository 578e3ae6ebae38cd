import { z } from 'zod';

import { invalidRequest } from '../errors.js';
import { type Refusal, samplingFields } from './common.js';

const textPart = z.strictObject({ type: z.literal('text'), text: z.string() });
const refusalPart = z.strictObject({ type: z.literal('refusal'), refusal: z.string() });
const text = z.union([z.string(), z.array(textPart).min(1)]);
const name = z.string().max(256).nullish();

// Each role with every field OpenAI defines for it, so a conversation goes back as the client
// got it (the openai SDK's reply carries refusal, annotations and audio as null or []).
// Fields that need features this server lacks are refused by name before parsing
// (refuseMessageFeatures); null and [] mean "not used" and are accepted.
const message = z.discriminatedUnion('role', [
  z.strictObject({ role: z.literal('system'), content: text, name }),
  z.strictObject({ role: z.literal('developer'), content: text, name }),
  z.strictObject({ role: z.literal('user'), content: text, name }),
  z.strictObject({
    role: z.literal('assistant'),
    content: z.union([z.string(), z.array(z.union([textPart, refusalPart])).min(1)]).nullish(),
    name,
    refusal: z.string().nullish(),
    annotations: z.array(z.unknown()).nullish(),
    audio: z.null().optional(),
    tool_calls: z.array(z.unknown()).max(0).nullish(),
    function_call: z.null().optional(),
  }),
]);

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

// the refused fields, as null (not used): every client library sends unset fields so
const refusedAsNull = Object.fromEntries(Object.keys(chatUnsupported).map((k) => [k, z.null().optional()]));

export const chatRequestSchema = z.strictObject({
  ...samplingFields,
  ...refusedAsNull,
  messages: z.array(message).min(1),
  max_completion_tokens: samplingFields.max_tokens,
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  response_format: z.strictObject({ type: z.literal('text') }).nullish(),
  tool_choice: z.literal('none').nullish(),
  tools: z.array(z.unknown()).max(0).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  modalities: z.array(z.literal('text')).nullish(),
  prompt_cache_retention: z.literal('in_memory').nullish(),
});

export type ChatRequest = z.infer<typeof chatRequestSchema>;

const partKinds: Record<string, string> = { image_url: 'images', input_audio: 'audio input', file: 'files' };

/** Message fields that select features this server lacks: a 400 naming the field. */
export function refuseMessageFeatures(body: unknown): void {
  const messages = (body as { messages?: unknown } | null)?.messages;
  if (!Array.isArray(messages)) return;
  const refuse = (param: string, why: string) => {
    throw invalidRequest(`${param} is not supported by this server: ${why}.`, param, 'unsupported_parameter');
  };
  messages.forEach((m: unknown, i) => {
    if (typeof m !== 'object' || m === null) return;
    const { role, content, tool_calls, function_call, audio } = m as Record<string, unknown>;
    if (role === 'tool' || role === 'function') refuse(`messages[${i}].role`, `'${role}' messages belong to tool calling, which is not implemented yet`);
    if (Array.isArray(content)) {
      for (const p of content) {
        const kind = partKinds[String((p as { type?: unknown } | null)?.type)];
        if (kind) refuse(`messages[${i}].content`, `${kind} cannot be read: the models served here read text only`);
      }
    }
    if (Array.isArray(tool_calls) && tool_calls.length > 0) refuse(`messages[${i}].tool_calls`, 'tool calling is not implemented yet');
    if (function_call != null) refuse(`messages[${i}].function_call`, 'function calling is not implemented');
    if (audio != null) refuse(`messages[${i}].audio`, 'the models served here read and write text only');
  });
}
