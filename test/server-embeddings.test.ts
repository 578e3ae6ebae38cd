// POST /v1/embeddings through the official openai SDK against a real server that serves a chat
// model and embedding models side by side, and an embeddings-only server. Vectors are checked
// against llama.cpp's embeddings of the same GGUF (independent), tokens against its tokenizer.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type Embedder, loadEmbedder } from '../src/engine/embedder.js';
import { loadModel } from '../src/engine/language-model.js';
import { type RunningServer, startServer } from '../src/server/start.js';
import { cosine } from './helpers/compare.js';
import { encoderModel, tinyModel } from './helpers/models.js';
import { disposeOracle, oracleEmbeddings, oracleTokenize } from './helpers/oracle.js';
import { postJson, waitFor } from './helpers/server.js';

const bert = encoderModel('bert', { vocab: 'bert', pooling: 'mean' });
const nomic = encoderModel('nomic-bert', { vocab: 'bert', pooling: 'mean' });
const EMB = 'bge-tiny';
const MRL = 'nomic-tiny';

let server: RunningServer;
let client: OpenAI;
let emb: Embedder;

beforeAll(async () => {
  emb = await loadEmbedder(bert.gguf, { threads: 2 });
  // the tiny nomic fixture stands in for a Matryoshka model with task prefixes (as nomic v1.5's card gives them)
  const mrl = await loadEmbedder(nomic.gguf, { threads: 2, minDimensions: 16, prefixes: { query: 'search_query: ', document: 'search_document: ' } });
  const chat = await loadModel(tinyModel('gemma3'), { contextSize: 256, parallel: 2, threads: 2 });
  server = await startServer({ model: chat, modelId: 'chat', port: 0, logger: false, embeddings: [{ model: emb, id: EMB, aliases: ['BAAI/bge-tiny'] }, { model: mrl, id: MRL }] });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
afterAll(async () => {
  await server?.close(1000);
  await disposeOracle();
});

/** llama.cpp's vector for a text: its own tokenization, its own pooling */
async function reference(path: string, text: string): Promise<Float64Array> {
  return (await oracleEmbeddings(path, [await oracleTokenize(path, text)]))[0]!;
}

const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));

