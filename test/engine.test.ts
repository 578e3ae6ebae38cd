import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type LanguageModel, loadModel } from '../src/engine/language-model.js';
import { Batch } from '../src/runtime/batch.js';
import { Model } from '../src/runtime/model.js';
import { SwapSpace } from '../src/engine/swap-space.js';
import { gemma3VocabHfDir, gemma3VocabHfTwin, gemma3VocabModel, testTokens, tinyModel } from './helpers/models.js';

// The tiny Q8_0 model with an F32 cache and no flash attention: its logits do not depend on
// what else is in the batch or where a sequence's cells lie, so greedy tokens can be compared
// exactly between concurrent and lone runs. (With the default F16 cache and flash attention,
// values are accumulated in F16 in cell order, which interleaving changes: measured, 1 of 8
// sequences took another token at step 15, as llama.cpp would.)
const modelPath = tinyModel('gemma3', 'q8_0');
const exact = { kvType: 'f32', flashAttn: false } as const;

/** Greedy decoding with the bare runtime, one token at a time: the reference for the scheduler. */
async function referenceGreedy(prompt: number[], n: number, stopIds: number[] = []): Promise<number[]> {
  const model = await Model.open(modelPath);
  const ctx = await model.createContext({ nCtx: 512, nSeqMax: 1, ...exact });
  const out: number[] = [];
  let logits = await ctx.decode(new Batch().addSequence(prompt, 0, 0));
  for (let i = 0; i < n; i++) {
    const row = logits.row(0);
    let best = 0;
    for (let j = 1; j < row.length; j++) if (row[j]! > row[best]!) best = j;
    out.push(best);
    if (stopIds.includes(best)) break;
    logits = await ctx.decode(new Batch().add(best, prompt.length + i, 0, true));
  }
  await model.close();
  return out;
}

const ids = (r: { tokens: { id: number }[] }) => r.tokens.map((t) => t.id);
// token ids that are neither special nor end tokens, so runs are not cut short
const plainPrompt = (n: number, salt: number) => testTokens(n, 384, salt);
const waitFor = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
};

