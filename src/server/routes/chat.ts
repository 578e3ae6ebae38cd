// POST /v1/chat/completions
import type { Hono } from 'hono';
import type OpenAI from 'openai';

import { flattenContent } from '../../chat/messages.js';
import type { ServerContext, Env } from '../context.js';
import { samplingOptions } from '../context.js';
import { chatRequestSchema, chatUnsupported, refuseMessageFeatures } from '../schemas/chat.js';
import { checkMaxTokens, parseBody, refuseUnsupported } from '../schemas/common.js';
import { generate, type Plan } from './request-flow.js';

export function chatRoute(app: Hono<Env>, ctx: ServerContext): void {
  app.post('/v1/chat/completions', (c) =>
    generate(c, ctx, { object: 'chat.completion', chunkObject: 'chat.completion.chunk', idPrefix: 'chatcmpl-' }, (raw): Plan => {
      refuseUnsupported(raw, chatUnsupported);
      refuseMessageFeatures(raw);
      const b = parseBody(chatRequestSchema, raw);
      const maxTokens = checkMaxTokens(b.max_tokens, b.max_completion_tokens);
      const logprobs = b.logprobs === true;
      const n = b.n ?? 1;
      const strings = ctx.strings();
      return {
        model: b.model,
        inputs: [{ messages: b.messages }],
        n,
        options: {
          ...samplingOptions(b),
          ...(maxTokens !== undefined ? { maxTokens } : {}),
          ...(b.logprobs != null ? { logprobs: b.logprobs } : {}),
          ...(b.top_logprobs != null ? { topLogprobs: b.top_logprobs } : {}),
        },
        stream: b.stream === true,
        includeUsage: b.stream_options?.include_usage === true,
        user: b.user ?? undefined,
        promptText: () => b.messages.map((m) => `${m.role}: ${flattenContent(m.content)}`).join('\n'),
        body: (results, base, usage) => ({
          ...base,
          object: 'chat.completion',
          choices: results.map((r, index) => ({
            index,
            message: { role: 'assistant', content: r.text, refusal: null },
            logprobs: logprobs ? { content: strings.chat(r.tokens), refusal: null } : null,
            finish_reason: r.finishReason,
          })),
          usage,
        }) satisfies OpenAI.Chat.ChatCompletion, // shape drift from the SDK's types fails the type check
        events: async function* (merged, base) {
          const usage = b.stream_options?.include_usage === true ? { usage: null } : {};
          const chunk = (index: number, delta: OpenAI.Chat.ChatCompletionChunk.Choice.Delta,
            lp: OpenAI.Chat.ChatCompletionChunk.Choice.Logprobs | null, finish: 'stop' | 'length' | null) =>
            ({ ...base, object: 'chat.completion.chunk', choices: [{ index, delta, logprobs: lp, finish_reason: finish }], ...usage }) satisfies
              Omit<OpenAI.Chat.ChatCompletionChunk, 'usage'> & { usage?: null };
          // every choice opens with the role, as OpenAI's first chunk does
          for (let i = 0; i < n; i++) yield chunk(i, { role: 'assistant', content: '' }, null, null);
          for await (const ev of merged) {
            if ('chunk' in ev) {
              const lp = logprobs ? strings.chat(ev.chunk.tokens) : null;
              // text held back (a partial character, a possible stop string) is sent when it is known
              if (ev.chunk.text === '' && !lp?.length) continue;
              yield chunk(ev.index, { content: ev.chunk.text }, lp ? { content: lp, refusal: null } : null, null);
            } else {
              yield chunk(ev.index, {}, null, ev.result.finishReason);
            }
          }
        },
      };
    }));
}
