// Clients that misbehave, slowly or on purpose: a body trickled byte by byte, huge stop lists and
// logit_bias maps, a stream that stays silent through a long prefill.
import net from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { gemma3VocabModel } from './helpers/models.js';
import { postJson, startTestServer, type TestServer } from './helpers/server.js';

const MODEL = 'm';

/** Sends the headers and part of a body, then nothing: resolves with the status line the server answers, if any. */
function trickle(url: string, sent: string, declared: number): { socket: net.Socket; answer: Promise<string> } {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\ncontent-length: ${declared}\r\n\r\n${sent}`);
  const answer = new Promise<string>((resolve) => {
    let got = '';
    socket.on('data', (d) => (got += d.toString()));
    socket.on('close', () => resolve(got.split('\r\n')[0] ?? ''));
    socket.on('error', () => resolve(got.split('\r\n')[0] ?? ''));
  });
  return { socket, answer };
}

describe('slow bodies', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(gemma3VocabModel, { contextSize: 256, parallel: 2 }, { modelId: MODEL, bodyTimeoutMs: 400 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('a body that never finishes gets a 408 and never becomes a request in flight', async () => {
    const { socket, answer } = trickle(t.url, '{"model": "m", "mess', 200);
    // while the body is missing the request is not admitted
    await new Promise((r) => setTimeout(r, 100));
    expect(t.server.inFlight).toBe(0);
    expect(await answer).toBe('HTTP/1.1 408 Request Timeout');
    socket.destroy();
    const ok = await postJson(`${t.url}/v1/chat/completions`, { model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 });
    expect(ok.status).toBe(200);
  });

  it('a body that arrives in pieces is read whole; a client that hangs up half-way leaves nothing behind', async () => {
    const body = JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 });
    const { socket, answer } = trickle(t.url, body.slice(0, 10), Buffer.byteLength(body));
    for (const piece of [body.slice(10, 30), body.slice(30)]) {
      await new Promise((r) => setTimeout(r, 30));
      socket.write(piece);
    }
    await new Promise((r) => socket.once('data', r)); // the answer; the connection stays open (keep-alive)
    socket.end();
    expect(await answer).toBe('HTTP/1.1 200 OK');

    const half = trickle(t.url, body.slice(0, 20), Buffer.byteLength(body));
    await new Promise((r) => setTimeout(r, 50));
    half.socket.destroy();
    expect(await half.answer).toBe('');
    expect(t.server.inFlight).toBe(0);
    const ok = await postJson(`${t.url}/v1/chat/completions`, JSON.parse(body));
    expect(ok.status).toBe(200);
  });

  it('does not hold back a shutdown: close() returns with nothing aborted while a client is still trickling', async () => {
    const other = await startTestServer(gemma3VocabModel, { contextSize: 256, parallel: 2 }, { modelId: MODEL, bodyTimeoutMs: 60_000 });
    const { socket, answer } = trickle(other.url, '{"model"', 500);
    await new Promise((r) => setTimeout(r, 50));
    expect(other.server.inFlight).toBe(0);
    // a 60 s body deadline, a 100 ms shutdown deadline: shutdown wins, and aborts no request
    expect(await other.server.close(100)).toBe(0);
    await answer; // the connection was closed under the trickling client
    socket.destroy();
  });
});

describe('bounds on what a request may ask', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(gemma3VocabModel, { contextSize: 1024, parallel: 2, stepTokens: 16 }, { modelId: MODEL, sseKeepAliveMs: 1 });
  });
  afterAll(async () => {
    await t?.close();
  });
  const hi = [{ role: 'user', content: 'Hi' }];

  it('stop strings: at most 16 of at most 256 characters; logit_bias: at most 1024 tokens', async () => {
    const post = (extra: object) => postJson(`${t.url}/v1/chat/completions`, { model: MODEL, messages: hi, max_tokens: 2, ...extra });
    for (const [extra, param] of [
      [{ stop: 'x'.repeat(257) }, 'stop'],
      [{ stop: Array.from({ length: 17 }, (_, i) => `s${i}`) }, 'stop'],
      [{ logit_bias: Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [String(i), 1])) }, 'logit_bias'],
    ] as const) {
      const r = await post(extra);
      expect(r.status, JSON.stringify(r.json).slice(0, 300)).toBe(400);
      expect(r.json.error.param).toBe(param);
    }
    // at the bounds: answered
    expect((await post({ stop: ['x'.repeat(256), ...Array.from({ length: 15 }, (_, i) => `s${i}`)] })).status).toBe(200);
    expect((await post({ logit_bias: Object.fromEntries(Array.from({ length: 1024 }, (_, i) => [String(i), 1])) })).status).toBe(200);
  });

  it('a stream silent through a long prefill carries keep-alive comments, which the openai SDK skips', async () => {
    const long = 'the lighthouse keeper counts the ships '.repeat(60); // ~500 tokens, prefilled 16 at a time
    const res = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: long }], max_tokens: 3, stream: true }),
    });
    const text = await res.text();
    const blocks = text.split('\n\n').filter(Boolean);
    // the role chunk goes out at once; the prefill that follows is bridged by comments
    const firstContent = blocks.findIndex((b) => b.includes('"content":"') && !b.includes('"content":""'));
    expect(blocks.slice(1, firstContent === -1 ? undefined : firstContent)).toContain(': keep-alive');
    for (const b of blocks) expect(b.startsWith('data: ') || b === ': keep-alive', b).toBe(true);
    expect(blocks.at(-1)).toBe('data: [DONE]');
    let content = '';
    const stream = await t.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: long }], max_tokens: 3, stream: true });
    for await (const chunk of stream) content += chunk.choices[0]?.delta.content ?? '';
    expect(typeof content).toBe('string');
  });
});

describe('prompt work once per request, checks first', () => {
  let t: TestServer;
  let encodes = 0;
  beforeAll(async () => {
    t = await startTestServer(gemma3VocabModel, { contextSize: 512, parallel: 4 }, { modelId: MODEL });
    const tok = t.model.tokenizer as { encode: (...a: unknown[]) => Promise<number[]> };
    const encode = tok.encode.bind(tok);
    tok.encode = (...a: unknown[]) => {
      encodes++;
      return encode(...a);
    };
  });
  afterAll(async () => {
    await t?.close();
  });

  it('n = 4 renders and tokenizes the prompt once', async () => {
    encodes = 0;
    const r = await t.client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hello there' }], n: 4, max_tokens: 2, seed: 1 });
    expect(r.choices).toHaveLength(4);
    expect(encodes).toBe(1);
    encodes = 0;
    const c = await t.client.completions.create({ model: MODEL, prompt: ['one', 'two'], n: 3, max_tokens: 2 });
    expect(c.choices).toHaveLength(6);
    expect(encodes).toBe(2); // once per prompt
  });

  it('a 3 MB prompt with n = 16 is refused without tokenizing; bad options are found before the prompt is touched', async () => {
    encodes = 0;
    const huge = 'lighthouse '.repeat(300_000);
    const big = await postJson(`${t.url}/v1/chat/completions`, { model: MODEL, messages: [{ role: 'user', content: huge }], n: 16, max_tokens: 2 });
    expect(big.status).toBe(400);
    expect(big.json.error.code).toBe('context_length_exceeded');
    const bad = await postJson(`${t.url}/v1/completions`, { model: MODEL, prompt: huge, top_k: -1 });
    expect(bad.status).toBe(400);
    expect(bad.json.error.param).toBe('top_k');
    const badStop = await t.model.complete(huge, { stop: [''] }).catch((e: { param?: string }) => e.param);
    expect(badStop).toBe('stop');
    expect(encodes).toBe(0);
  });
});

describe('slow headers', () => {
  it('a client that never finishes its headers gets a 408 and its connection closed', async () => {
    const t = await startTestServer(gemma3VocabModel, { contextSize: 256, parallel: 1 }, { modelId: MODEL, headersTimeoutMs: 200 });
    try {
      const { hostname, port } = new URL(t.url);
      const socket = net.connect(Number(port), hostname);
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: appl`);
      const answer = await new Promise<string>((resolve) => {
        let got = '';
        socket.on('data', (d) => (got += d.toString()));
        socket.on('close', () => resolve(got));
      });
      expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 408 Request Timeout');
      expect(t.server.inFlight).toBe(0);
    } finally {
      await t.close();
    }
  });
});
