// The split topology as an operator runs it, as local processes on loopback: a gateway
// (`serve --role gateway`) in front of two inference replicas and one embeddings service, each a
// real `predict-otron serve` with a tiny model, driven by the openai SDK. What is checked is what
// the replicas themselves report (their /metrics, their logs, the usage they return), never the
// gateway's word for it.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import readline from 'node:readline';

import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseServeConfig } from '../src/cli/serve.js';
import { Replica } from '../src/gateway/pool.js';
import { Router } from '../src/gateway/router.js';
import { prefixKeys } from '../src/gateway/affinity.js';
import { startGateway, type RunningGateway } from '../src/gateway/start.js';
import { encoderModel, rerankerModel, root, tinyModel } from './helpers/models.js';
import { parsePrometheus } from './helpers/server.js';

const bin = path.join(root, 'bin', 'predict-otron.js');
const tiny = tinyModel('gemma3', 'q8_0');
const embedder = encoderModel('bert', { vocab: 'bert', pooling: 'mean' });
const reranker = rerankerModel();
// token ids the tiny model must not end on, so a stream runs as long as asked
const noEnd = { 1: -100, 5: -100, 106: -100 };

interface Proc {
  child: ChildProcess;
  url: string;
  port: number;
  logs: Record<string, unknown>[];
  exited: Promise<number | null>;
}

/** `predict-otron serve ARGS` on a free port; resolves once it listens (and logs its URL). */
async function serve(args: string[], env: Record<string, string> = {}): Promise<Proc> {
  if (!fs.existsSync(path.join(root, 'dist', 'gateway', 'start.js'))) throw new Error('dist/ is not built: run `npm run build:ts` (npm test does)');
  const child = spawn(process.execPath, [bin, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b));
  const logs: Record<string, unknown>[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).on('line', (l) => {
      const rec = JSON.parse(l) as Record<string, unknown>;
      logs.push(rec);
      if (typeof rec.url === 'string') resolve(rec.url);
    });
    void exited.then((code) => reject(new Error(`serve ${args.join(' ')} exited ${code}: ${stderr}`)));
  });
  return { child, url, port: Number(new URL(url).port), logs, exited };
}

