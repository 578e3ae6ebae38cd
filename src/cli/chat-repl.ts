// The interactive side of `predict-otron chat`: a line editor, replies streamed as they come,
// the conversation kept for the session, slash commands, and Ctrl+C that stops a reply first
// and quits on the second press.
import fs from 'node:fs/promises';
import readline from 'node:readline';

import type OpenAI from 'openai';

import type { ChatIo } from './chat.js';
import { type ChatMessage, formatStats, streamReply } from './chat-stream.js';

export interface ReplOptions {
  client: OpenAI;
  model: string;
  models: string[];
  history: ChatMessage[];
  sampling: { temperature?: number | undefined; maxTokens?: number | undefined };
  stats: boolean;
  io: ChatIo;
}

const HELP = `/reset         forget the conversation (the system prompt stays)
/model NAME    talk to another model of the server
/system TEXT   set the system prompt (empty: none)
/save FILE     write the conversation as JSON
/load FILE     read a conversation written by /save (or a JSON list of messages)
/help          this list
/exit          quit (as does a second Ctrl+C, or Ctrl+D)`;

const ROLES = new Set(['system', 'user', 'assistant']);

/** A conversation as /save writes it ({ model, messages }) or a bare list of messages. */
export function parseConversation(text: string): { model?: string; messages: ChatMessage[] } {
  const json = JSON.parse(text) as unknown;
  const obj = Array.isArray(json) ? { messages: json } : (json as { model?: unknown; messages?: unknown });
  if (!obj || !Array.isArray(obj.messages)) throw new Error('expected {"messages": [...]} or a list of messages');
  const messages = obj.messages.map((m, i) => {
    const r = m as { role?: unknown; content?: unknown };
    if (!r || typeof r.role !== 'string' || !ROLES.has(r.role) || typeof r.content !== 'string') {
      throw new Error(`message ${i} must be {"role": "system" | "user" | "assistant", "content": "..."}`);
    }
    return { role: r.role, content: r.content } as ChatMessage;
  });
  return { ...(typeof obj.model === 'string' ? { model: obj.model } : {}), messages };
}

export async function chatRepl(o: ReplOptions): Promise<void> {
  const { io } = o;
  const tty = io.stdout.isTTY === true;
  const dim = (s: string) => (tty ? `\x1b[2m${s}\x1b[22m` : s);
  let model = o.model;
  let history = o.history;
  const rl = readline.createInterface({ input: io.stdin, output: io.stdout, terminal: tty, historySize: 200 });
  let replying = null as AbortController | null;
  let quitArmed = false;
  let closed = false;
  const done = new Promise<void>((resolve) => rl.on('close', () => {
    closed = true;
    resolve();
  }));

  rl.on('SIGINT', () => {
    if (replying) {
      replying.abort();
      quitArmed = true;
      return;
    }
    if (quitArmed) {
      rl.close();
      return;
    }
    quitArmed = true;
    io.stdout.write(dim('\n(Ctrl+C again to quit)') + '\n');
    rl.prompt();
  });

  const say = (s: string): void => {
    io.stdout.write(dim(s) + '\n');
  };
  say(`chatting with ${model}; /help for commands`);

  const command = async (line: string): Promise<void> => {
    const [name, ...rest] = line.slice(1).split(' ');
    const arg = rest.join(' ').trim();
    switch (name) {
      case 'reset':
        history = history.filter((m) => m.role === 'system');
        say('(conversation cleared)');
        return;
      case 'model':
        if (!arg) say(`(model: ${model}; the server has ${o.models.join(', ')})`);
        else if (!o.models.includes(arg)) say(`(no model '${arg}' here; the server has ${o.models.join(', ')})`);
        else {
          model = arg;
          say(`(now talking to ${model})`);
        }
        return;
      case 'system':
        history = [...(arg ? [{ role: 'system', content: arg } as ChatMessage] : []), ...history.filter((m) => m.role !== 'system')];
        say(arg ? '(system prompt set)' : '(system prompt removed)');
        return;
      case 'save':
        if (!arg) return say('(/save FILE)');
        await fs.writeFile(arg, JSON.stringify({ model, messages: history }, null, 2) + '\n');
        say(`(saved ${history.length} messages to ${arg})`);
        return;
      case 'load': {
        if (!arg) return say('(/load FILE)');
        const conv = parseConversation(await fs.readFile(arg, 'utf8'));
        history = conv.messages;
        if (conv.model && o.models.includes(conv.model)) model = conv.model;
        say(`(loaded ${history.length} messages from ${arg})`);
        return;
      }
      case 'help':
        return say(HELP);
      case 'exit':
      case 'quit':
        rl.close();
        return;
      default:
        say(`(unknown command /${name}; /help lists them)`);
    }
  };

  const ask = async (text: string): Promise<void> => {
    const messages = [...history, { role: 'user', content: text } as ChatMessage];
    replying = new AbortController();
    try {
      const reply = await streamReply(o.client, messages, { model, ...o.sampling, signal: replying.signal, write: (t) => io.stdout.write(t) });
      io.stdout.write('\n');
      if (reply.aborted) say('(stopped)');
      // a stopped reply stays in the conversation as far as it got, as the page keeps it
      history = [...messages, { role: 'assistant', content: reply.text }];
      if (o.stats) say(formatStats(reply.stats));
    } finally {
      replying = null;
    }
  };

  rl.setPrompt(tty ? '\x1b[1m> \x1b[22m' : '> ');
  rl.prompt();
  // lines are handled one after another; input keeps flowing meanwhile, so Ctrl+C reaches a reply
  let queue = Promise.resolve();
  rl.on('line', (line) => {
    queue = queue.then(async () => {
      quitArmed = false;
      const text = line.trim();
      try {
        if (text.startsWith('/')) await command(text);
        else if (text) await ask(text);
      } catch (err) {
        say(`(error: ${(err as Error).message})`);
      }
      if (!closed) rl.prompt();
    });
  });
  await done;
  replying?.abort();
  await queue;
  io.stdout.write('\n');
}
