// The HTTP server as clients see it: the real server on a free port, driven by the official
// `openai` SDK (and raw HTTP where the SDK hides the wire).
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { gemma3VocabModel, testTokens, tinyModel } from './helpers/models.js';
import { parsePrometheus, postJson, postThenDisconnect, startTestServer, type TestServer, waitFor } from './helpers/server.js';

// F32 cache without flash attention: a sequence's logits do not depend on what shares its batch,
// so sampled runs can be compared exactly between n = 1 and n > 1 (see test/engine.test.ts).
const exact = { kvType: 'f32', flashAttn: false } as const;
const MODEL = 'test/gemma3-vocab';
const hi = [{ role: 'user' as const, content: 'Hello there' }];

describe('the OpenAI API with the real Gemma 3 vocabulary and chat template', () => {
  let t: TestServer;
  let client: OpenAI;
  beforeAll(async () => {
    t = await startTestServer(gemma3VocabModel, { contextSize: 512, parallel: 8, maxQueue: 64, ...exact }, { modelId: MODEL });
    client = t.client;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('GET /health, /ready, /v1/models and /v1/models/:id (an id with a slash)', async () => {
    expect(await (await fetch(`${t.url}/health`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${t.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', model: MODEL, models: [{ id: MODEL, status: 'ready' }] });
    const list = await client.models.list();
    expect(list.data).toHaveLength(1);
    expect(list.data[0]).toMatchObject({ id: MODEL, object: 'model', owned_by: 'local', kind: 'chat' });
    expect(Number.isInteger(list.data[0]!.created)).toBe(true);
    expect(await client.models.retrieve(MODEL)).toMatchObject({ id: MODEL, object: 'model' });
    await expect(client.models.retrieve('nope/nope')).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
  });

  it('non-stream chat: OpenAI shape, real token usage, the model template', async () => {
    const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'system', content: 'Be brief.' }, ...hi], max_tokens: 7, seed: 3 });
    expect(r.id).toMatch(/^chatcmpl-/);
    expect(r.object).toBe('chat.completion');
    expect(r.model).toBe(MODEL);
    expect(r.system_fingerprint).toMatch(/^fp_[0-9a-f]{12}$/);
    expect(Math.abs(r.created - Date.now() / 1000)).toBeLessThan(60);
    expect(r.choices).toHaveLength(1);
    const c = r.choices[0]!;
    expect(c).toMatchObject({ index: 0, finish_reason: 'length', logprobs: null, message: { role: 'assistant' } });
    expect(c.message.content!.length).toBeGreaterThan(0);
    const promptTokens = (await t.model.tokenize(t.model.renderChat([{ role: 'system', content: 'Be brief.' }, ...hi]))).length;
    expect(r.usage).toMatchObject({ prompt_tokens: promptTokens, completion_tokens: 7, total_tokens: promptTokens + 7 });
    // text parts are joined as the template does; the same request through the engine gives the same text
    const direct = await t.model.chat([{ role: 'system', content: 'Be brief.' }, ...hi], { maxTokens: 7, seed: 3 });
    expect(c.message.content).toBe(direct.text);
    const parts = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello there' }] }], max_tokens: 5, seed: 4 });
    const plain = await client.chat.completions.create({ model: MODEL, messages: hi, max_tokens: 5, seed: 4 });
    expect(parts.choices[0]!.message.content).toBe(plain.choices[0]!.message.content);
  });

  it('streamed chat: role first, deltas that add up to the non-stream text, one final chunk, the usage chunk', async () => {
    const req = { model: MODEL, messages: hi, max_tokens: 10, seed: 11, temperature: 0.8 };
    const whole = await client.chat.completions.create(req);
    const stream = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const ch of stream) chunks.push(ch);
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    const ids = new Set(chunks.map((ch) => ch.id));
    expect(ids.size).toBe(1);
    for (const ch of chunks) {
      expect(ch.object).toBe('chat.completion.chunk');
      expect(ch.system_fingerprint).toBe(whole.system_fingerprint);
    }
    const body = chunks.slice(0, -1);
    const usageChunk = chunks.at(-1)!;
    for (const ch of body) expect(ch.usage).toBeNull();
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toMatchObject({ prompt_tokens: whole.usage!.prompt_tokens, completion_tokens: 10, total_tokens: whole.usage!.prompt_tokens + 10 });
    const finals = body.filter((ch) => ch.choices[0]!.finish_reason !== null);
    expect(finals).toHaveLength(1);
    expect(finals[0]).toBe(body.at(-1));
    expect(finals[0]!.choices[0]).toMatchObject({ delta: {}, finish_reason: 'length' });
    const text = body.map((ch) => ch.choices[0]!.delta.content ?? '').join('');
    expect(text).toBe(whole.choices[0]!.message.content);

    // without include_usage: no usage field, no usage chunk; the wire ends with [DONE]
    const raw = await postJson(`${t.url}/v1/chat/completions`, { ...req, stream: true });
    expect(raw.status).toBe(200);
    expect(raw.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const events = raw.text.split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    const parsed = events.slice(0, -1).map((e) => JSON.parse(e.replace(/^data: /, '')));
    for (const p of parsed) {
      expect(p).not.toHaveProperty('usage');
      expect(p.choices).toHaveLength(1);
    }
    expect(parsed.map((p) => p.choices[0].delta.content ?? '').join('')).toBe(text);
  });

  it('completions: a string, token ids, and a batch of prompts; streamed too', async () => {
    const a = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 6, seed: 5 });
    expect(a.object).toBe('text_completion');
    expect(a.id).toMatch(/^cmpl-/);
    expect(a.choices[0]).toMatchObject({ index: 0, finish_reason: 'length', logprobs: null });
    const ids = await t.model.tokenize('Once upon a time');
    expect(a.usage).toMatchObject({ prompt_tokens: ids.length, completion_tokens: 6 });
    const b = await client.completions.create({ model: MODEL, prompt: ids, max_tokens: 6, seed: 5 });
    expect(b.choices[0]!.text).toBe(a.choices[0]!.text);
    // OpenAI's default max_tokens for this endpoint is 16
    const dflt = await client.completions.create({ model: MODEL, prompt: 'Once', seed: 1, logit_bias: { 1: -100, 106: -100 } });
    expect(dflt.usage!.completion_tokens).toBe(16);
    const batch = await client.completions.create({ model: MODEL, prompt: ['Once upon a time', 'The sky'], max_tokens: 6, seed: 5, n: 2 });
    expect(batch.choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    expect(batch.choices[0]!.text).toBe(a.choices[0]!.text);
    const skyIds = await t.model.tokenize('The sky');
    expect(batch.usage).toMatchObject({ prompt_tokens: ids.length + skyIds.length, completion_tokens: 24 });

    const s = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 6, seed: 5, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.Completions.CompletionUsage | null | undefined;
    for await (const ch of s) {
      expect(ch.object).toBe('text_completion');
      if (ch.choices.length === 0) usage = ch.usage;
      for (const c of ch.choices) {
        text += c.text;
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    expect(text).toBe(a.choices[0]!.text);
    expect(finish).toBe('length');
    expect(usage).toMatchObject({ prompt_tokens: ids.length, completion_tokens: 6 });
  });

  it('n > 1: choice i with seed s is the n = 1 answer with seed s + i, streamed or not', async () => {
    const req = { model: MODEL, messages: hi, max_tokens: 8, temperature: 1 };
    const many = await client.chat.completions.create({ ...req, n: 3, seed: 40 });
    expect(many.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    for (let i = 0; i < 3; i++) {
      const one = await client.chat.completions.create({ ...req, seed: 40 + i });
      expect(many.choices[i]!.message.content).toBe(one.choices[0]!.message.content);
    }
    expect(new Set(many.choices.map((c) => c.message.content)).size).toBe(3);
    expect(many.usage!.completion_tokens).toBe(24);

    const stream = await client.chat.completions.create({ ...req, n: 3, seed: 40, stream: true });
    const texts = ['', '', ''];
    const seen: number[][] = [[], [], []];
    let k = 0;
    for await (const ch of stream) {
      const c = ch.choices[0]!;
      seen[c.index]!.push(k++);
      if (k <= 3) expect(c.delta).toEqual({ role: 'assistant', content: '' });
      texts[c.index] += c.delta.content ?? '';
      if (c.finish_reason) expect(c.finish_reason).toBe('length');
    }
    expect(texts).toEqual(many.choices.map((c) => c.message.content));
    // the choices interleave: no choice's chunks all come before another's first content
    expect(Math.min(...seen.map((s) => s.at(-1)!))).toBeGreaterThan(Math.max(...seen.map((s) => s[1]!)));
  });

  it('stop strings end the text before them with finish_reason stop', async () => {
    const req = { model: MODEL, messages: hi, max_tokens: 30, temperature: 0 };
    const free = (await client.chat.completions.create(req)).choices[0]!.message.content!;
    const at = Math.floor(free.length / 2);
    const stop = free.slice(at, at + 3);
    expect(stop.trim().length).toBeGreaterThan(0);
    const r = await client.chat.completions.create({ ...req, stop: ['@@never@@', stop] });
    expect(r.choices[0]!.finish_reason).toBe('stop');
    expect(r.choices[0]!.message.content).toBe(free.slice(0, free.indexOf(stop)));
    const c = await client.completions.create({ model: MODEL, prompt: 'Once', max_tokens: 30, temperature: 0, stop: 'zzzz' });
    expect(c.choices[0]!.finish_reason).toBe('length');
  });

  it('seeds reproduce; another seed gives another answer; penalties and extras are honoured', async () => {
    const req = { model: MODEL, messages: hi, max_tokens: 12, temperature: 1.1, top_p: 0.9, presence_penalty: 0.5, frequency_penalty: 0.3 };
    const a = await client.chat.completions.create({ ...req, seed: 9 });
    const b = await client.chat.completions.create({ ...req, seed: 9 });
    const c = await client.chat.completions.create({ ...req, seed: 10 });
    expect(b.choices[0]!.message.content).toBe(a.choices[0]!.message.content);
    expect(c.choices[0]!.message.content).not.toBe(a.choices[0]!.message.content);
    // top_k 1 is greedy whatever the temperature; extras travel as extra body fields
    const greedy = await client.chat.completions.create({ model: MODEL, messages: hi, max_tokens: 8, temperature: 0 });
    const topK = await client.chat.completions.create({ model: MODEL, messages: hi, max_tokens: 8, temperature: 1.5, seed: 1, top_k: 1, min_p: 0.05, repetition_penalty: 1 } as never);
    expect((topK as OpenAI.Chat.Completions.ChatCompletion).choices[0]!.message.content).toBe(greedy.choices[0]!.message.content);
    // logit_bias forces a token: 100 on " the" (id of the text) makes every token that one
    const [the] = await t.model.tokenize(' the', { addSpecial: false });
    const forced = await client.chat.completions.create({ model: MODEL, messages: hi, max_tokens: 4, seed: 2, logit_bias: { [the!]: 100 } });
    expect(forced.choices[0]!.message.content).toBe(' the the the the');
  });

  it('logprobs: chat content[] with bytes and top_logprobs; legacy tokens/token_logprobs/top_logprobs/text_offset', async () => {
    const r = await client.chat.completions.create({ model: MODEL, messages: hi, max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 3 });
    const content = r.choices[0]!.logprobs!.content!;
    expect(content).toHaveLength(5);
    expect(content.map((x) => x.token).join('')).toBe(r.choices[0]!.message.content);
    for (const x of content) {
      expect(Buffer.from(x.bytes!).toString('utf8')).toBe(x.token);
      expect(x.logprob).toBeLessThan(0);
      expect(x.top_logprobs).toHaveLength(3);
      expect(x.top_logprobs[0]!.token).toBe(x.token); // greedy: the chosen one is the most likely
      expect(x.top_logprobs[0]!.logprob).toBeCloseTo(x.logprob, 9);
      expect(x.top_logprobs[1]!.logprob).toBeLessThanOrEqual(x.top_logprobs[0]!.logprob);
    }
    // streamed, the same entries arrive with the deltas
    const s = await client.chat.completions.create({ model: MODEL, messages: hi, max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 3, stream: true });
    const streamed: OpenAI.Chat.Completions.ChatCompletionTokenLogprob[] = [];
    for await (const ch of s) streamed.push(...(ch.choices[0]?.logprobs?.content ?? []));
    expect(streamed).toEqual(content);

    const c = await client.completions.create({ model: MODEL, prompt: 'Once upon', max_tokens: 4, temperature: 0, logprobs: 2 });
    const lp = c.choices[0]!.logprobs!;
    expect(lp.tokens!.join('')).toBe(c.choices[0]!.text);
    expect(lp.token_logprobs).toHaveLength(4);
    expect(lp.text_offset).toEqual(lp.tokens!.map((_, i) => lp.tokens!.slice(0, i).join('').length));
    lp.top_logprobs!.forEach((top, i) => {
      expect(Object.keys(top).length).toBe(2); // greedy: the chosen token is among the best two
      expect(top[lp.tokens![i]!]).toBeCloseTo(lp.token_logprobs![i]!, 9);
    });
  });

  it('extreme sampling values answer like any other request (temperature 1e-39 once crashed the server)', async () => {
    const greedy = await client.chat.completions.create({ model: MODEL, messages: hi, max_tokens: 6, temperature: 0 });
    for (const extra of [{ temperature: 1e-39, top_p: 0.9 }, { temperature: 1e-39, top_p: 1e-9 }, { temperature: 2, top_p: 1e-9 }, { temperature: 1e-6, logprobs: true, top_logprobs: 20 }]) {
      const r = await client.chat.completions.create({ model: MODEL, messages: hi, max_tokens: 6, seed: 1, ...extra });
      expect(r.choices[0]!.finish_reason).toBe('length');
      // below 1e-5 the temperature is greedy, whatever top_p says
      if (extra.temperature < 1e-5) expect(r.choices[0]!.message.content).toBe(greedy.choices[0]!.message.content);
      for (const lp of r.choices[0]!.logprobs?.content ?? []) expect(Number.isFinite(lp.logprob)).toBe(true);
    }
    expect((await fetch(`${t.url}/health`)).status).toBe(200);
  });

  it('16 concurrent streams all complete', async () => {
    const runs = Array.from({ length: 16 }, async (_, i) => {
      const s = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: `Question ${i}` }], max_tokens: 12, seed: i, stream: true, stream_options: { include_usage: true } });
      let text = '';
      let finish: string | null = null;
      let usage: OpenAI.Completions.CompletionUsage | null | undefined;
      for await (const ch of s) {
        if (!ch.choices.length) usage = ch.usage;
        text += ch.choices[0]?.delta.content ?? '';
        finish = ch.choices[0]?.finish_reason ?? finish;
      }
      return { text, finish, usage };
    });
    const results = await Promise.all(runs);
    for (const r of results) {
      expect(r.finish).toBe('length');
      expect(r.usage!.completion_tokens).toBe(12);
      expect(r.text.length).toBeGreaterThan(0);
    }
    expect(t.model.stats()).toMatchObject({ queued: 0, active: 0 });
  });

  it('abort mid-stream with the SDK frees the sequence, and the next request succeeds', async () => {
    const before = t.model.stats().generatedTokens;
    const s = await client.chat.completions.create({ model: MODEL, messages: hi, max_tokens: 400, seed: 1, stream: true, logit_bias: { 1: -100, 106: -100 } });
    let n = 0;
    for await (const ch of s) {
      if (ch.choices[0]?.delta.content) n++;
      if (n === 3) break; // leaving the loop aborts the HTTP request
    }
    await waitFor(() => t.model.stats().active === 0, 'the sequence to be freed', 5000);
    expect(t.model.stats().generatedTokens - before).toBeLessThan(400);
    const next = await client.chat.completions.create({ model: MODEL, messages: hi, max_tokens: 4 });
    expect(next.choices[0]!.finish_reason).toBe('length');
  });

  describe('errors: OpenAI-shaped bodies and statuses, and the server keeps serving', () => {
    const expectError = async (p: Promise<unknown>, status: number, match: Record<string, unknown>) => {
      const err = await p.then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect((err as OpenAI.APIError).status).toBe(status);
      expect(err).toMatchObject(match);
      return err as OpenAI.APIError;
    };

    it('400 for wrong types, empty messages, bad roles, huge numbers, unknown and unsupported fields', async () => {
      const chat = (extra: object) => client.chat.completions.create({ model: MODEL, messages: hi, max_tokens: 2, ...extra } as never);
      await expectError(chat({ temperature: 'hot' }), 400, { param: 'temperature', type: 'invalid_request_error' });
      await expectError(chat({ temperature: 3 }), 400, { param: 'temperature' });
      await expectError(chat({ messages: [] }), 400, { param: 'messages' });
      await expectError(chat({ messages: [{ role: 'wizard', content: 'x' }] }), 400, { param: 'messages[0].role' });
      await expectError(chat({ messages: [{ role: 'tool', content: 'x', tool_call_id: 'a' }] }), 400, { param: 'messages[0].role' });
      await expectError(chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }), 400, { param: 'messages[0].content' });
      await expectError(chat({ messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }] }), 400, { param: 'messages', code: 'invalid_messages' });
      await expectError(chat({ max_tokens: 1e20 }), 400, { param: 'max_tokens' });
      await expectError(chat({ max_tokens: 0 }), 400, { param: 'max_tokens' });
      await expectError(chat({ max_tokens: 2.5 }), 400, { param: 'max_tokens' });
      await expectError(chat({ seed: 1e300 }), 400, { param: 'seed' });
      await expectError(chat({ n: 1000 }), 400, { param: 'n' });
      await expectError(chat({ top_logprobs: 3 }), 400, { param: 'top_logprobs' }); // needs logprobs: true
      await expectError(chat({ logit_bias: { 999999: 5 } }), 400, { param: 'logit_bias' });
      await expectError(chat({ logit_bias: { 5: 500 } }), 400, { param: 'logit_bias.5' });
      await expectError(chat({ stop: ['a', ''] }), 400, { param: 'stop[1]' });
      await expectError(chat({ frobnicate: true }), 400, { param: 'frobnicate', code: 'unknown_parameter' });
      await expectError(chat({ tools: [{ type: 'function', function: { name: 'f' } }] }), 400, { param: 'tools', code: 'unsupported_parameter' });
      await expectError(chat({ response_format: { type: 'json_object' } }), 400, { param: 'response_format', code: 'unsupported_parameter' });
      await expectError(chat({ reasoning_effort: 'high' }), 400, { param: 'reasoning_effort' });
      await expectError(chat({ max_tokens: 3, max_completion_tokens: 4 }), 400, { param: 'max_completion_tokens' });
      await expectError(client.completions.create({ model: MODEL, prompt: 'x', suffix: 'y' }), 400, { param: 'suffix' });
      await expectError(client.completions.create({ model: MODEL, prompt: 'x', echo: true }), 400, { param: 'echo' });
      await expectError(client.completions.create({ model: MODEL, prompt: [1e9] }), 400, { param: 'prompt' });
      await expectError(client.completions.create({ model: MODEL, prompt: 'x', n: 9, max_tokens: 1 } as never).then(() =>
        client.completions.create({ model: MODEL, prompt: ['a', 'b'], n: 9 })), 400, { param: 'n' });
      // fields OpenAI accepts and that change nothing here are accepted
      const ok = await chat({ user: 'someone@example.com', metadata: { a: 'b' }, store: false, tools: [], tool_choice: 'none', response_format: { type: 'text' } });
      expect((ok as OpenAI.Chat.Completions.ChatCompletion).choices).toHaveLength(1);
    });

    it('400 for malformed JSON, a body that is not an object, an empty body', async () => {
      for (const body of ['{"model": ', '[1,2]', '', 'null']) {
        const r = await postJson(`${t.url}/v1/chat/completions`, body);
        expect(r.status).toBe(400);
        expect(r.json.error).toMatchObject({ type: 'invalid_request_error' });
        expect(Object.keys(r.json.error).sort()).toEqual(['code', 'message', 'param', 'type']);
      }
    });

    it('404 for an unknown model and an unknown route; 400 context_length_exceeded', async () => {
      await expectError(client.chat.completions.create({ model: 'gpt-4o', messages: hi }), 404, { code: 'model_not_found', param: 'model' });
      const r = await fetch(`${t.url}/v1/audio/speech`, { method: 'POST', body: '{}' });
      expect(r.status).toBe(404);
      expect((await r.json()).error.code).toBe('unknown_url');
      const long = 'word '.repeat(600);
      await expectError(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: long }] }), 400, { code: 'context_length_exceeded' });
      await expectError(client.completions.create({ model: MODEL, prompt: testTokens(600, 384) }), 400, { code: 'context_length_exceeded' });
      // and the server still answers
      expect((await client.chat.completions.create({ model: MODEL, messages: hi, max_tokens: 2 })).choices).toHaveLength(1);
    });
  });

  it('/metrics is valid Prometheus text with request, token, latency and scheduler metrics', async () => {
    await client.chat.completions.create({ model: MODEL, messages: hi, max_tokens: 3 });
    const res = await fetch(`${t.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const { types, samples } = parsePrometheus(await res.text());
    const get = (name: string, labels: Record<string, string> = {}) =>
      samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    expect(types.get('predict_otron_http_requests_total')).toBe('counter');
    expect(get('predict_otron_http_requests_total', { route: '/v1/chat/completions', method: 'POST', status: '200' })[0]!.value).toBeGreaterThan(5);
    expect(get('predict_otron_http_requests_total', { route: '/v1/chat/completions', status: '400' })[0]!.value).toBeGreaterThan(5);
    expect(get('predict_otron_http_requests_total', { status: '404' }).length).toBeGreaterThan(0);
    expect(get('predict_otron_generated_tokens_total', { route: '/v1/chat/completions' })[0]!.value).toBeGreaterThan(100);
    expect(get('predict_otron_prompt_tokens_total', { route: '/v1/completions' })[0]!.value).toBeGreaterThan(0);
    expect(types.get('predict_otron_time_to_first_token_seconds')).toBe('histogram');
    expect(get('predict_otron_time_to_first_token_seconds_count')[0]!.value).toBeGreaterThan(10);
    expect(get('predict_otron_decode_tokens_per_second_count')[0]!.value).toBeGreaterThan(10);
    expect(get('predict_otron_time_to_first_token_seconds_bucket', { le: '+Inf' })[0]!.value).toBe(get('predict_otron_time_to_first_token_seconds_count')[0]!.value);
    expect(get('predict_otron_queue_depth')[0]!.value).toBe(0);
    expect(get('predict_otron_active_sequences')[0]!.value).toBe(0);
    expect(get('predict_otron_kv_cache_size_cells')[0]!.value).toBe(512);
    expect(get('predict_otron_kv_cache_used_cells')[0]!.value).toBe(t.model.stats().kvUsed);
    expect(get('predict_otron_kv_cache_used_cells')[0]!.value).toBeGreaterThan(0);
    const stats = t.model.stats();
    for (const [name, value] of [['preemptions_total', stats.preemptions], ['recomputed_tokens_total', stats.recomputedTokens], ['swapped_tokens_total', stats.swappedTokens]] as const) {
      expect(types.get(`predict_otron_${name}`), name).toBe('counter');
      expect(get(`predict_otron_${name}`)[0]!.value, name).toBe(value);
    }
    expect(() => parsePrometheus('# TYPE a counter\na{x="1} 1\n')).toThrow(/bad labels/);
    expect(() => parsePrometheus('b 1\n')).toThrow(/before its TYPE/);
  });
});