describe('generation through the scheduler', () => {
  let m: LanguageModel;
  beforeAll(async () => {
    m = await loadModel(modelPath, { contextSize: 512, parallel: 8, maxQueue: 4, ...exact });
  });
  afterAll(async () => {
    await m.close();
  });

  it('greedy completion equals a plain decode loop with the runtime', async () => {
    const prompt = plainPrompt(20, 1);
    const r = await m.complete(prompt, { temperature: 0, maxTokens: 12 });
    const want = await referenceGreedy(prompt, 12, [1, 5]);
    expect(ids(r)).toEqual(want);
    expect(r.usage).toMatchObject({ promptTokens: 20, completionTokens: want.length, totalTokens: 20 + want.length });
    expect(r.finishReason).toBe(want.length === 12 && ![1, 5].includes(want.at(-1)!) ? 'length' : 'stop');
  });

  it('8 concurrent greedy requests give the same tokens as each alone', async () => {
    const prompts = Array.from({ length: 8 }, (_, i) => plainPrompt(10 + 3 * i, 10 + i));
    const alone = [];
    for (const p of prompts) alone.push(ids(await m.complete(p, { temperature: 0, maxTokens: 16 })));
    const together = await Promise.all(prompts.map((p) => m.complete(p, { temperature: 0, maxTokens: 16 })));
    expect(together.map(ids)).toEqual(alone);
    expect(m.stats()).toMatchObject({ queued: 0, active: 0 });
  });

  it('a seed reproduces a sampled run; another seed gives another', async () => {
    const prompt = plainPrompt(12, 3);
    const opts = { temperature: 1.2, topK: 50, topP: 0.95, minP: 0.01, presencePenalty: 0.5, maxTokens: 24 };
    const a = await m.complete(prompt, { ...opts, seed: 7 });
    const b = await m.complete(prompt, { ...opts, seed: 7 });
    const c = await m.complete(prompt, { ...opts, seed: 8 });
    expect(ids(a)).toEqual(ids(b));
    expect(a.text).toBe(b.text);
    expect(a.seed).toBe(7);
    expect(ids(c)).not.toEqual(ids(a));
    // and concurrently: each request has its own generator
    const [x, y] = await Promise.all([m.complete(prompt, { ...opts, seed: 7 }), m.complete(prompt, { ...opts, seed: 8 })]);
    expect(ids(x)).toEqual(ids(a));
    expect(ids(y)).toEqual(ids(c));
  });

  it('stops at a stop string that spans tokens, and never emits any of it', async () => {
    const prompt = plainPrompt(15, 4);
    const free = await m.complete(prompt, { temperature: 0, maxTokens: 40, logprobs: true });
    // a stop string made of the end of one token's text and the start of the next
    const pieces = free.tokens.map((t) => m.detokenize([t.id]));
    const k = pieces.findIndex((p, i) => i > 2 && p.length >= 2 && (pieces[i + 1]?.length ?? 0) >= 2 && !pieces[i + 1]!.includes('\uFFFD') && !p.includes('\uFFFD'));
    expect(k).toBeGreaterThan(0);
    const stop = pieces[k]!.slice(-2) + pieces[k + 1]!.slice(0, 2);
    const before = free.text.slice(0, free.text.indexOf(stop));
    const s = m.completeStream(prompt, { temperature: 0, maxTokens: 40, stop: ['@@never@@', stop] });
    let streamed = '';
    for await (const c of s) {
      streamed += c.text;
      expect(c.text.includes(stop.slice(0, 1)) && streamed.endsWith(stop.slice(0, 1)) && streamed.length > before.length).toBe(false);
    }
    const r = await s.result;
    expect(r.finishReason).toBe('stop');
    expect(r.stoppedBy).toEqual({ string: stop });
    expect(r.text).toBe(before);
    expect(streamed).toBe(before);
  });

  it('max tokens gives finish reason length; the streamed text is the result text, well formed', async () => {
    const s = m.completeStream(plainPrompt(8, 5), { temperature: 0.9, seed: 1, maxTokens: 30, logitBias: { 1: -100, 5: -100 } });
    let text = '';
    let n = 0;
    for await (const c of s) {
      expect(c.text.isWellFormed()).toBe(true);
      text += c.text;
      n += c.tokens.length;
    }
    const r = await s.result;
    expect(r.finishReason).toBe('length');
    expect(r.usage.completionTokens).toBe(30);
    expect(n).toBe(30);
    expect(text).toBe(r.text);
  });

  it('logprobs: the chosen token and the top alternatives, from the model distribution', async () => {
    const r = await m.complete(plainPrompt(9, 6), { temperature: 0, maxTokens: 3, logprobs: true, topLogprobs: 3 });
    for (const t of r.tokens) {
      expect(t.top).toHaveLength(3);
      expect(t.top![0]!.id).toBe(t.id); // greedy: the chosen one is the most likely
      expect(t.logprob).toBeCloseTo(t.top![0]!.logprob, 6);
      expect(t.top![0]!.logprob).toBeGreaterThanOrEqual(t.top![1]!.logprob);
      expect(t.logprob!).toBeLessThan(0);
    }
  });

  it('a prompt that cannot fit is an error; a full context ends with length', async () => {
    const small = await loadModel(modelPath, { contextSize: 32, parallel: 2 });
    try {
      await expect(small.complete(plainPrompt(32, 7))).rejects.toMatchObject({ code: 'ERR_CONTEXT_LENGTH' });
      const r = await small.complete(plainPrompt(20, 7), { temperature: 0.9, seed: 2, logitBias: { 1: -100, 5: -100 } });
      expect(r.finishReason).toBe('length');
      expect(r.usage.totalTokens).toBe(33); // 32 cached positions plus the last token, never fed
    } finally {
      await small.close();
    }
  });

  it('prefix reuse: a request sharing a cached prefix computes only the rest, with the same result', async () => {
    const shared = plainPrompt(60, 8); // longer than the sliding window (8): local layers see the copied cells too
    const first = await m.complete([...shared, 40, 41], { temperature: 0, maxTokens: 8 });
    expect(first.usage.cachedPromptTokens).toBeLessThan(60);
    const second = await m.complete([...shared, 50, 51, 52], { temperature: 0, maxTokens: 8 });
    expect(second.usage.cachedPromptTokens).toBe(60);
    expect(ids(second)).toEqual(await referenceGreedy([...shared, 50, 51, 52], 8, [1, 5]));
  });

  it('identical prompts sent together are prefilled once (n > 1 choices)', async () => {
    const prompt = plainPrompt(80, 77);
    const rs = await Promise.all([0, 1, 2, 3].map((i) => m.complete(prompt, { temperature: 1, seed: i, maxTokens: 4 })));
    const cached = rs.map((r) => r.usage.cachedPromptTokens).sort((a, b) => a - b);
    expect(cached[0]).toBeLessThan(16); // the first computes the prompt (BOS may come from an earlier request)
    expect(cached.slice(1)).toEqual([79, 79, 79]); // the others copy it (all but the last token)
    expect(rs[1]!.tokens).toEqual((await m.complete(prompt, { temperature: 1, seed: 1, maxTokens: 4 })).tokens);
  });

  it('a full queue is refused with ERR_QUEUE_FULL, and the queue drains', async () => {
    const one = await loadModel(modelPath, { contextSize: 128, parallel: 1, maxQueue: 1 });
    try {
      const opts = { temperature: 0.9, seed: 1, maxTokens: 20, logitBias: { 1: -100, 5: -100 } };
      const running = one.complete(plainPrompt(10, 9), opts);
      await waitFor(() => one.stats().active === 1, 'the first request to run');
      const queued = one.complete(plainPrompt(10, 10), opts);
      await waitFor(() => one.stats().queued === 1, 'the second request to queue');
      await expect(one.complete(plainPrompt(10, 11), opts)).rejects.toMatchObject({ code: 'ERR_QUEUE_FULL' });
      expect((await running).usage.completionTokens).toBe(20);
      expect((await queued).usage.completionTokens).toBe(20);
    } finally {
      await one.close();
    }
  });
});

