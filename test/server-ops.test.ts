// What operators rely on: cancelling work when clients leave, API keys, CORS, body limits, a full
// queue, internal errors that leak nothing, readiness while loading, graceful shutdown (in-process
// and as `predict-otron serve` receiving SIGTERM).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import readline from 'node:readline';

import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadModel, type LanguageModel } from '../src/engine/language-model.js';
import { createApp } from '../src/server/app.js';
import { startServer } from '../src/server/start.js';
import { root, testTokens, tinyModel } from './helpers/models.js';
import { postJson, postThenDisconnect, startTestServer, type TestServer, waitFor } from './helpers/server.js';

const tiny = tinyModel('gemma3', 'q8_0');
// token ids that are neither special nor end tokens; the end tokens banned so runs go on
const prompt = (n: number, salt = 0) => testTokens(n, 384, salt);
const noEnd = { 1: -100, 5: -100, 106: -100 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a client that leaves cancels its work at once', () => {
  let t: TestServer;
  beforeAll(async () => {
    // one slot, 8 tokens per step: a long prompt spans many steps, a second request waits
    t = await startTestServer(tiny, { contextSize: 4096, parallel: 1, maxQueue: 4, stepTokens: 8 }, { modelId: 'tiny' });
  });
  afterAll(async () => {
    await t?.close();
  });
  const url = () => `${t.url}/v1/completions`;
  const long = (extra: object = {}) => ({ model: 'tiny', prompt: prompt(12), max_tokens: 3000, seed: 1, logit_bias: noEnd, ...extra });

  /** After a disconnect: the slot frees within a moment and no more tokens are generated. */
  async function expectStopped(tokensAtDisconnect: number): Promise<void> {
    await waitFor(() => t.model.stats().active === 0 && t.model.stats().queued === 0, 'the work to stop', 2000);
    const after = t.model.stats().generatedTokens;
    await sleep(100);
    expect(t.model.stats().generatedTokens).toBe(after);
    expect(after - tokensAtDisconnect).toBeLessThan(50);
  }

  it('while streaming', async () => {
    const before = t.model.stats().generatedTokens;
    const { sawBytes } = await postThenDisconnect(url(), long({ stream: true }), () => t.model.stats().generatedTokens > before + 20);
    expect(sawBytes).toBeGreaterThan(0);
    await expectStopped(before + 20);
  });

  it('a non-stream request whose socket closes', async () => {
    const before = t.model.stats().generatedTokens;
    await postThenDisconnect(url(), long(), () => t.model.stats().generatedTokens > before + 20);
    await expectStopped(before + 20);
  });

  it('while prefilling a long prompt', async () => {
    const before = t.model.stats().generatedTokens;
    const promptBefore = t.model.stats().promptTokens;
    await postThenDisconnect(url(), long({ prompt: prompt(2000, 3) }), () => t.model.stats().promptTokens > promptBefore);
    await expectStopped(before);
    expect(t.model.stats().generatedTokens).toBe(before); // it never got to generate
  });

  it('while queued; the request ahead goes on, and the next one succeeds', async () => {
    const ahead = new AbortController();
    const running = fetch(url(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(long({ max_tokens: 400 })), signal: ahead.signal });
    await waitFor(() => t.model.stats().active === 1, 'the first request to run');
    await postThenDisconnect(url(), long({ prompt: prompt(12, 5) }), () => t.model.stats().queued === 1);
    await waitFor(() => t.model.stats().queued === 0, 'the queued request to leave', 2000);
    expect(t.model.stats().active).toBe(1);
    const res = await running;
    expect((await res.json()).usage.completion_tokens).toBe(400);
    const next = await t.client.completions.create({ model: 'tiny', prompt: prompt(5), max_tokens: 5 });
    expect(next.usage!.completion_tokens).toBeGreaterThan(0);
  });
});

