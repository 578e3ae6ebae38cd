// The scheduler with a sliding-window ring (scheduler.ts, window-store.ts): prefix reuse stays
// exact past the window, and preemption works with rings.
//
// The tiny Q8_0 Gemma 3 with an F32 cache and no flash attention: its logits do not depend on
// what else is in the batch or where cells lie (engine.test.ts), so a reused prefix must give
// exactly the tokens and log-probabilities of a cold run. Its window is 8; with 2 sequences and
// steps of 64 tokens the ring has PAD(8 x 2 + 64, 256) = 256 cells in a context of 2048.
import { describe, expect, it } from 'vitest';

import { type LanguageModel, loadModel } from '../src/engine/language-model.js';
import { testTokens, tinyModel } from './helpers/models.js';

const modelPath = tinyModel('gemma3', 'q8_0');
const ring = { contextSize: 2048, parallel: 2, stepTokens: 64, kvType: 'f32', flashAttn: false } as const;
// greedy, never an end token, so every run has its full length
const greedy = { temperature: 0, logitBias: { 1: -100, 5: -100 }, logprobs: true } as const;
const prompt = (n: number, salt: number) => testTokens(n, 384, salt);

type Result = Awaited<ReturnType<LanguageModel['complete']>>;
const ids = (r: Result) => r.tokens.map((t) => t.id);

/** A cold run: a fresh model, nothing cached. */
async function cold(p: number[], maxTokens: number): Promise<Result> {
  const m = await loadModel(modelPath, ring);
  try {
    return await m.complete(p, { ...greedy, maxTokens });
  } finally {
    await m.close();
  }
}

function expectSameRun(got: Result, want: Result) {
  expect(ids(got)).toEqual(ids(want));
  const d = Math.max(...got.tokens.map((t, i) => Math.abs(t.logprob! - want.tokens[i]!.logprob!)));
  expect(d).toBeLessThanOrEqual(1e-5);
}

describe('prefix reuse with a sliding-window ring', () => {
  it('the ring is what the context has (not a full-size cache for every layer)', async () => {
    const m = await loadModel(modelPath, ring);
    try {
      expect(m.info.kvCache).toMatchObject({ swaWindow: 8, swaCells: 256 });
    } finally {
      await m.close();
    }
  });

  it('a prefix much longer than the window, shared with a sequence that went on far past it: taken over from the window store, results as cold', async () => {
    const shared = prompt(300, 1);
    const m = await loadModel(modelPath, ring);
    try {
      // A generates 300 tokens after the shared part: its ring holds nothing near position 300 any more
      const a = await m.complete([...shared, 40, 41, 42], { ...greedy, maxTokens: 300 });
      expect(a.tokens).toHaveLength(300);
      // the same prompt again (a regenerated answer): resumed at its last token, from the block that ends there
      const again = await m.complete([...shared, 40, 41, 42], { ...greedy, maxTokens: 300 });
      expect(again.usage.cachedPromptTokens).toBe(302);
      expectSameRun(again, a);
      // the conversation goes on: the whole cached sequence continues, its window held by the ring
      const next = [...shared, 40, 41, 42, ...ids(a), 60, 61];
      const c = await m.complete(next, { ...greedy, maxTokens: 10 });
      expect(c.usage.cachedPromptTokens).toBe(303 + 300 - 1);
      expectSameRun(c, await cold(next, 10));
      // another question after the shared part: the last window-store block inside it ends at 256 (blocks of 64)
      const b = await m.complete([...shared, 50, 51], { ...greedy, maxTokens: 20 });
      expect(b.usage.cachedPromptTokens).toBe(256);
      expect(m.stats().windowBytes).toBeGreaterThan(0);
      expectSameRun(b, await cold([...shared, 50, 51], 20));
    } finally {
      await m.close();
    }
  });

  it('without the window store such a prefix is recomputed, never taken over inexactly', async () => {
    const shared = prompt(300, 2);
    const m = await loadModel(modelPath, { ...ring, windowMiB: 0 });
    try {
      await m.complete([...shared, 40], { ...greedy, maxTokens: 300 });
      const b = await m.complete([...shared, 50, 51], { ...greedy, maxTokens: 20 });
      expect(b.usage.cachedPromptTokens).toBe(0);
      expect(m.stats().windowBytes).toBe(0);
      expectSameRun(b, await cold([...shared, 50, 51], 20));
    } finally {
      await m.close();
    }
  });

  it('a request sharing the prefix of one still running takes it over while the other generates', async () => {
    const shared = prompt(400, 3);
    const m = await loadModel(modelPath, ring);
    try {
      let firstTokens = 0;
      const first = m.completeStream([...shared, 40], { ...greedy, maxTokens: 200 });
      let b: Result | undefined;
      for await (const chunk of first) {
        firstTokens += chunk.tokens.length;
        // far past the shared part: the first request's ring holds nothing near position 400
        if (firstTokens >= 100 && !b) b = await m.complete([...shared, 50, 51], { ...greedy, maxTokens: 20 });
      }
      expect(firstTokens).toBe(200);
      // the first request's prompt ends at 401: its last block ends where a prompt sharing all of it resumes
      expect(b!.usage.cachedPromptTokens).toBe(400);
      expectSameRun(b!, await cold([...shared, 50, 51], 20));
    } finally {
      await m.close();
    }
  });

  it.each([
    ['its cells saved and copied back', {}],
    ['recomputed (swapMiB: 0)', { swapMiB: 0 }],
  ])('requests preempted in a context with a ring, %s, give the outputs they give alone', async (_, swap) => {
    const prompts = [prompt(300, 11), prompt(280, 12), prompt(260, 13)];
    const alone: Result[] = [];
    for (const p of prompts) alone.push(await cold(p, 150));
    // 3 x (~280 + 150) cells do not fit in 1024: someone is preempted
    const tight = await loadModel(modelPath, { ...ring, contextSize: 1024, parallel: 3, ...swap });
    try {
      expect(tight.info.kvCache.swaCells).toBe(256);
      const together = await Promise.all(prompts.map((p) => tight.complete(p, { ...greedy, maxTokens: 150 })));
      together.forEach((r, i) => expectSameRun(r, alone[i]!));
      expect(tight.stats().preemptions).toBeGreaterThan(0);
    } finally {
      await tight.close();
    }
  });
});