describe('sharing one KV pool', () => {
  it('a long prompt is prefilled in chunks while another request keeps generating', async () => {
    const m = await loadModel(modelPath, { contextSize: 512, parallel: 2, stepTokens: 16, ...exact });
    try {
      const opts = { temperature: 0.9, seed: 1, logitBias: { 1: -100, 5: -100 } };
      let generatedDuringPrefill = 0;
      let longStarted = false;
      let longFirstToken = false;
      const a = (async () => {
        for await (const c of m.completeStream(plainPrompt(10, 21), { ...opts, maxTokens: 60 })) {
          if (longStarted && !longFirstToken) generatedDuringPrefill += c.tokens.length;
        }
      })();
      await waitFor(() => m.stats().generatedTokens >= 3, 'the first request to generate');
      longStarted = true;
      const b = (async () => {
        for await (const c of m.completeStream(plainPrompt(400, 22), { ...opts, maxTokens: 4 })) {
          if (c.tokens.length) longFirstToken = true;
        }
      })();
      await Promise.all([a, b]);
      // 400 prompt tokens at 16 per step, less the generating request's token: ~27 steps, each
      // giving the other request a token
      expect(generatedDuringPrefill).toBeGreaterThanOrEqual(20);
    } finally {
      await m.close();
    }
  });

  it.each([
    ['its cells saved and copied back', {}],
    ['recomputed (swapMiB: 0)', { swapMiB: 0 }],
  ])('when the pool runs out, the newest request is preempted, %s: outputs unchanged', async (_, swap) => {
    const opts = { temperature: 0, logitBias: { 1: -100, 5: -100 } };
    const prompts = [plainPrompt(20, 31), plainPrompt(20, 32)];
    // alone, with room to spare
    const roomy = await loadModel(modelPath, { contextSize: 256, parallel: 1, ...exact });
    const alone = [];
    for (const p of prompts) alone.push(ids(await roomy.complete(p, { ...opts, maxTokens: 30 })));
    await roomy.close();
    // together in 64 cells: 2 x (20 + 30) do not fit, so one waits and is recomputed
    const tight = await loadModel(modelPath, { contextSize: 64, parallel: 2, ...exact, ...swap });
    try {
      const together = await Promise.all(prompts.map((p) => tight.complete(p, { ...opts, maxTokens: 30 })));
      expect(together.map(ids)).toEqual(alone);
      expect(together.map((r) => r.finishReason)).toEqual(['length', 'length']);
      const s = tight.stats();
      expect(s.preemptions).toBeGreaterThan(0);
      // the cells the other request needed were taken from the victim's tail: saved, or lost
      if ('swapMiB' in swap) expect([s.swappedTokens, s.recomputedTokens > 0]).toEqual([0, true]);
      else expect([s.swappedTokens > 0, s.recomputedTokens]).toEqual([true, 0]);
    } finally {
      await tight.close();
    }
  });
});