describe('API keys, CORS, body limit', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer(tiny, { contextSize: 256, parallel: 2 }, {
      modelId: 'tiny', apiKeys: ['key-one', 'key-two'], corsOrigins: ['https://app.example'], bodyLimit: 4096,
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('401 without a key or with a wrong one; either key works; probes and metrics need none', async () => {
    const r = await postJson(`${t.url}/v1/chat/completions`, { model: 'tiny', messages: [{ role: 'user', content: 'x' }] });
    expect(r.status).toBe(401);
    expect(r.json.error).toMatchObject({ code: 'missing_api_key', type: 'authentication_error' });
    const wrong = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'key-three', maxRetries: 0 });
    const err = await wrong.models.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(err).toMatchObject({ status: 401, code: 'invalid_api_key' });
    expect(JSON.stringify((err as OpenAI.APIError).error)).not.toContain('key-three');
    const two = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'key-two', maxRetries: 0 });
    expect((await two.models.list()).data[0]!.id).toBe('tiny');
    expect((await t.client.completions.create({ model: 'tiny', prompt: prompt(4), max_tokens: 2 })).choices).toHaveLength(1);
    for (const p of ['/health', '/ready', '/metrics']) expect((await fetch(t.url + p)).status).toBe(200);
  });

  it('CORS: the allowed origin gets the headers (preflight needs no key); others get none', async () => {
    const pre = await fetch(`${t.url}/v1/chat/completions`, { method: 'OPTIONS', headers: {
      origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(pre.headers.get('access-control-allow-methods')).toContain('POST');
    expect(pre.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    const other = await fetch(`${t.url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const ok = await postJson(`${t.url}/v1/completions`, { model: 'tiny', prompt: prompt(4), max_tokens: 2 }, { origin: 'https://app.example', authorization: 'Bearer key-one' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
    // an error answer carries them too, so the page can read it
    const denied = await postJson(`${t.url}/v1/completions`, {}, { origin: 'https://app.example' });
    expect(denied.status).toBe(401);
    expect(denied.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const evil = await postJson(`${t.url}/v1/completions`, { model: 'tiny', prompt: prompt(4), max_tokens: 2 }, { origin: 'https://evil.example', authorization: 'Bearer key-one' });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('413 past the body limit, declared or chunked; the server keeps serving', async () => {
    const big = { model: 'tiny', prompt: 'x'.repeat(10_000) };
    const r = await postJson(`${t.url}/v1/completions`, big, { authorization: 'Bearer key-one' });
    expect(r.status).toBe(413);
    expect(r.json.error).toMatchObject({ code: 'request_too_large', type: 'invalid_request_error' });
    const err = await t.client.completions.create(big).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 413 });
    // no Content-Length: the bytes are counted as they arrive
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const u = new URL(`${t.url}/v1/completions`);
      const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST',
        headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', authorization: 'Bearer key-one' } }, (res) => {
        let body = '';
        res.on('data', (b: Buffer) => (body += b));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      const data = JSON.stringify(big);
      for (let i = 0; i < data.length; i += 1000) req.write(data.slice(i, i + 1000));
      req.end();
    });
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body).error.code).toBe('request_too_large');
    expect((await t.client.completions.create({ model: 'tiny', prompt: prompt(4), max_tokens: 2 })).choices).toHaveLength(1);
  });
});

describe('a full queue, internal errors, readiness while loading', () => {
  let model: LanguageModel;
  beforeAll(async () => {
    model = await loadModel(tiny, { contextSize: 512, parallel: 1, maxQueue: 0 });
  });
  afterAll(async () => {
    await model?.close();
  });

  it('429 with Retry-After when the queue is full', async () => {
    const s = await startServer({ model, port: 0, logger: false, modelId: 'tiny', closeModel: false });
    try {
      const ahead = new AbortController();
      const running = fetch(`${s.url}/v1/completions`, { method: 'POST', signal: ahead.signal,
        body: JSON.stringify({ model: 'tiny', prompt: prompt(8), max_tokens: 400, logit_bias: noEnd }) });
      await waitFor(() => model.stats().active === 1, 'the first request to run');
      const r = await postJson(`${s.url}/v1/completions`, { model: 'tiny', prompt: prompt(8), max_tokens: 4 });
      expect(r.status).toBe(429);
      expect(r.headers.get('retry-after')).toBe('1');
      expect(r.json.error).toMatchObject({ type: 'rate_limit_error', code: 'queue_full' });
      const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'x', maxRetries: 0 });
      await expect(client.completions.create({ model: 'tiny', prompt: prompt(8), max_tokens: 4 })).rejects.toBeInstanceOf(OpenAI.RateLimitError);
      expect((await (await running).json()).usage.completion_tokens).toBe(400);
    } finally {
      await s.close();
    }
  });

  it('500 says nothing about the internals; the next request is served', async () => {
    // the real model, whose start() fails the way a bug would (a plain Error with a path in it)
    let fail = true;
    const broken = Object.create(model, {
      startPrepared: { value: (...args: Parameters<LanguageModel['startPrepared']>) => {
        if (fail) return Promise.reject(new TypeError('cannot read x of undefined at /srv/secret/engine.js:12'));
        return model.startPrepared(...args);
      } },
    }) as LanguageModel;
    const logged: string[] = [];
    const { pino } = await import('pino');
    const logger = pino({ level: 'error' }, { write: (s: string) => void logged.push(s) });
    const s = await startServer({ model: broken, port: 0, logger, modelId: 'tiny', closeModel: false });
    try {
      const r = await postJson(`${s.url}/v1/completions`, { model: 'tiny', prompt: prompt(8), max_tokens: 2 }, { 'x-request-id': 'req-42' });
      expect(r.status).toBe(500);
      expect(r.json.error).toMatchObject({ type: 'server_error', code: 'internal_error', param: null });
      expect(r.json.error.message).toContain('req-42');
      expect(r.text).not.toMatch(/secret|undefined|TypeError|engine\.js/);
      expect(r.headers.get('x-request-id')).toBe('req-42');
      // the log has what an operator needs
      expect(logged.join('')).toContain('/srv/secret/engine.js');
      fail = false;
      expect((await postJson(`${s.url}/v1/completions`, { model: 'tiny', prompt: prompt(8), max_tokens: 2 })).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('createApp mounted under a prefix in another Hono app, served by the host service', async () => {
    const llm = createApp({ model, modelId: 'tiny', logger: false });
    const host = new Hono();
    host.get('/', (c) => c.text('the host service'));
    host.route('/llm', llm.app);
    const srv = serve({ fetch: host.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((r) => srv.once('listening', r));
    const base = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
    try {
      expect(await (await fetch(base)).text()).toBe('the host service');
      const client = new OpenAI({ baseURL: `${base}/llm/v1`, apiKey: 'x', maxRetries: 0 });
      const r = await client.completions.create({ model: 'tiny', prompt: prompt(6), max_tokens: 3 });
      expect(r.usage!.completion_tokens).toBeGreaterThan(0);
      const metrics = await (await fetch(`${base}/llm/metrics`)).text();
      expect(metrics).toMatch(/predict_otron_http_requests_total\{route="\/v1\/completions",method="POST",status="200"\} 1/);
      expect(await llm.drain(1000)).toBe(0);
      expect((await fetch(`${base}/llm/v1/models`)).status).toBe(503);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });

  it('/health answers while the model loads; /ready and the API say 503 until it is loaded', async () => {
    let resolve!: (m: LanguageModel) => void;
    const pending = new Promise<LanguageModel>((r) => (resolve = r));
    const s = await startServer({ model: pending, port: 0, logger: false, modelId: 'tiny', closeModel: false });
    try {
      expect((await fetch(`${s.url}/health`)).status).toBe(200);
      const ready = await fetch(`${s.url}/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ status: 'loading' });
      const r = await postJson(`${s.url}/v1/completions`, { model: 'tiny', prompt: 'x' });
      expect(r.status).toBe(503);
      expect(r.json.error.code).toBe('unavailable');
      resolve(model);
      await sleep(0);
      expect((await fetch(`${s.url}/ready`)).status).toBe(200);
      expect((await postJson(`${s.url}/v1/completions`, { model: 'tiny', prompt: prompt(4), max_tokens: 2 })).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});

describe('graceful shutdown', () => {
  it('in-process: in-flight requests finish, new ones are refused, the model is closed; past the deadline they are aborted', async () => {
    const model = await loadModel(tiny, { contextSize: 2048, parallel: 2 });
    const s = await startServer({ model, port: 0, logger: false, modelId: 'tiny' });
    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const stream = await client.completions.create({ model: 'tiny', prompt: prompt(8), max_tokens: 300, logit_bias: noEnd, stream: true });
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    const closing = s.close(30_000);
    expect(s.state).toBe('draining');
    expect((await fetch(`${s.url}/ready`).catch(() => null))?.status ?? 'refused').not.toBe(200);
    let finish: string | null = null;
    for (let r = await it.next(); !r.done; r = await it.next()) finish = r.value.choices[0]?.finish_reason ?? finish;
    expect(finish).toBe('length');
    expect(await closing).toBe(0);
    expect(model.closed).toBe(true);
    await expect(fetch(`${s.url}/health`)).rejects.toThrow();

    // a deadline shorter than the work: the stream ends with an error event and is counted
    const m2 = await loadModel(tiny, { contextSize: 4096, parallel: 1 });
    const s2 = await startServer({ model: m2, port: 0, logger: false, modelId: 'tiny' });
    const c2 = new OpenAI({ baseURL: `${s2.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const long = await c2.completions.create({ model: 'tiny', prompt: prompt(8), max_tokens: 4000, logit_bias: noEnd, stream: true });
    const it2 = long[Symbol.asyncIterator]();
    await it2.next();
    const aborted = s2.close(100);
    const err = await (async () => {
      for (let r = await it2.next(); !r.done; r = await it2.next());
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(String((err as Error).message)).toMatch(/shutting down/);
    expect(await aborted).toBe(1);
  });

  it('predict-otron serve: a bad flag or a model that cannot load exits 1 with a message', async () => {
    const bin = path.join(root, 'bin', 'predict-otron.js');
    const run = (args: string[]) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, 'serve', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    const bad = await run(['--port', 'eighty']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("--port must be an integer >= 0, not 'eighty'");
    const missing = await run(['--model', path.join(root, 'test', '.models', 'no-such-model.gguf'), '--port', '0']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/predict-otron serve: .*no-such-model\.gguf/);
  });

  it('predict-otron serve on SIGTERM: the request in flight completes, new ones are refused, exit 0', async () => {
    const bin = path.join(root, 'bin', 'predict-otron.js');
    if (!fs.existsSync(path.join(root, 'dist', 'cli', 'serve.js'))) throw new Error('dist/ is not built: run `npm run build:ts` (npm test does)');
    const child = spawn(process.execPath, [bin, 'serve', '--model', tiny, '--port', '0', '--ctx', '4096', '--parallel', '2', '--threads', '1'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PREDICT_OTRON_MODEL_ID: 'tiny' } });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    const lines: Record<string, unknown>[] = [];
    const waiters: (() => void)[] = [];
    readline.createInterface({ input: child.stdout }).on('line', (l) => {
      lines.push(JSON.parse(l) as Record<string, unknown>);
      for (const w of waiters.splice(0)) w();
    });
    const logged = async (msg: RegExp) => {
      while (!lines.some((l) => msg.test(String(l.msg)))) {
        await Promise.race([new Promise<void>((r) => waiters.push(r)), exited.then(() => {
          throw new Error(`serve exited before logging ${msg}: ${stderr}`);
        })]);
      }
      return lines.find((l) => msg.test(String(l.msg)))!;
    };
    try {
      const port = (await logged(/^listening/)).port as number;
      await logged(/^model ready/);
      const url = `http://127.0.0.1:${port}`;
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
      const stream = await client.completions.create({ model: 'tiny', prompt: prompt(8), max_tokens: 1500, logit_bias: noEnd, stream: true, stream_options: { include_usage: true } });
      const it = stream[Symbol.asyncIterator]();
      await it.next();
      child.kill('SIGTERM');
      await logged(/^SIGTERM/);
      // a new connection is refused while the stream goes on
      const refused = await fetch(`${url}/health`).then((r) => r.status, (e: Error) => (e.cause as { code?: string })?.code ?? e.message);
      expect(refused).toBe('ECONNREFUSED');
      let usage: OpenAI.Completions.CompletionUsage | null | undefined;
      for (let r = await it.next(); !r.done; r = await it.next()) if (!r.value.choices.length) usage = r.value.usage;
      expect(usage!.completion_tokens).toBe(1500);
      expect(await exited).toBe(0);
      expect(lines.find((l) => l.msg === 'stopped')).toMatchObject({ aborted: 0 });
      // no prompt text in the log by default
      expect(JSON.stringify(lines)).not.toContain('"prompt"');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
