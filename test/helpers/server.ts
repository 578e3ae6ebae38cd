// A real server on a free port, the official openai SDK as its client, and raw HTTP helpers for
// what the SDK hides (SSE text, sockets closed mid-request, Prometheus text).
import http from 'node:http';

import OpenAI from 'openai';

import { loadModel, type LanguageModel, type LoadModelOptions } from '../../src/engine/language-model.js';
import { type RunningServer, startServer, type StartOptions } from '../../src/server/start.js';

export interface TestServer {
  server: RunningServer;
  model: LanguageModel;
  client: OpenAI;
  url: string;
  close(): Promise<void>;
}

export async function startTestServer(modelPath: string, load: LoadModelOptions, options: Partial<StartOptions> = {}): Promise<TestServer> {
  const model = await loadModel(modelPath, load);
  const server = await startServer({ model, port: 0, logger: false, ...options });
  const apiKey = options.apiKeys?.[0] ?? 'unused';
  // no retries: a 429 or 5xx must reach the test as it was sent
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey, maxRetries: 0, timeout: 60_000 });
  return { server, model, client, url: server.url, close: async () => void (await server.close(1000)) };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: any; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON (an SSE stream)
  }
  return { status: res.status, headers: res.headers, json, text };
}

/**
 * Sends a POST and destroys the socket once `until()` holds (polled every 2 ms): a client that
 * goes away mid-request, as a closed browser tab or a killed script does.
 */
export function postThenDisconnect(url: string, body: unknown, until: () => boolean): Promise<{ sawBytes: number }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const data = JSON.stringify(body);
    let sawBytes = 0;
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } });
    req.on('response', (res) => res.on('data', (b: Buffer) => (sawBytes += b.length)));
    req.on('error', () => undefined); // our own destroy
    req.end(data);
    const started = Date.now();
    const poll = setInterval(() => {
      if (until()) {
        clearInterval(poll);
        req.destroy();
        resolve({ sawBytes });
      } else if (Date.now() - started > 30_000) {
        clearInterval(poll);
        req.destroy();
        reject(new Error('the condition to disconnect never held'));
      }
    }, 2);
  });
}

export async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Parses Prometheus text exposition format 0.0.4 strictly: every line is a HELP, a TYPE or a
 * sample of a family whose TYPE came first; label values are escaped strings; values are floats.
 * Throws on the first line that is not.
 */
export function parsePrometheus(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*';
  const VALUE = /^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|[+-]?Inf|NaN)$/;
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const fail = (why: string) => new Error(`line ${i + 1}: ${why}: ${line}`);
    if (line.startsWith('#')) {
      const help = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line);
      const type = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line);
      if (type) {
        if (types.has(type[1]!)) throw fail('a second TYPE for one family');
        types.set(type[1]!, type[2]!);
      } else if (!help) throw fail('a comment that is neither HELP nor TYPE');
      continue;
    }
    const m = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?$`).exec(line);
    if (!m) throw fail('not a sample');
    const [, name, labelText, valueText] = m;
    if (!VALUE.test(valueText!)) throw fail(`bad value ${valueText}`);
    const family = [name!, name!.replace(/_(bucket|sum|count)$/, '')].find((f) => types.has(f));
    if (!family) throw fail('a sample before its TYPE');
    if (family !== name && !['histogram', 'summary'].includes(types.get(family)!)) throw fail('a _bucket/_sum/_count of a non-histogram');
    const labels: Record<string, string> = {};
    let rest = labelText ?? '';
    const re = new RegExp(`^(${LABEL})="((?:[^"\\\\\\n]|\\\\[\\\\"n])*)"(,|$)`);
    while (rest) {
      const l = re.exec(rest);
      if (!l) throw fail(`bad labels at '${rest}'`);
      if (l[1]! in labels) throw fail(`label ${l[1]} twice`);
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      rest = rest.slice(l[0].length);
    }
    samples.push({ name: name!, labels, value: Number(valueText!.replace(/^([+-]?)Inf$/, '$1Infinity')) });
  }
  return { types, samples };
}