describe('the swap space keeps what fits and only rows that continue a cache', () => {
  it('saves tail pieces up to its limit, restores those that continue the cache, drops the rest', async () => {
    // plain kernels: with AMX tiles a row's logits depend on its place in the batch (sequences.test.ts)
    const model = await Model.open(modelPath, { repack: false });
    const ctx = await model.createContext({ nCtx: 128, nSeqMax: 2, ...exact });
    try {
      await ctx.decode(new Batch().addSequence(plainPrompt(30, 90), 0, 0, false));
      const piece = ctx.seqSave(0, 20, 30).byteLength; // 10 positions
      const owner = {};
      const swap = new SwapSpace(ctx, piece + 5 * (piece / 10)); // room for 15 positions
      swap.save(owner, 0, 20, 30);
      ctx.seqRemove(0, 20, -1);
      swap.save(owner, 0, 10, 20); // over the limit: not saved, but [20, 30) still continues [0, 20)
      expect(swap.bytes).toBe(piece);
      ctx.seqRemove(0, 10, -1);
      expect(swap.resumeAt(owner, 10), 'nothing saved continues position 10').toBe(10);
      expect(swap.resumeAt(owner, 25), 'a cache reaching into the piece resumes at its start').toBe(20);
      expect(swap.restore(owner, 0, 10), 'a gap: nothing restored').toBe(10);
      expect([swap.bytes, ctx.seqPosMax(0)]).toEqual([0, 9]);

      // pieces saved from the tail backwards come back in order
      await ctx.decode(new Batch().addSequence(plainPrompt(30, 90).slice(10), 10, 0, false));
      const big = new SwapSpace(ctx, 1 << 30);
      big.save(owner, 0, 25, 30);
      ctx.seqRemove(0, 25, -1);
      big.save(owner, 0, 12, 25);
      ctx.seqRemove(0, 12, -1);
      ctx.seqCopy(0, 1, 0, 12); // back in another sequence
      ctx.seqRemove(0);
      expect(big.restore(owner, 1, 12)).toBe(30);
      expect(big.bytes).toBe(0);
      const l = (await ctx.decode(new Batch().add(7, 30, 1, true))).row(0).slice();
      // the same positions computed in place, one token at a time as above
      ctx.seqRemove(1);
      await ctx.decode(new Batch().addSequence(plainPrompt(30, 90), 0, 0, false));
      const ref = (await ctx.decode(new Batch().add(7, 30, 0, true))).row(0);
      expect(Array.from(l)).toEqual(Array.from(ref));
      // a piece that does not end where the last one began (cells lost in between) drops them all
      big.save(owner, 0, 28, 31);
      expect(big.bytes).toBeGreaterThan(0);
      big.save(owner, 0, 10, 20);
      expect(big.bytes).toBe(0);
    } finally {
      await ctx.close();
      await model.close();
    }
  });
});