describe('/v1/embeddings', () => {
  it('the SDK default (base64, decoded by the SDK) gives llama.cpp\'s vector, normalized, with real usage', async () => {
    const text = 'The lighthouse keeper counts ships at night.';
    const r = await client.embeddings.create({ model: EMB, input: text });
    expect(r.object).toBe('list');
    expect(r.model).toBe(EMB);
    expect(r.data).toHaveLength(1);
    expect(r.data[0]!.object).toBe('embedding');
    expect(r.data[0]!.index).toBe(0);
    const v = r.data[0]!.embedding;
    expect(v).toHaveLength(64);
    expect(norm(v)).toBeCloseTo(1, 5);
    expect(cosine(v, await reference(bert.gguf, text))).toBeGreaterThanOrEqual(0.99999);
    const tokens = (await oracleTokenize(bert.gguf, text)).length;
    expect(r.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens });
  });

  it('float and base64 carry the same numbers; the raw base64 is little-endian float32', async () => {
    const input = ['first text', 'a second, longer text with more words in it'];
    const f = await client.embeddings.create({ model: EMB, input, encoding_format: 'float' });
    const raw = await postJson(`${server.url}/v1/embeddings`, { model: EMB, input, encoding_format: 'base64' });
    expect(raw.status).toBe(200);
    for (let i = 0; i < 2; i++) {
      const b = Buffer.from(raw.json.data[i].embedding as string, 'base64');
      const decoded = Array.from({ length: b.length / 4 }, (_, j) => b.readFloatLE(j * 4));
      expect(decoded).toEqual(f.data[i]!.embedding);
    }
    expect(f.data.map((d) => d.index)).toEqual([0, 1]);
    expect(cosine(f.data[0]!.embedding, f.data[1]!.embedding)).toBeLessThan(0.999);
  });

  it('token ids and arrays of token ids are read as given; a batch equals its items one by one', async () => {
    const ids = await oracleTokenize(bert.gguf, 'hello world');
    const one = await client.embeddings.create({ model: EMB, input: ids });
    expect(one.data).toHaveLength(1);
    expect(one.usage.prompt_tokens).toBe(ids.length);
    expect(cosine(one.data[0]!.embedding, (await oracleEmbeddings(bert.gguf, [ids]))[0]!)).toBeGreaterThanOrEqual(0.99999);
    const texts = ['alpha', 'beta gamma', 'delta epsilon zeta eta', 'hello world'];
    const batch = await client.embeddings.create({ model: 'BAAI/bge-tiny', input: texts });
    expect(batch.data).toHaveLength(4);
    for (let i = 0; i < texts.length; i++) {
      const alone = await client.embeddings.create({ model: EMB, input: texts[i]! });
      expect(cosine(batch.data[i]!.embedding, alone.data[0]!.embedding)).toBeGreaterThanOrEqual(0.999999);
    }
    expect(cosine(batch.data[3]!.embedding, one.data[0]!.embedding)).toBeGreaterThanOrEqual(0.999999);
    const nested = await client.embeddings.create({ model: EMB, input: [ids, ids.slice(0, 2)] });
    expect(nested.data).toHaveLength(2);
    expect(nested.usage.prompt_tokens).toBe(ids.length + 2);
  });

  it('dimensions cut a Matryoshka vector and normalize it again; a model not trained for it refuses', async () => {
    const full = await client.embeddings.create({ model: MRL, input: 'search me', encoding_format: 'float' });
    const cut = await client.embeddings.create({ model: MRL, input: 'search me', dimensions: 16, encoding_format: 'float' });
    expect(cut.data[0]!.embedding).toHaveLength(16);
    expect(norm(cut.data[0]!.embedding)).toBeCloseTo(1, 5);
    const head = full.data[0]!.embedding.slice(0, 16);
    expect(cosine(cut.data[0]!.embedding, head)).toBeGreaterThanOrEqual(0.9999999);
    await expect(client.embeddings.create({ model: MRL, input: 'x', dimensions: 8 })).rejects.toMatchObject({ status: 400, param: 'dimensions' });
    await expect(client.embeddings.create({ model: EMB, input: 'x', dimensions: 32 })).rejects.toMatchObject({ status: 400, param: 'dimensions' });
    // the full size is always fine
    expect((await client.embeddings.create({ model: EMB, input: 'x', dimensions: 64 })).data[0]!.embedding).toHaveLength(64);
  });

  it('task puts the model card\'s prefix before the text (never guessed); a model without prefixes refuses it', async () => {
    const asQuery = await postJson(`${server.url}/v1/embeddings`, { model: MRL, input: 'lighthouses', task: 'query', encoding_format: 'float' });
    const prefixed = await client.embeddings.create({ model: MRL, input: 'search_query: lighthouses', encoding_format: 'float' });
    expect(asQuery.status).toBe(200);
    expect(asQuery.json.data[0].embedding).toEqual(prefixed.data[0]!.embedding);
    expect(asQuery.json.usage.prompt_tokens).toBe(prefixed.usage.prompt_tokens);
    const bare = await client.embeddings.create({ model: MRL, input: 'lighthouses', encoding_format: 'float' });
    expect(cosine(bare.data[0]!.embedding, prefixed.data[0]!.embedding)).toBeLessThan(0.9999);
    const refused = await postJson(`${server.url}/v1/embeddings`, { model: EMB, input: 'x', task: 'query' });
    expect([refused.status, refused.json.error.param]).toEqual([400, 'task']);
  });

  it('inputs longer than the model reads: a 400, unless truncate is asked for', async () => {
    const long = 'word '.repeat(600); // 602 tokens with [CLS] and [SEP]; the model reads 512
    await expect(client.embeddings.create({ model: EMB, input: long })).rejects.toMatchObject({ status: 400, code: 'context_length_exceeded' });
    const t = await postJson(`${server.url}/v1/embeddings`, { model: EMB, input: long, truncate: true, encoding_format: 'float' });
    expect(t.status).toBe(200);
    expect(t.json.usage.prompt_tokens).toBe(512);
    // truncation keeps [CLS] ... [SEP] as a tokenizer's truncation does
    const ids = await oracleTokenize(bert.gguf, long);
    const kept = [...ids.slice(0, 511), ids.at(-1)!];
    expect(cosine(t.json.data[0].embedding, (await oracleEmbeddings(bert.gguf, [kept]))[0]!)).toBeGreaterThanOrEqual(0.99999);
  });

  it('every bad request is an OpenAI-shaped 4xx naming the problem, and the server keeps serving', async () => {
    const bad = async (body: unknown, status: number, param: string | null) => {
      const r = await postJson(`${server.url}/v1/embeddings`, body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(status);
      expect(r.json.error.param, JSON.stringify(body).slice(0, 80)).toBe(param);
      expect(typeof r.json.error.message).toBe('string');
    };
    await bad({ model: EMB, input: '' }, 400, 'input');
    await bad({ model: EMB, input: [] }, 400, 'input');
    await bad({ model: EMB, input: ['a', ''] }, 400, 'input[1]');
    await bad({ model: EMB, input: Array(2049).fill('a') }, 400, 'input');
    await bad({ model: EMB, input: [[]] }, 400, 'input[0]');
    await bad({ model: EMB, input: [1.5] }, 400, 'input');
    await bad({ model: EMB, input: [emb.info.nVocab] }, 400, 'input');
    await bad({ model: EMB }, 400, 'input');
    await bad({ model: EMB, input: 'x', encoding_format: 'int8' }, 400, 'encoding_format');
    await bad({ model: EMB, input: 'x', dimensions: 0 }, 400, 'dimensions');
    await bad({ model: EMB, input: 'x', color: 'red' }, 400, 'color');
    await bad({ model: 'text-embedding-3-small', input: 'x' }, 404, 'model');
    await bad({ model: 'chat', input: 'x' }, 400, 'model');
    expect((await client.embeddings.create({ model: EMB, input: 'still here' })).data).toHaveLength(1);
  });

  it('a client that aborts (the SDK\'s signal) cancels its encoding: answered 499, and the next request is served', async () => {
    // 2,048 inputs of ~120 tokens: seconds of encoding, cut short
    const input = Array.from({ length: 2048 }, (_, i) => Array.from({ length: 120 }, (_, j) => 1000 + ((i * 31 + j * 7) % 20000)));
    const ac = new AbortController();
    const pending = client.embeddings.create({ model: EMB, input, encoding_format: 'float' }, { signal: ac.signal });
    await waitFor(() => server.inFlight === 1, 'the request to be encoding');
    ac.abort();
    await expect(pending).rejects.toThrow(/abort/i);
    await waitFor(() => server.inFlight === 0, 'the encoding to stop', 5000);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/http_requests_total\{[^}]*route="\/v1\/embeddings"[^}]*status="499"[^}]*\} 1/);
    expect((await client.embeddings.create({ model: EMB, input: 'after the abort' })).data).toHaveLength(1);
  });

  it('GET /v1/models lists chat and embedding models with their kind and dimensions; /ready covers them all', async () => {
    const list = await client.models.list();
    expect(list.data.map((m) => [m.id, (m as unknown as { kind: string }).kind])).toEqual([['chat', 'chat'], [EMB, 'embedding'], [MRL, 'embedding']]);
    expect(list.data[1]).toMatchObject({ object: 'model', dimensions: 64, max_input_tokens: 512 });
    expect(await client.models.retrieve('BAAI/bge-tiny')).toMatchObject({ id: EMB, kind: 'embedding' });
    const ready = await (await fetch(`${server.url}/ready`)).json();
    expect(ready.models).toEqual([{ id: 'chat', status: 'ready' }, { id: EMB, status: 'ready' }, { id: MRL, status: 'ready' }]);
    // chat still works beside them
    const c = await client.chat.completions.create({ model: 'chat', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 });
    expect(c.choices[0]!.message.role).toBe('assistant');
  });
});