async function until(cond: () => Promise<boolean> | boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The sum of a metric's samples whose labels include `labels`. */
async function metric(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return parsePrometheus(text).samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

const generations = (url: string) => metric(url, 'predict_otron_generations_total');

describe('SERVER_CONFIG and serve --role', () => {
  const ha = (services: unknown) => JSON.stringify({ serverMode: 'HighAvailability', services });

  it('reads the original JSON: single URLs, lists, comma lists; Standalone and its "Local" alias', () => {
    const c = parseServeConfig([], { SERVER_CONFIG: ha({ inference_url: 'http://inference:9000', embeddings_url: 'http://embeddings:9001/' }) });
    expect(c).toMatchObject({ role: 'gateway', inference: ['http://inference:9000'], embeddings: ['http://embeddings:9001'], port: 8080 });
    const lists = parseServeConfig([], {
      SERVER_CONFIG: JSON.stringify({ serverMode: 'HighAvailability', serverHost: '0.0.0.0', serverPort: 9090,
        services: { inference_url: ['http://a:8080', 'http://b:8080'], embeddings_url: 'http://e1:8080, http://e2:8080' } }),
    });
    expect(lists).toMatchObject({ role: 'gateway', host: '0.0.0.0', port: 9090, inference: ['http://a:8080', 'http://b:8080'], embeddings: ['http://e1:8080', 'http://e2:8080'] });
    for (const mode of ['Standalone', 'Local']) {
      const s = parseServeConfig(['--model', 'x.gguf'], { SERVER_CONFIG: JSON.stringify({ serverMode: mode }) });
      expect(s).toMatchObject({ role: 'server', model: { ref: 'x.gguf' } });
    }
    // flags win over the environment, which wins over SERVER_CONFIG
    const flagged = parseServeConfig(['--inference', 'http://flag:1'], { SERVER_CONFIG: ha({ inference_url: 'http://json:1', embeddings_url: 'http://json:2' }), PREDICT_OTRON_PORT: '7000' });
    expect(flagged).toMatchObject({ role: 'gateway', inference: ['http://flag:1'], embeddings: ['http://json:2'], port: 7000 });
    // Kubernetes' service link for a Service named predict-otron is not our port
    expect(parseServeConfig([], { PREDICT_OTRON_PORT: 'tcp://10.0.0.1:80', PREDICT_OTRON_EMBEDDING_MODEL: 'bge' })).toMatchObject({ port: 8080 });
  });

  it('a malformed or incomplete SERVER_CONFIG is a clear error naming what to fix', () => {
    const err = (env: Record<string, string>, argv: string[] = []) => {
      try {
        parseServeConfig(argv, env);
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error('no error');
    };
    expect(err({ SERVER_CONFIG: '{serverMode: HighAvailability}' })).toMatch(/SERVER_CONFIG is not valid JSON/);
    expect(err({ SERVER_CONFIG: '[]' })).toMatch(/must be a JSON object/);
    expect(err({ SERVER_CONFIG: '{"serverMode":"Cluster"}' })).toMatch(/serverMode must be "Standalone" or "HighAvailability", not "Cluster"/);
    expect(err({ SERVER_CONFIG: '{"serverMode":"HighAvailability"}' })).toMatch(/services\.inference_url and services\.embeddings_url are missing/);
    expect(err({ SERVER_CONFIG: ha({ inference_url: 'http://a:1' }) })).toMatch(/services\.embeddings_url is missing/);
    expect(err({ SERVER_CONFIG: ha({ inference_url: 'http://a:1', embeddings_url: 42 }) })).toMatch(/embeddings_url must be a URL or a list of URLs, not 42/);
    expect(err({ SERVER_CONFIG: ha({ inferenceUrl: 'http://a:1' }) })).toMatch(/unknown field "inferenceUrl"/);
    expect(err({ SERVER_CONFIG: JSON.stringify({ serverMode: 'Standalone', serverPort: 70000 }) })).toMatch(/serverPort must be a port number/);
    expect(err({ SERVER_CONFIG: ha({ inference_url: 'ftp://a:1', embeddings_url: 'http://b:1' }) })).toMatch(/'ftp:' is not http or https/);
    // a credential in a URL is refused without being repeated
    const withSecret = err({}, ['--role', 'gateway', '--inference', 'http://user:hunter2@a:1']);
    expect(withSecret).toMatch(/no credentials/);
    expect(withSecret).not.toContain('hunter2');
    expect(err({}, ['--role', 'gateway'])).toMatch(/needs replicas/);
    expect(err({}, ['--role', 'gateway', '--inference', 'http://a:1', '--model', 'x.gguf'])).toMatch(/a gateway serves no model of its own: drop --model/);
    expect(err({}, ['--inference', 'http://a:1'])).toMatch(/--inference is for --role gateway/);
    expect(err({}, ['--role', 'router'])).toMatch(/--role must be server or gateway/);
    expect(err({}, ['--inferenc', 'http://a:1'])).toMatch(/Unknown option '--inferenc'/);
  });

  it('predict-otron serve with a broken SERVER_CONFIG exits 1 with one line, no stack', async () => {
    const child = spawn(process.execPath, [bin, 'serve'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SERVER_CONFIG: '{"serverMode":"HighAvailability","services":{}}' } });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => (stderr += b));
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(1);
    expect(stderr).toMatch(/^predict-otron serve: SERVER_CONFIG is HighAvailability but services\.inference_url and services\.embeddings_url are missing/);
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});

describe('routing decisions', () => {
  const replicas = (...busy: number[]) => busy.map((n, i) => {
    const r = new Replica(`http://r${i}`, 'inference');
    r.state = 'ready';
    r.outstanding = n;
    return r;
  });
  const turn1 = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Name a lighthouse.' }];
  const turn2 = [...turn1, { role: 'assistant', content: 'Eddystone.' }, { role: 'user', content: 'Where is it?' }];
  const keys = (messages: unknown[], model = 'm') => prefixKeys('/v1/chat/completions', { model, messages });

  it('a next turn goes where its prefix is, unless that replica is more than the slack busier', () => {
    const router = new Router(2);
    const [a, b] = replicas(0, 0);
    const first = router.pick([a!, b!], 'm', keys(turn1))!;
    const holder = first.replica, other = holder === a ? b! : a!;
    holder.outstanding = 2; // busier by 2: still within the slack
    expect(router.pick([a!, b!], 'm', keys(turn2))).toEqual({ replica: holder, reason: 'affinity' });
    holder.outstanding = 3; // busier by 3: the least busy takes it
    expect(router.pick([a!, b!], 'm', keys(turn2))).toEqual({ replica: other, reason: 'hash' });
  });

  it('two gateways that share nothing place a conversation alike; conversations spread over the replicas', () => {
    const rs = replicas(0, 0, 0, 0);
    const places = new Set<Replica>();
    for (let i = 0; i < 40; i++) {
      const t1 = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: `question ${i}` }];
      const t2 = [...t1, { role: 'assistant', content: 'yes' }, { role: 'user', content: 'why?' }];
      // turn 1 through one gateway, turn 2 through another that never saw the conversation
      const r1 = new Router(2).pick(rs, 'm', keys(t1))!;
      const r2 = new Router(2).pick(rs, 'm', keys(t2))!;
      expect(r2).toEqual({ replica: r1.replica, reason: 'hash' });
      places.add(r1.replica);
    }
    expect(places.size).toBe(4);
  });

  it('least outstanding first; ties in turn; a model served by some replicas goes to them', () => {
    const router = new Router(2);
    const [a, b, c] = replicas(3, 1, 2);
    expect(router.pick([a!, b!, c!], undefined)!.replica).toBe(b);
    const [x, y] = replicas(0, 0);
    const seen = new Set([0, 1, 2, 3].map(() => router.pick([x!, y!], undefined)!.replica));
    expect(seen.size).toBe(2);
    y!.models = new Set(['only-on-y']);
    x!.outstanding = 0;
    y!.outstanding = 5;
    expect(router.pick([x!, y!], 'only-on-y')!.replica).toBe(y);
  });

  it('prefix keys: a turn extends the previous one and keeps its anchor; another model or conversation does not', () => {
    const k1 = keys(turn1), k2 = keys(turn2);
    expect(k2.keys.slice(0, k1.keys.length)).toEqual(k1.keys);
    expect(k2.anchor).toBe(k1.anchor);
    expect(k1.anchor).toBe(k1.keys[1]); // through the first user message, not the shared system prompt
    expect(keys(turn1, 'other').keys[0]).not.toBe(k1.keys[0]);
    expect(keys([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Name a river.' }]).anchor).not.toBe(k1.anchor);
    const long = 'x'.repeat(1500);
    const c1 = prefixKeys('/v1/completions', { model: 'm', prompt: long });
    const c2 = prefixKeys('/v1/completions', { model: 'm', prompt: long + ' and more' });
    expect(c1.keys.length).toBe(3);
    expect(c2.keys.slice(0, 2)).toEqual(c1.keys.slice(0, 2));
    expect(prefixKeys('/v1/embeddings', { model: 'm', input: 'x' })).toEqual({ keys: [], anchor: null });
  });
});

describe('gateway + 2 inference replicas + 1 embeddings service', () => {
  let a: Proc, b: Proc, e: Proc, g: Proc;
  const KEY = 'sk-replica-key';
  let client: OpenAI;
  const inference = () => [a, b];

  beforeAll(async () => {
    const common = ['--port', '0', '--threads', '1', '--log-level', 'info', '--no-webui'];
    // the inference replicas ask for an API key, the gateway does not: the client's key must be forwarded
    [a, b, e] = await Promise.all([
      serve(['--model', tiny, '--model-id', 'tiny', '--ctx', '4096', '--parallel', '4', '--api-key', KEY, ...common]),
      serve(['--model', tiny, '--model-id', 'tiny', '--ctx', '4096', '--parallel', '4', '--api-key', KEY, ...common]),
      serve(['--embedding-model', `${embedder.gguf}=bge`, '--reranker', `${reranker.gguf}=ranker`, ...common]),
    ]);
    g = await serve(['--role', 'gateway', '--inference', `${a.url},${b.url}`, '--embeddings', e.url, '--probe-interval', '0.1', '--port', '0']);
    client = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: KEY, maxRetries: 0 });
    await until(async () => (await fetch(`${g.url}/ready`)).status === 200, 'the gateway to be ready', 60_000);
  });
  afterAll(async () => {
    for (const p of [g, a, b, e]) p?.child.kill('SIGKILL');
  });

  it('answers the openai SDK for chat, completions, embeddings and rerank; /v1/models lists each model once', async () => {
    const chat = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 });
    expect(chat.choices[0]!.message.role).toBe('assistant');
    expect(chat.usage!.completion_tokens).toBeGreaterThan(0);
    const completion = await client.completions.create({ model: 'tiny', prompt: 'Once', max_tokens: 3 });
    expect(completion.choices[0]!.text.length).toBeGreaterThan(0);
    // the same vectors as the embeddings service gives directly
    const via = await client.embeddings.create({ model: 'bge', input: ['a lighthouse', 'a river'] });
    const direct = await new OpenAI({ baseURL: `${e.url}/v1`, apiKey: 'x', maxRetries: 0 }).embeddings.create({ model: 'bge', input: ['a lighthouse', 'a river'] });
    expect(via.data.map((d) => d.embedding)).toEqual(direct.data.map((d) => d.embedding));
    const rerank = await fetch(`${g.url}/v1/rerank`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'ranker', query: 'lighthouse', documents: ['a tall tower by the sea', 'a recipe'] }) });
    expect(rerank.status).toBe(200);
    expect(((await rerank.json()) as { results: unknown[] }).results).toHaveLength(2);
    const models = await client.models.list();
    expect(models.data.map((m) => m.id).sort()).toEqual(['bge', 'ranker', 'tiny']);
    expect((await client.models.retrieve('bge')).id).toBe('bge');
  });

  it('forwards the API key and X-Request-Id: a wrong key gets the replica\'s 401, the replica logs the same id', async () => {
    const wrong = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
    await expect(wrong.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }))
      .rejects.toMatchObject({ status: 401, code: 'invalid_api_key' });
    const id = `gw-test-${Date.now()}`;
    const { response } = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 },
      { headers: { 'x-request-id': id } }).withResponse();
    expect(response.headers.get('x-request-id')).toBe(id);
    // logs arrive through the processes' pipes a little after the answer
    await until(() => [a, b].some((p) => p.logs.some((l) => l.reqId === id && l.msg === 'request' && l.status === 200)), 'the replica to log the request id');
    await until(() => g.logs.some((l) => l.reqId === id && l.msg === 'request' && l.status === 200), 'the gateway to log the request id');
  });

  it('streams without buffering: the first chunk reaches the client while the replica is still generating', async () => {
    const stream = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'a long story' }], max_tokens: 3000,
      stream: true, logit_bias: noEnd });
    const it = stream[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    // a buffering proxy would hold the first chunk until the replica finished; here the replica
    // reports the generation as running when the client already has it
    const running = (await metric(a.url, 'predict_otron_active_sequences')) + (await metric(b.url, 'predict_otron_active_sequences'));
    expect(running).toBe(1);
    stream.controller.abort();
    // for the record (not asserted: tests do not judge wall-clock time): time to first chunk, direct and through the gateway
    const ttft = async (base: string) => {
      const c = new OpenAI({ baseURL: `${base}/v1`, apiKey: KEY, maxRetries: 0 });
      const t0 = performance.now();
      const s = await c.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8, stream: true });
      for await (const _ of s) break;
      return performance.now() - t0;
    };
    const direct = await ttft(a.url), via = await ttft(g.url);
    console.log(`time to first chunk: direct ${direct.toFixed(1)} ms, through the gateway ${via.toFixed(1)} ms`);
  });

  it('a client that goes away cancels the generation on the replica', async () => {
    const id = `gw-cancel-${Date.now()}`;
    const stream = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'go on forever' }], max_tokens: 3000,
      stream: true, logit_bias: noEnd }, { headers: { 'x-request-id': id } });
    for await (const _ of stream) break; // one chunk, then leave
    // the replica that ran it logs it as cancelled by its client (499) long before 3,000 tokens
    await until(() => [a, b].some((p) => p.logs.some((l) => l.reqId === id && l.msg === 'request' && l.status === 499)),
      'the replica to log the request as cancelled (499)');
    const replica = [a, b].find((p) => p.logs.some((l) => l.reqId === id && l.status === 499))!;
    await until(async () => (await metric(replica.url, 'predict_otron_active_sequences')) === 0, 'the replica to stop generating');
  });

  it('spreads concurrent requests over both replicas', async () => {
    // earlier tests' cancelled streams settle first, so the counts below are this test's alone
    await until(async () => (await metric(a.url, 'predict_otron_active_sequences')) + (await metric(b.url, 'predict_otron_active_sequences')) === 0, 'idle replicas');
    const before = await Promise.all(inference().map((p) => generations(p.url)));
    await Promise.all(Array.from({ length: 8 }, (_, i) => client.chat.completions.create({
      model: 'tiny', messages: [{ role: 'user', content: `question number ${i} about ${'abcdefgh'[i]}` }], max_tokens: 24, logit_bias: noEnd,
    })));
    const after = await Promise.all(inference().map((p) => generations(p.url)));
    const served = after.map((n, i) => n - before[i]!);
    expect(served[0]! + served[1]!).toBe(8);
    expect(Math.min(...served)).toBeGreaterThanOrEqual(2);
  });

  it('sends a conversation\'s next turn to the replica that holds its prefix (its cached tokens show it)', async () => {
    // one after another, so least-busy routing alone would alternate replicas and lose the cache every time
    for (let i = 0; i < 4; i++) {
      const messages: OpenAI.ChatCompletionMessageParam[] = [
        { role: 'system', content: `You are assistant ${i}. ${'Answer with care. '.repeat(20)}` },
        { role: 'user', content: `Conversation ${i}: tell me about the sea.` },
      ];
      const t1 = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 6, logit_bias: noEnd });
      messages.push({ role: 'assistant', content: t1.choices[0]!.message.content }, { role: 'user', content: 'And then?' });
      const t2 = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 6 });
      // the replica reused at least turn 1's prompt, which only the replica that ran turn 1 holds
      expect(t2.usage!.prompt_tokens_details!.cached_tokens).toBeGreaterThanOrEqual(t1.usage!.prompt_tokens - 1);
    }
    expect(await metric(g.url, 'predict_otron_gateway_routing_decisions_total', { reason: 'affinity' })).toBeGreaterThanOrEqual(4);
  });

  it('a replica killed mid-stream: that stream ends with an error event, new requests go to the survivor, it is re-admitted when back', async () => {
    const stream = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'a very long answer' }], max_tokens: 3000,
      stream: true, logit_bias: noEnd });
    const it = stream[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    const victim = (await metric(a.url, 'predict_otron_active_sequences')) === 1 ? a : b;
    const survivor = victim === a ? b : a;
    victim.child.kill('SIGKILL');
    await victim.exited;
    // the SDK raises the OpenAI error event as an APIError; the stream does not hang
    const drained = (async () => {
      for (;;) if ((await it.next()).done) return 'ended without error';
    })();
    await expect(drained).rejects.toThrow(/the replica generating this stream went away/);

    const before = await generations(survivor.url);
    for (let i = 0; i < 3; i++) {
      const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: `after the crash ${i}` }], max_tokens: 3 });
      expect(r.choices[0]!.finish_reason).toBeDefined();
    }
    expect((await generations(survivor.url)) - before).toBe(3);
    const ready = (await (await fetch(`${g.url}/ready`)).json()) as { status: string; replicas: { url: string; status: string }[] };
    expect(ready.status).toBe('ready'); // one inference replica is enough
    expect(ready.replicas.find((r) => r.url === victim.url)!.status).toBe('down');
    expect(await metric(g.url, 'predict_otron_gateway_stream_cuts_total')).toBe(1);

    // the replica comes back on its address: probed, admitted, and given work again
    const back = await serve(['--model', tiny, '--model-id', 'tiny', '--ctx', '4096', '--parallel', '4', '--api-key', KEY, '--port', String(victim.port), '--threads', '1', '--no-webui']);
    if (victim === a) a = back;
    else b = back;
    await until(async () => {
      const r = (await (await fetch(`${g.url}/ready`)).json()) as { replicas: { url: string; status: string }[] };
      return r.replicas.every((x) => x.status === 'ready');
    }, 'the gateway to re-admit the replica');
    await Promise.all(Array.from({ length: 4 }, (_, i) => client.chat.completions.create({
      model: 'tiny', messages: [{ role: 'user', content: `back ${i}` }], max_tokens: 16, logit_bias: noEnd })));
    expect(await generations(back.url)).toBeGreaterThan(0);
  });

  it('every replica down: /ready and requests answer 503 with an OpenAI error, nothing hangs', async () => {
    for (const p of [a, b, e]) p.child.kill('SIGKILL');
    await Promise.all([a, b, e].map((p) => p.exited));
    // /ready turns 503 as soon as one kind has no replica (the embeddings service alone may be
    // seen first), so wait until the probes have marked every replica down
    await until(async () => {
      const res = await fetch(`${g.url}/ready`);
      const body = (await res.json()) as { replicas: { status: string }[] };
      return res.status === 503 && body.replicas.every((r) => r.status === 'down');
    }, 'the gateway to see every replica down');
    await expect(client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'anyone?' }], max_tokens: 2 }))
      .rejects.toMatchObject({ status: 503, code: 'no_healthy_replica' });
    await expect(client.embeddings.create({ model: 'bge', input: 'x' })).rejects.toMatchObject({ status: 503, code: 'no_healthy_replica' });
    expect((await fetch(`${g.url}/health`)).status).toBe(200);
    // SIGTERM: the gateway drains and exits 0
    g.child.kill('SIGTERM');
    expect(await g.exited).toBe(0);
  });
});