describe('a KV pool far smaller than the requests need together', () => {
  it('8 requests of 40 + 60 tokens in 384 cells: all finish at full length, as they would with room; few cells are recomputed', async () => {
    const opts = { temperature: 0, maxTokens: 60, logitBias: { 1: -100, 5: -100 } };
    const prompts = Array.from({ length: 8 }, (_, i) => plainPrompt(40, 50 + i));
    const roomy = await loadModel(modelPath, { contextSize: 1024, parallel: 8, ...exact });
    const withRoom = await Promise.all(prompts.map((p) => roomy.complete(p, opts)));
    await roomy.close();
    const tight = await loadModel(modelPath, { contextSize: 384, parallel: 8, ...exact });
    try {
      const squeezed = await Promise.all(prompts.map((p) => tight.complete(p, opts)));
      expect(squeezed.map((r) => r.finishReason)).toEqual(Array(8).fill('length'));
      expect(squeezed.map(ids)).toEqual(withRoom.map(ids));
      const s = tight.stats();
      // 800 tokens of work in 384 cells: requests wait for room instead of being admitted,
      // preempted and admitted again. Bound: the cells of at most 8 preemptions of one request
      // each (100 cells), i.e. no more recomputed than the work itself.
      console.log(`pressure: ${s.preemptions} preemptions, ${s.recomputedTokens} cells recomputed, ${s.swappedTokens} copied back`);
      expect(s.recomputedTokens + s.swappedTokens).toBeLessThanOrEqual(800);
      // the swap space (as large as the cache) holds every trimmed cell here: nothing recomputed
      expect(s.recomputedTokens).toBe(0);
    } finally {
      await tight.close();
    }
  });
});

describe('admission counts what admitted requests have still to prefill', () => {
  it('8 prompts of 100 tokens arriving together in 256 cells: they take turns instead of evicting each other', async () => {
    const opts = { temperature: 0, maxTokens: 10, logitBias: { 1: -100, 5: -100 } };
    const prompts = Array.from({ length: 8 }, (_, i) => plainPrompt(100, 70 + i));
    const m = await loadModel(modelPath, { contextSize: 256, parallel: 8, ...exact });
    try {
      const results = await Promise.all(prompts.map((p) => m.complete(p, opts)));
      expect(results.map((r) => r.usage.completionTokens)).toEqual(Array(8).fill(10));
      const s = m.stats();
      console.log(`staggered prefill: ${s.preemptions} preemptions, ${s.recomputedTokens} cells recomputed`);
      // two fit at a time (2 x 110 of 256 cells): no request ever has to give its cells back
      expect(s.preemptions).toBe(0);
    } finally {
      await m.close();
    }
  });
});