describe('an embeddings-only server (the embeddings service of a split deployment)', () => {
  it('serves embeddings, refuses chat with a 404 that says what it serves', async () => {
    const e = await loadEmbedder(bert.gguf, { threads: 2 });
    const s = await startServer({ port: 0, logger: false, embeddings: [{ model: e, id: EMB }] });
    try {
      const c = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      expect((await c.embeddings.create({ model: EMB, input: 'x' })).data[0]!.embedding).toHaveLength(64);
      await expect(c.chat.completions.create({ model: EMB, messages: [{ role: 'user', content: 'hi' }] }))
        .rejects.toMatchObject({ status: 404, code: 'model_not_found', message: expect.stringMatching(/only embeddings/) });
      expect((await c.models.list()).data.map((m) => m.id)).toEqual([EMB]);
    } finally {
      await s.close(1000);
    }
    expect(e.closed).toBe(true);
  });
});

describe('predict-otron serve --embedding-model', () => {
  it('serves embeddings only when no --model is named (--no-webui: no page), and stops on SIGTERM', async () => {
    const { spawn } = await import('node:child_process');
    const readline = await import('node:readline');
    const path = await import('node:path');
    const { root } = await import('./helpers/models.js');
    const child = spawn(process.execPath, [path.join(root, 'bin', 'predict-otron.js'), 'serve', '--embedding-model', `${bert.gguf}=emb`, '--port', '0', '--threads', '1', '--no-webui'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    const lines: Array<Record<string, unknown>> = [];
    let wake: (() => void) | null = null;
    readline.createInterface({ input: child.stdout }).on('line', (l) => {
      lines.push(JSON.parse(l) as Record<string, unknown>);
      wake?.();
    });
    const logged = async (msg: RegExp) => {
      while (!lines.some((l) => msg.test(String(l.msg)))) {
        await Promise.race([new Promise<void>((r) => (wake = r)), exited.then(() => {
          throw new Error(`serve exited before logging ${msg}: ${stderr}`);
        })]);
      }
      return lines.find((l) => msg.test(String(l.msg)))!;
    };
    try {
      const port = (await logged(/^listening/)).port as number;
      expect((await logged(/^embedding model ready/)).dimensions).toBe(64);
      const c = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'x', maxRetries: 0 });
      expect((await c.models.list()).data.map((m) => m.id)).toEqual(['emb']);
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(404); // --no-webui: no chat page
      const r = await c.embeddings.create({ model: 'emb', input: 'hello world' });
      expect(cosine(r.data[0]!.embedding, await reference(bert.gguf, 'hello world'))).toBeGreaterThanOrEqual(0.99999);
      expect(lines.some((l) => /^model ready/.test(String(l.msg)))).toBe(false); // no chat model was loaded
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
