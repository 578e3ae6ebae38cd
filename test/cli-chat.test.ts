// predict-otron chat as a person runs it: one-shot through pipes (plain text, as the server's own
// answer), an engine of its own when no server answers, and the interactive chat in a real
// pseudo-terminal (tmux): streaming, slash commands, Ctrl+C that stops a reply and then quits.
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { gemma3VocabModel, root } from './helpers/models.js';
import { startTestServer, type TestServer, waitFor } from './helpers/server.js';

const run = promisify(execFile);
const bin = path.join(root, 'bin', 'predict-otron.js');
const MODEL = 'tiny';

let t: TestServer;
let client: OpenAI;
let tmp: string;

beforeAll(async () => {
  t = await startTestServer(gemma3VocabModel, { contextSize: 2048, parallel: 2 }, { modelId: MODEL });
  client = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'potron-chat-'));
});
afterAll(async () => {
  await t?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function chat(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('node', [bin, 'chat', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** The server's own greedy answer to one user message. */
async function expected(prompt: string, maxTokens: number): Promise<string> {
  const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: prompt }], temperature: 0, max_tokens: maxTokens });
  return r.choices[0]!.message.content ?? '';
}

describe('predict-otron chat, one-shot', () => {
  it('a prompt argument: the reply as plain text on stdout, equal to the server\'s answer; --stats on stderr', async () => {
    const r = await chat(['--url', t.url, '--temperature', '0', '--max-tokens', '12', '--stats', 'Hello', 'there']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe((await expected('Hello there', 12)) + '\n');
    expect(r.stdout).not.toMatch(/\x1b\[/); // no colour into a pipe
    expect(r.stderr).toMatch(/^\d+ tokens, time to first token \d+ ms, [\d.]+ tokens\/s, gaps p50 [\d.]+ \/ p90 [\d.]+ \/ p99 [\d.]+ \/ max [\d.]+ ms\n$/);
  });

  it('text piped into stdin, the server\'s /v1 URL as given, and --system', async () => {
    const r = await chat(['--url', `${t.url}/v1/`, '--temperature', '0', '--max-tokens', '10', '--system', 'Be brief.'], 'What is a lighthouse?\n');
    expect(r.code, r.stderr).toBe(0);
    const direct = await client.chat.completions.create({
      model: MODEL, temperature: 0, max_tokens: 10,
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is a lighthouse?' }],
    });
    expect(r.stdout).toBe(direct.choices[0]!.message.content + '\n');
  });

  it('no server: a clear error, unless --model names a model to run here', async () => {
    const dead = 'http://127.0.0.1:9'; // the discard port: nothing listens
    const none = await chat(['--url', dead, 'hi']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no server answers at http:\/\/127\.0\.0\.1:9\/v1; start one with `predict-otron serve`, or give --model/);
    const here = await chat(['--url', dead, '--model', gemma3VocabModel, '--temperature', '0', '--max-tokens', '12', 'Hello there']);
    expect(here.code, here.stderr).toBe(0);
    expect(here.stdout).toBe((await expected('Hello there', 12)) + '\n');
    const bad = await chat(['--url', t.url, '--model', 'nope', 'hi']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/has no model 'nope' \(it serves tiny\)/);
    expect((await chat(['--url', 'ftp://x', 'hi'])).stderr).toMatch(/--url must be an http\(s\) URL/);
    expect((await chat(['--url', t.url, '--temperature', '9', 'hi'])).stderr).toMatch(/--temperature must be a number from 0 to 2/);
  });
});

/** A chat in a tmux pseudo-terminal. */
class Pane {
  constructor(readonly name: string) {}
  static start(args: string[]): Pane {
    const name = `potron-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const cmd = ['node', bin, 'chat', ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    execFileSync('tmux', ['-L', 'potron-test', 'new-session', '-d', '-s', name, '-x', '160', '-y', '50', `${cmd}; echo EXITED $?; sleep 30`]);
    return new Pane(name);
  }
  text(): string {
    return execFileSync('tmux', ['-L', 'potron-test', 'capture-pane', '-p', '-J', '-S', '-200', '-t', this.name], { encoding: 'utf8' });
  }
  keys(...keys: string[]): void {
    execFileSync('tmux', ['-L', 'potron-test', 'send-keys', '-t', this.name, ...keys]);
  }
  type(line: string): void {
    execFileSync('tmux', ['-L', 'potron-test', 'send-keys', '-t', this.name, '-l', line]);
    this.keys('Enter');
  }
  async until(re: RegExp, what: string): Promise<string> {
    let text = '';
    await waitFor(() => re.test((text = this.text())), what, 60_000).catch((err: Error) => {
      throw new Error(`${err.message}; the pane shows:\n${this.text()}`);
    });
    return text;
  }
  kill(): void {
    try {
      execFileSync('tmux', ['-L', 'potron-test', 'kill-session', '-t', this.name], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  }
}

describe('predict-otron chat, interactive (a real terminal through tmux)', () => {
  it('streams replies, keeps the conversation, runs the slash commands; Ctrl+C stops a reply, a second quits', async () => {
    // a prompt whose greedy reply runs to the token limit, so that Ctrl+C meets it still going
    const long = ['Tell me a long story.', 'Write many words.', 'Continue counting forever.', 'Go on and on.', 'Describe the sea.'];
    let longPrompt: string | undefined;
    for (const p of long) {
      const r = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: p }], temperature: 0, max_tokens: 300 });
      if (r.choices[0]!.finish_reason === 'length') {
        longPrompt = p;
        break;
      }
    }
    expect(longPrompt, 'one of the prompts runs to the limit on the tiny model').toBeDefined();

    const saved = path.join(tmp, 'conversation.json');
    const pane = Pane.start(['--url', t.url, '--temperature', '0', '--max-tokens', '300', '--stats']);
    try {
      await pane.until(/chatting with tiny; \/help for commands/, 'the greeting');
      pane.type('Hello there');
      await pane.until(/tokens, time to first token \d+ ms/, 'the first reply and its stats');

      pane.type(`/save ${saved}`);
      await pane.until(/saved 2 messages/, '/save');
      const conv = JSON.parse(fs.readFileSync(saved, 'utf8')) as { model: string; messages: Array<{ role: string; content: string }> };
      expect(conv.model).toBe(MODEL);
      expect(conv.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
      expect(conv.messages[0]!.content).toBe('Hello there');
      expect(conv.messages[1]!.content).toBe(await expected('Hello there', 300));

      pane.type('/reset');
      await pane.until(/conversation cleared/, '/reset');
      pane.type(`/load ${saved}`);
      await pane.until(/loaded 2 messages/, '/load');
      pane.type('/model nope');
      await pane.until(/no model 'nope' here/, '/model');
      pane.type('/system Be brief.');
      await pane.until(/system prompt set/, '/system');

      // Ctrl+C while the long reply streams (asked alone, as the search above asked it): it
      // stops, the server stops generating
      pane.type('/reset');
      pane.type('/system');
      await pane.until(/system prompt removed/, '/system without text');
      const before = t.model.stats().generatedTokens;
      pane.type(longPrompt!);
      await waitFor(() => t.model.stats().generatedTokens > before + 20, 'the long reply to be under way', 20_000);
      pane.keys('C-c');
      await pane.until(/\(stopped\)/, 'the reply to stop');
      await waitFor(() => t.model.stats().active === 0, 'the server to stop generating', 5000);
      expect(t.model.stats().generatedTokens - before).toBeLessThan(300);

      // the second Ctrl+C quits
      pane.keys('C-c');
      await pane.until(/EXITED 0/, 'the chat to exit');
    } finally {
      pane.kill();
    }
  }, 120_000);
});