describe('abort frees the sequence in every state, and the next request runs', () => {
  const opts = { temperature: 0.9, seed: 1, logitBias: { 1: -100, 5: -100 } };

  it('queued, prefilling, generating (stream and not)', async () => {
    // one slot, prompts fed 8 tokens per step: prefill spans many steps
    const m = await loadModel(modelPath, { contextSize: 512, parallel: 1, stepTokens: 8 });
    try {
      // generating, non-stream
      const c1 = new AbortController();
      const gen = m.complete(plainPrompt(10, 1), { ...opts, signal: c1.signal });
      await waitFor(() => m.stats().generatedTokens > 3, 'tokens');
      // queued behind it
      const c2 = new AbortController();
      const queued = m.complete(plainPrompt(10, 2), { ...opts, maxTokens: 5, signal: c2.signal });
      await waitFor(() => m.stats().queued === 1, 'queueing');
      c2.abort();
      await expect(queued).rejects.toMatchObject({ code: 'ERR_ABORTED' });
      expect(m.stats().queued).toBe(0);
      c1.abort();
      await expect(gen).rejects.toMatchObject({ code: 'ERR_ABORTED' });
      await waitFor(() => m.stats().active === 0, 'the slot to be free');

      // prefilling: a 400-token prompt takes 50 steps
      const c3 = new AbortController();
      const before = m.stats().generatedTokens;
      const pre = m.complete(plainPrompt(400, 3), { ...opts, maxTokens: 5, signal: c3.signal });
      await waitFor(() => m.stats().active === 1, 'prefill to start');
      c3.abort();
      await expect(pre).rejects.toMatchObject({ code: 'ERR_ABORTED' });
      await waitFor(() => m.stats().active === 0, 'the slot to be free');
      expect(m.stats().generatedTokens).toBe(before); // it never got to generate

      // streaming: leaving the loop cancels
      const s = m.completeStream(plainPrompt(10, 4), opts);
      let n = 0;
      for await (const c of s) {
        n += c.tokens.length;
        if (n >= 3) break;
      }
      await expect(s.result).rejects.toMatchObject({ code: 'ERR_ABORTED' });
      await waitFor(() => m.stats().active === 0, 'the slot to be free');

      // and the next request runs to the end
      const next = await m.complete(plainPrompt(10, 5), { ...opts, maxTokens: 6 });
      expect(next.usage.completionTokens).toBe(6);
      expect(m.stats()).toMatchObject({ queued: 0, active: 0 });
    } finally {
      await m.close();
    }
  });

  it('an already aborted signal is refused at once; close() ends what runs with ERR_CLOSED', async () => {
    const m = await loadModel(modelPath, { contextSize: 256, parallel: 2 });
    const c = new AbortController();
    c.abort();
    await expect(m.complete(plainPrompt(5, 1), { signal: c.signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    const running = m.complete(plainPrompt(5, 2), opts);
    await waitFor(() => m.stats().generatedTokens > 0, 'tokens');
    const ended = expect(running).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    await m.close();
    await ended;
    await expect(m.complete(plainPrompt(5, 3))).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });
});

describe('chat with the real Gemma 3 vocabulary and template (from the GGUF)', () => {
  it('renders the template, one BOS, end-of-turn stops, options are checked', async () => {
    const m = await loadModel(gemma3VocabModel, { contextSize: 256, parallel: 2 });
    try {
      expect(m.info.chatTemplate).toBe('model');
      const text = m.renderChat([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }]);
      expect(text).toBe('<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n');
      const tokens = await m.tokenize(text);
      expect(tokens.slice(0, 3)).toEqual([2, 105, 2364]); // <bos> <start_of_turn> user
      expect(tokens.filter((t) => t === 2)).toHaveLength(1);
      // <end_of_turn> (106) forced as the first token: a stop, not text
      const r = await m.chat([{ role: 'user', content: 'Hi' }], { temperature: 0, logitBias: { 106: 100 } });
      expect(r).toMatchObject({ text: '', finishReason: 'stop', stoppedBy: { token: 106 } });
      expect(r.usage.promptTokens).toBe((await m.tokenize(m.renderChat([{ role: 'user', content: 'Hi' }]))).length);
      // streamed deltas concatenate to the result
      const s = m.chatStream([{ role: 'user', content: 'Tell me something' }], { temperature: 1, seed: 4, maxTokens: 12 });
      let all = '';
      for await (const c of s) all += c.text;
      expect(all).toBe((await s.result).text);
      expect(all.length).toBeGreaterThan(0);
      await expect(m.chat([{ role: 'user', content: 'x' }], { temperature: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', param: 'temperature' });
      await expect(m.chat([], {})).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', param: 'messages' });
      await expect(m.chat([{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }])).rejects.toMatchObject({ code: 'ERR_TEMPLATE' });
      await expect(m.complete([999999])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', param: 'prompt' });
      await expect(m.complete('x', { stop: [''] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', param: 'stop' });
      await expect(m.complete('x', { maxTokens: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG', param: 'max_tokens' });
    } finally {
      await m.close();
    }
  });
});

describe('an HF directory (tokenizer.json, tokenizer_config.json, generation_config.json)', () => {
  it('gives the same prompt tokens and greedy replies as its GGUF twin', async () => {
    const hf = await loadModel(gemma3VocabHfDir, { contextSize: 256, parallel: 2, ...exact });
    const gguf = await loadModel(gemma3VocabHfTwin, { contextSize: 256, parallel: 2, ...exact });
    try {
      expect(hf.info.format).toBe('hf');
      expect(hf.info.chatTemplate).toBe('model'); // from tokenizer_config.json
      const conv = [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'Où est la gare? 🚉' }];
      expect(hf.renderChat(conv)).toBe(gguf.renderChat(conv));
      const text = hf.renderChat(conv);
      expect(await hf.tokenize(text)).toEqual(await gguf.tokenize(text));
      const opts = { temperature: 0, maxTokens: 12, logitBias: { 1: -100, 106: -100 } };
      const [a, b] = await Promise.all([hf.chat(conv, opts), gguf.chat(conv, opts)]);
      expect(ids(a)).toEqual(ids(b));
      expect(a.text).toBe(b.text);
      // one rule for end tokens: the HF form lists <eos> and <end_of_turn> in generation_config.json;
      // the GGUF names <end_of_turn> (106) as its EOS, as -it conversions do. Both forms stop on
      // both, at the same place, with the same text.
      expect([...hf.endTokens].sort()).toEqual([...gguf.endTokens].sort());
      for (const end of [1, 106]) {
        const endOpts = { temperature: 0, maxTokens: 20, logitBias: { [end]: 100 } };
        const [r1, r2] = await Promise.all([hf.chat(conv, endOpts), gguf.chat(conv, endOpts)]);
        expect(r1.stoppedBy, `HF, token ${end}`).toEqual({ token: end });
        expect(r2.stoppedBy, `GGUF, token ${end}`).toEqual({ token: end });
        expect(r2.text).toBe(r1.text);
        expect(r2.finishReason).toBe('stop');
      }
    } finally {
      await Promise.all([hf.close(), gguf.close()]);
    }
  });
});

describe('a caller with one long-lived signal', () => {
  it('10,000 requests on one AbortSignal leave no listener behind (chat, streams, errors)', async () => {
    const { getEventListeners } = await import('node:events');
    const m = await loadModel(tinyModel('gemma3', 'q8_0'), { contextSize: 256, parallel: 8, maxQueue: 10_000 });
    try {
      const signal = new AbortController().signal;
      for (let round = 0; round < 50; round++) {
        const batch = Array.from({ length: 200 }, (_, i) => {
          const k = round * 200 + i;
          if (k % 10 === 9) return m.complete([2, 7], { maxTokens: 0, signal }).catch((e: { code?: string }) => e.code); // refused at once
          if (k % 2) return m.complete([2, 6 + (k % 50)], { maxTokens: 1, signal }).then((r) => r.finishReason as string);
          return (async () => {
            let text = '';
            const s = m.completeStream([2, 7], { maxTokens: 1, signal });
            for await (const c of s) text += c.text;
            return (await s.result).finishReason as string;
          })();
        });
        const outcomes = await Promise.all(batch);
        for (const o of outcomes) expect(['length', 'stop', 'ERR_INVALID_ARG']).toContain(o);
        expect(getEventListeners(signal, 'abort'), `after ${(round + 1) * 200} requests`).toHaveLength(0);
      }
    } finally {
      await m.close();
    }
  });
});
