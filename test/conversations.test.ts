// Conversations as client libraries send them: each reply is pushed back into the history the
// way that library's own docs do it, for four turns, through the real server. Once, the openai
// SDK's own reply (`refusal: null` and all) came back as a 400.
import { ChatOpenAI } from '@langchain/openai';
import { AIMessage, HumanMessage, SystemMessage, type BaseMessage } from '@langchain/core/messages';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, streamText, type ModelMessage } from 'ai';
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { gemma3VocabModel } from './helpers/models.js';
import { postJson, startTestServer, type TestServer } from './helpers/server.js';

const MODEL = 'test/gemma3-vocab';
const questions = ['Hello there', 'What is a lighthouse?', 'And a harbour?', 'Thanks, goodbye.'];

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer(gemma3VocabModel, { contextSize: 2048, parallel: 4, kvType: 'f32', flashAttn: false }, { modelId: MODEL });
});
afterAll(async () => {
  await t?.close();
});

describe('the openai SDK', () => {
  it('four turns, each reply pushed back as the SDK returned it; later turns reuse the cached prefix', async () => {
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [{ role: 'system', content: 'Be brief.' }];
    const cached: number[] = [];
    for (const q of questions) {
      messages.push({ role: 'user', content: q, name: 'ana' });
      const r = await t.client.chat.completions.create({ model: MODEL, messages, max_tokens: 8, temperature: 0, user: null } as never);
      const reply = (r as OpenAI.Chat.ChatCompletion).choices[0]!.message;
      expect(reply).toMatchObject({ role: 'assistant', refusal: null });
      messages.push(reply); // the SDK's own object: refusal, and whatever else it carries
      cached.push((r as OpenAI.Chat.ChatCompletion).usage!.prompt_tokens_details!.cached_tokens!);
    }
    expect(cached[0]).toBe(0);
    // each later prompt starts with the previous prompt and its reply, cached in the KV pool
    for (const c of cached.slice(1)) expect(c).toBeGreaterThan(10);
    // the same history with the extra fields spelled out as other clients send them
    const spelled = messages.map((m) => (m.role === 'assistant' ? { ...m, annotations: [], audio: null, tool_calls: [], name: null } : m));
    const again = await t.client.chat.completions.create({ model: MODEL, messages: [...spelled, { role: 'user', content: [{ type: 'text', text: 'One more.' }] }], max_tokens: 3, temperature: 0 } as never);
    expect((again as OpenAI.Chat.ChatCompletion).choices[0]!.finish_reason).toBe('length');
  });

  it('four streamed turns, each reply assembled from its deltas and pushed back', async () => {
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [];
    let lastCached = 0;
    for (const q of questions) {
      messages.push({ role: 'user', content: q });
      const stream = await t.client.chat.completions.create({ model: MODEL, messages, max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true } });
      let content = '';
      let role: string | undefined;
      for await (const chunk of stream) {
        const d = chunk.choices[0]?.delta;
        role ??= d?.role ?? undefined;
        content += d?.content ?? '';
        if (chunk.usage) lastCached = chunk.usage.prompt_tokens_details?.cached_tokens ?? 0;
      }
      expect(role).toBe('assistant');
      messages.push({ role: 'assistant', content, refusal: null } as OpenAI.Chat.ChatCompletionAssistantMessageParam);
    }
    expect(lastCached).toBeGreaterThan(10);
    // the streamed conversation equals the non-streamed one (greedy)
    const direct = await t.model.chat(messages.slice(0, -1) as never, { maxTokens: 8, temperature: 0 });
    expect(direct.text).toBe((messages.at(-1) as { content: string }).content);
  });

  it('a refused turn (content null, refusal set) goes back as its refusal text', async () => {
    const withRefusal = [
      { role: 'user', content: 'Tell me a secret.' },
      { role: 'assistant', content: null, refusal: 'I cannot share that.' },
      { role: 'user', content: 'Fine.' },
    ];
    const asText = [withRefusal[0], { role: 'assistant', content: 'I cannot share that.' }, withRefusal[2]];
    const a = await postJson(`${t.url}/v1/chat/completions`, { model: MODEL, messages: withRefusal, max_tokens: 5, temperature: 0 });
    const b = await postJson(`${t.url}/v1/chat/completions`, { model: MODEL, messages: asText, max_tokens: 5, temperature: 0 });
    expect(a.status).toBe(200);
    expect(a.json.choices[0].message.content).toBe(b.json.choices[0].message.content);
    expect(a.json.usage.prompt_tokens).toBe(b.json.usage.prompt_tokens);
  });

  it('null for every optional request field', async () => {
    const nulls = {
      max_tokens: 3, temperature: null, top_p: null, n: null, stop: null, seed: null, presence_penalty: null, frequency_penalty: null,
      logit_bias: null, stream: null, stream_options: null, user: null, metadata: null, service_tier: null, store: null,
      prompt_cache_key: null, safety_identifier: null, logprobs: null, top_logprobs: null, response_format: null, tool_choice: null,
      tools: null, parallel_tool_calls: null, modalities: null, max_completion_tokens: null, audio: null, functions: null,
      function_call: null, prediction: null, reasoning_effort: null, verbosity: null, web_search_options: null,
    };
    const r = await postJson(`${t.url}/v1/chat/completions`, { model: MODEL, messages: [{ role: 'user', content: 'Hi', name: null }], ...nulls });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const c = await postJson(`${t.url}/v1/completions`, { model: MODEL, prompt: 'Hi', max_tokens: 2, suffix: null, echo: null, best_of: null, logprobs: null, user: null });
    expect(c.status, JSON.stringify(c.json)).toBe(200);
  });

  it('what needs a missing feature is a 400 naming the field', async () => {
    const cases: Array<[object[], string]> = [
      [[{ role: 'user', content: 'x' }, { role: 'assistant', content: null, tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{}' } }] }, { role: 'tool', content: 'r', tool_call_id: 'a' }], 'messages[1].tool_calls'],
      [[{ role: 'user', content: 'x' }, { role: 'tool', content: 'r', tool_call_id: 'a' }], 'messages[1].role'],
      [[{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }], 'messages[0].content'],
      [[{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:,' } }] }], 'messages[0].content'],
      [[{ role: 'user', content: 'x' }, { role: 'assistant', content: 'y', audio: { id: 'audio_1' } }, { role: 'user', content: 'z' }], 'messages[1].audio'],
      [[{ role: 'user', content: 'x' }, { role: 'assistant', content: null }, { role: 'user', content: 'z' }], 'messages[1].content'],
      [[{ role: 'user', content: 'x', refusal: 'no' }], 'messages[0].refusal'],
    ];
    for (const [messages, param] of cases) {
      const r = await postJson(`${t.url}/v1/chat/completions`, { model: MODEL, messages, max_tokens: 2 });
      expect(r.status, JSON.stringify(r.json)).toBe(400);
      expect(r.json.error.param, JSON.stringify(r.json)).toBe(param);
    }
  });
});

describe('the Vercel AI SDK (openai-compatible provider)', () => {
  it('four turns with response.messages appended, generated and streamed', async () => {
    const provider = createOpenAICompatible({ name: 'potron', baseURL: `${t.url}/v1`, apiKey: 'unused', includeUsage: true });
    const model = provider.chatModel(MODEL);
    const messages: ModelMessage[] = [];
    const instructions = 'Be brief.'; // AI SDK 7 takes the system prompt here, not in messages
    for (const [i, q] of questions.entries()) {
      messages.push({ role: 'user', content: q });
      if (i % 2 === 0) {
        const r = await generateText({ model, instructions, messages, maxOutputTokens: 8, temperature: 0, maxRetries: 0 });
        expect(r.finishReason).toBe('length');
        messages.push(...r.response.messages);
        if (i > 0) expect(r.usage.cachedInputTokens ?? r.usage.inputTokenDetails?.cacheReadTokens).toBeGreaterThan(10);
      } else {
        const s = streamText({ model, instructions, messages, maxOutputTokens: 8, temperature: 0, maxRetries: 0 });
        let text = '';
        for await (const part of s.textStream) text += part;
        expect(text.length).toBeGreaterThan(0);
        messages.push(...(await s.response).messages);
      }
    }
    expect(messages.filter((m) => m.role === 'assistant')).toHaveLength(4);
  });
});

describe('LangChain (ChatOpenAI)', () => {
  it('four turns with the AIMessage appended to the history', async () => {
    const llm = new ChatOpenAI({ model: MODEL, apiKey: 'unused', configuration: { baseURL: `${t.url}/v1` }, maxTokens: 8, temperature: 0, maxRetries: 0 });
    const history: BaseMessage[] = [new SystemMessage('Be brief.')];
    for (const q of questions) {
      history.push(new HumanMessage(q));
      const reply = await llm.invoke(history);
      expect(reply).toBeInstanceOf(AIMessage);
      history.push(reply);
    }
    const last = history.at(-1) as AIMessage;
    expect(last.usage_metadata?.input_token_details?.cache_read).toBeGreaterThan(10);
    // streamed: the chunks concatenated are an AIMessageChunk that goes back the same way
    history.push(new HumanMessage('Once more, streamed.'));
    let acc: AIMessage | undefined;
    for await (const chunk of await llm.stream(history)) acc = acc ? (acc as never as { concat(c: unknown): AIMessage }).concat(chunk) : chunk;
    history.push(acc!);
    history.push(new HumanMessage('Last one.'));
    const final = await llm.invoke(history);
    expect(typeof final.content).toBe('string');
  });
});
