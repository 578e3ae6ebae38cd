import { z } from 'zod';

import { type Refusal, samplingFields } from './common.js';

const tokenIds = z.array(z.number().int().min(0)).min(1);

export const completionRequestSchema = z.strictObject({
  ...samplingFields,
  // a string, a batch of strings, token ids, or a batch of token id arrays, as OpenAI allows
  prompt: z.union([z.string(), z.array(z.string()).min(1), tokenIds, z.array(tokenIds).min(1)]),
  // legacy logprobs: the number of alternatives per position (OpenAI allows up to 5)
  logprobs: z.number().int().min(0).max(20).nullish(),
  best_of: z.literal(1).nullish(),
  echo: z.literal(false).nullish(),
  suffix: z.null().optional(), // refused when set (completionUnsupported); null means unused
});

export type CompletionRequest = z.infer<typeof completionRequestSchema>;

export const completionUnsupported: Record<string, Refusal> = {
  echo: (v) => (v === false ? null : 'echoing the prompt is not implemented'),
  best_of: (v) => (v === 1 ? null : 'best_of needs prompt-level scoring, which is not implemented; use n'),
  suffix: 'the Gemma models served here do not fill in the middle',
};