describe('retry before the first byte', () => {
  let good: Proc;
  let gateway: RunningGateway;
  let broken: http.Server;
  let brokenHits = 0;

  beforeAll(async () => {
    good = await serve(['--model', tiny, '--model-id', 'tiny', '--ctx', '2048', '--port', '0', '--threads', '1', '--no-webui']);
    await until(async () => (await fetch(`${good.url}/ready`)).status === 200, 'the replica to load its model');
    // a replica that passes its probe but drops every request's connection, as one does when it
    // crashes between a probe and a request
    broken = http.createServer((req, res) => {
      if (req.url === '/ready') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ready","models":[{"id":"tiny","status":"ready"}]}');
      brokenHits++;
      req.socket.destroy();
    });
    await new Promise<void>((r) => broken.listen(0, '127.0.0.1', r));
    const brokenUrl = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
    // probes rarely, so the broken one stays in until a request finds it out
    gateway = await startGateway({ inference: [brokenUrl, good.url], port: 0, probeIntervalMs: 60_000, logger: false, webui: false });
  });
  afterAll(async () => {
    await gateway?.close(0);
    broken?.close();
    good?.child.kill('SIGKILL');
  });

  it('a request whose replica drops the connection is sent once to another and succeeds; the dropped one is ejected', async () => {
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const ask = async (i: number) => {
      const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: `try ${i}` }], max_tokens: 2 });
      expect(r.object).toBe('chat.completion');
    };
    // each new conversation goes where its first message hashes (the ports are random), so send
    // new ones until one lands on the broken replica: each does so with even odds
    let sent = 0;
    while (brokenHits === 0 && sent < 40) await ask(sent++);
    expect(brokenHits).toBe(1);
    for (let i = 0; i < 4; i++) await ask(sent++); // it stays ejected until a probe passes again
    expect(brokenHits).toBe(1);
    expect(await metric(gateway.url, 'predict_otron_gateway_retries_total')).toBe(1);
    expect(await generations(good.url)).toBe(sent);
  });
});

