// predict-otron chat: a terminal chat over the OpenAI API of a running server (ours, or any that
// speaks it), or of an engine started in this process when no server answers and --model names
// one. One-shot with a prompt argument or piped stdin (plain text out, so it pipes); otherwise
// interactive (chat-repl.ts).
import { parseArgs } from 'node:util';

import OpenAI from 'openai';

import { loadModel } from '../engine/language-model.js';
import { defaultModelId } from '../server/app.js';
import { startServer } from '../server/start.js';
import { UsageError } from './args.js';
import { type ChatMessage, formatStats, streamReply } from './chat-stream.js';
import { chatRepl } from './chat-repl.js';

export const chatUsage = `predict-otron chat [--url URL] [--model M] [--system S] [--api-key K] [--stats] [--temperature T] [--max-tokens N] [PROMPT...]
  Chats with the server at --url (default http://127.0.0.1:8080; OPENAI_API_KEY or --api-key when it
  asks for one). With no server there and --model given, runs that model in this process instead.
  With a PROMPT (or text on stdin) it answers once and exits; otherwise it is interactive:
  Ctrl+C stops a reply, a second Ctrl+C quits; /reset, /model NAME, /system TEXT, /save FILE,
  /load FILE, /help, /exit. --stats prints time to first token, tokens/s and the gaps between
  tokens (p50/p90/p99) after each reply.`;

const DEFAULT_URL = 'http://127.0.0.1:8080';

/** The API's base URL: the server's root or its /v1, as people write it. */
export function apiBase(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--url must be an http(s) URL, not '${url}'`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--url must be an http(s) URL, not '${url}'`);
  const path = u.pathname.replace(/\/+$/, '');
  u.pathname = path.endsWith('/v1') ? path : `${path}/v1`;
  return u.toString().replace(/\/$/, '');
}

/** The chat models a server lists (ours say kind "chat"; others say nothing, and all count). */
async function chatModels(client: OpenAI): Promise<string[]> {
  const list = await client.models.list();
  return list.data.filter((m) => (m as { kind?: string }).kind === undefined || (m as { kind?: string }).kind === 'chat').map((m) => m.id);
}

/** The SDK could not reach the server at all (refused, no such host, timed out). */
function unreachable(err: unknown): boolean {
  return err instanceof OpenAI.APIConnectionError;
}

interface Endpoint {
  client: OpenAI;
  model: string;
  models: string[];
  close(): Promise<void>;
}

async function connect(base: string, apiKey: string, model: string | undefined, stderr: NodeJS.WritableStream): Promise<Endpoint> {
  const client = new OpenAI({ baseURL: base, apiKey, maxRetries: 0, timeout: 600_000 });
  try {
    const models = await chatModels(client);
    const chosen = model ?? models[0];
    if (!chosen) throw new UsageError(`the server at ${base} serves no chat model`);
    if (model !== undefined && !models.includes(model)) {
      throw new UsageError(`the server at ${base} has no model '${model}' (it serves ${models.join(', ') || 'no chat model'})`);
    }
    return { client, model: chosen, models, close: async () => undefined };
  } catch (err) {
    if (!unreachable(err)) throw err;
    if (model === undefined) {
      throw new UsageError(`no server answers at ${base}; start one with \`predict-otron serve\`, or give --model to run one here`);
    }
  }
  // nothing there: this process serves the model itself, on a port of its own
  stderr.write(`no server at ${base}; loading ${model} here\n`);
  const lm = await loadModel(model, { progress: 'auto' });
  const id = defaultModelId(model);
  const server = await startServer({ model: lm, modelId: id, host: '127.0.0.1', port: 0, logger: false });
  return {
    client: new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'in-process', maxRetries: 0, timeout: 600_000 }),
    model: id, models: [id],
    close: async () => {
      await server.close(1000);
    },
  };
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return Buffer.concat(chunks).toString('utf8');
}

function numberOption(v: string | undefined, name: string, min: number, max: number, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, not '${v}'`);
  }
  return n;
}

export interface ChatIo {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}

export async function chatCommand(argv: string[], io: ChatIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      url: { type: 'string' }, model: { type: 'string' }, system: { type: 'string' }, 'api-key': { type: 'string' },
      stats: { type: 'boolean' }, temperature: { type: 'string' }, 'max-tokens': { type: 'string' },
    },
  });
  const base = apiBase(values.url ?? DEFAULT_URL);
  const sampling = {
    temperature: numberOption(values.temperature, 'temperature', 0, 2, false),
    maxTokens: numberOption(values['max-tokens'], 'max-tokens', 1, 1 << 20, true),
  };
  const apiKey = values['api-key'] ?? io.env.OPENAI_API_KEY ?? 'none';
  const oneShot = positionals.length > 0 || !io.stdin.isTTY;
  const prompt = positionals.length > 0 ? positionals.join(' ') : oneShot ? (await readAll(io.stdin)).trim() : '';
  if (oneShot && !prompt) throw new UsageError('nothing to ask: give a PROMPT, pipe text in, or run it in a terminal to chat');

  const endpoint = await connect(base, apiKey, values.model, io.stderr);
  try {
    const history: ChatMessage[] = values.system ? [{ role: 'system', content: values.system }] : [];
    if (oneShot) {
      const ac = new AbortController();
      const onSigint = () => ac.abort();
      process.once('SIGINT', onSigint);
      try {
        const reply = await streamReply(endpoint.client, [...history, { role: 'user', content: prompt }],
          { model: endpoint.model, ...sampling, signal: ac.signal, write: (t) => io.stdout.write(t) });
        io.stdout.write('\n');
        if (values.stats) io.stderr.write(formatStats(reply.stats) + '\n');
        if (reply.aborted) process.exitCode = 130;
      } finally {
        process.off('SIGINT', onSigint);
      }
      return;
    }
    await chatRepl({ ...endpoint, history, sampling, stats: values.stats === true, io });
  } finally {
    await endpoint.close();
  }
}
