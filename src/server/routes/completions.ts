// POST /v1/completions (the legacy text endpoint)
import type { Hono } from 'hono';
import type OpenAI from 'openai';

import type { CompletionPrompt } from '../../engine/language-model.js';
import type { Env, ServerContext } from '../context.js';
import { samplingOptions } from '../context.js';
import { invalidRequest } from '../errors.js';
import { completionRequestSchema, completionUnsupported, type CompletionRequest } from '../schemas/completions.js';
import { MAX_CHOICES, parseBody, refuseUnsupported } from '../schemas/common.js';
import { generate, type Plan } from './request-flow.js';

/** A string, token ids, or a batch of either: one engine prompt per item. */
function prompts(p: CompletionRequest['prompt']): CompletionPrompt[] {
  if (typeof p === 'string') return [p];
  if (p.every((x) => typeof x === 'number')) return [p as number[]];
  return p as string[] | number[][];
}

export function completionsRoute(app: Hono<Env>, ctx: ServerContext): void {
  app.post('/v1/completions', (c) =>
    generate(c, ctx, { object: 'text_completion', chunkObject: 'text_completion', idPrefix: 'cmpl-' }, (raw): Plan => {
      refuseUnsupported(raw, completionUnsupported);
      const b = parseBody(completionRequestSchema, raw);
      const list = prompts(b.prompt);
      const n = b.n ?? 1;
      if (list.length * n > MAX_CHOICES) {
        throw invalidRequest(`${list.length} prompts times n = ${n} is ${list.length * n} choices; at most ${MAX_CHOICES} per request`, 'n');
      }
      const logprobs = b.logprobs ?? null;
      const strings = ctx.strings();
      return {
        model: b.model,
        inputs: list.map((prompt) => ({ prompt })),
        n,
        options: {
          ...samplingOptions(b),
          ...(b.max_tokens != null ? { maxTokens: b.max_tokens } : { maxTokens: 16 }), // OpenAI's default for this endpoint
          ...(logprobs !== null ? { logprobs: true, topLogprobs: logprobs } : {}),
        },
        stream: b.stream === true,
        includeUsage: b.stream_options?.include_usage === true,
        user: b.user ?? undefined,
        promptText: () => list.map((p) => (typeof p === 'string' ? p : `[${p.length} token ids]`)).join('\n---\n'),
        body: (results, base, usage) => ({
          ...base,
          object: 'text_completion',
          choices: results.map((r, index) => ({
            index,
            text: r.text,
            logprobs: logprobs !== null ? strings.legacy(r.tokens, 0) : null,
            finish_reason: r.finishReason,
          })),
          usage,
        }) satisfies OpenAI.Completions.Completion, // shape drift from the SDK's types fails the type check
        events: async function* (merged, base) {
          const usage = b.stream_options?.include_usage === true ? { usage: null } : {};
          const offsets = new Map<number, number>();
          // a streamed completion chunk has the non-stream shape, one choice, finish_reason null until the end
          const chunk = (index: number, text: string, lp: OpenAI.Completions.CompletionChoice.Logprobs | null, finish: 'stop' | 'length' | null) =>
            ({ ...base, object: 'text_completion', choices: [{ index, text, logprobs: lp, finish_reason: finish }], ...usage }) satisfies
              Omit<OpenAI.Completions.Completion, 'choices' | 'usage'> & {
                choices: Array<Omit<OpenAI.Completions.CompletionChoice, 'finish_reason'> & { finish_reason: OpenAI.Completions.CompletionChoice['finish_reason'] | null }>;
                usage?: null;
              };
          for await (const ev of merged) {
            if ('chunk' in ev) {
              const at = offsets.get(ev.index) ?? 0;
              const lp = logprobs !== null ? strings.legacy(ev.chunk.tokens, at) : null;
              if (lp) offsets.set(ev.index, at + strings.textLength(ev.chunk.tokens));
              if (ev.chunk.text === '' && !lp?.tokens.length) continue;
              yield chunk(ev.index, ev.chunk.text, lp, null);
            } else {
              yield chunk(ev.index, '', null, ev.result.finishReason);
            }
          }
        },
      };
    }));
}