describe('bad requests at the gateway', () => {
  let replica: Proc;
  let gateway: RunningGateway;
  beforeAll(async () => {
    replica = await serve(['--model', tiny, '--model-id', 'tiny', '--ctx', '2048', '--port', '0', '--threads', '1', '--no-webui']);
    await until(async () => (await fetch(`${replica.url}/ready`)).status === 200, 'the replica to load its model');
    gateway = await startGateway({ inference: [replica.url], port: 0, logger: false, webui: false, bodyLimit: 4096 });
  });
  afterAll(async () => {
    await gateway?.close(0);
    replica?.child.kill('SIGKILL');
  });

  it('get OpenAI-shaped errors from the gateway itself, and nothing reaches the replica', async () => {
    const post = (path: string, body: string) => fetch(`${gateway.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const before = await metric(replica.url, 'predict_otron_http_requests_total', { route: '/v1/chat/completions' });
    const broken = await post('/v1/chat/completions', '{"model": "tiny", "messages": [');
    expect(broken.status).toBe(400);
    expect(await broken.json()).toMatchObject({ error: { type: 'invalid_request_error', code: 'invalid_json' } });
    const big = await post('/v1/chat/completions', JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'x'.repeat(5000) }] }));
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ error: { code: 'request_too_large' } });
    // this gateway has no embeddings replicas
    const emb = await post('/v1/embeddings', JSON.stringify({ model: 'e', input: 'x' }));
    expect(emb.status).toBe(404);
    expect(await emb.json()).toMatchObject({ error: { code: 'unknown_url' } });
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'x', maxRetries: 0 });
    await expect(client.models.retrieve('no-such-model')).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
    expect(await metric(replica.url, 'predict_otron_http_requests_total', { route: '/v1/chat/completions' })).toBe(before);
    // a request the replica refuses comes back as the replica said it
    await expect(client.chat.completions.create({ model: 'tiny', messages: [{ role: 'wizard' as 'user', content: 'x' }] }))
      .rejects.toMatchObject({ status: 400, param: 'messages[0].role' });
  });
});

describe('gateway shutdown', () => {
  let replica: Proc;
  beforeAll(async () => {
    replica = await serve(['--model', tiny, '--model-id', 'tiny', '--ctx', '2048', '--port', '0', '--threads', '1', '--no-webui']);
    await until(async () => (await fetch(`${replica.url}/ready`)).status === 200, 'the replica to load its model');
  });
  afterAll(() => {
    replica?.child.kill('SIGKILL');
  });

  it('drains: a stream in flight runs to its end while new connections are refused, nothing aborted', async () => {
    const gateway = await startGateway({ inference: [replica.url], port: 0, probeIntervalMs: 100, logger: false, webui: false });
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'a story' }], max_tokens: 200,
      stream: true, logit_bias: noEnd });
    const it = stream[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    const closed = gateway.close(30_000);
    // the listener is closed at once: a new connection is refused
    await expect(fetch(`${gateway.url}/ready`)).rejects.toThrow();
    let finish: string | null = null;
    for (let r = await it.next(); !r.done; r = await it.next()) finish = r.value.choices[0]?.finish_reason ?? finish;
    expect(finish).toBe('length');
    expect(await closed).toBe(0); // nothing had to be aborted
  });
});
