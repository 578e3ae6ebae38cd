// Prefix keys of a request, so that a conversation's next turn can go to the replica whose KV
// cache holds its beginning (as vLLM's router and llm-d route). The gateway never tokenizes:
// keys are chained hashes at message boundaries (chat) or of fixed blocks of the prompt
// (completions), shortest prefix first. A turn's keys start with the previous turn's keys.
import crypto from 'node:crypto';

const TEXT_BLOCK = 512; // characters of a completion prompt per key
const TOKEN_BLOCK = 128; // token ids per key

function chain(model: string, parts: readonly string[]): string[] {
  const keys: string[] = [];
  let h = crypto.createHash('sha256').update(model).digest('base64url');
  for (const p of parts) {
    h = crypto.createHash('sha256').update(h).update('\0').update(p).digest('base64url');
    keys.push(h);
  }
  return keys;
}

export interface PrefixKeys {
  /** chained hashes, shortest prefix first */
  keys: string[];
  /**
   * The key that names the conversation in every turn (through its first user message; a
   * completion's first block): gateways that never saw it place it alike by hashing it.
   */
  anchor: string | null;
}

/** Keys of a chat request: one per message, in order. */
function chatKeys(model: string, messages: unknown[]): PrefixKeys {
  const parts = messages.map((m) => (typeof m === 'object' && m !== null ? m : {}) as { role?: unknown; content?: unknown });
  // role and content are what the template renders; other fields (name, tool calls) are rare
  const keys = chain(model, parts.map((o) => JSON.stringify([o.role ?? null, o.content ?? null])));
  const firstUser = parts.findIndex((o) => o.role === 'user');
  return { keys, anchor: keys[firstUser >= 0 ? firstUser : 0] ?? null };
}

function completionKeys(model: string, prompt: unknown): string[] {
  if (typeof prompt === 'string') {
    const blocks: string[] = [];
    for (let i = 0; i + TEXT_BLOCK <= prompt.length; i += TEXT_BLOCK) blocks.push(prompt.slice(i, i + TEXT_BLOCK));
    // the whole prompt too: a short prompt still has a key
    if (prompt.length % TEXT_BLOCK) blocks.push(prompt.slice(prompt.length - (prompt.length % TEXT_BLOCK)));
    return chain(model, blocks);
  }
  if (Array.isArray(prompt) && prompt.every((t) => typeof t === 'number')) {
    const blocks: string[] = [];
    for (let i = 0; i < prompt.length; i += TOKEN_BLOCK) blocks.push(prompt.slice(i, i + TOKEN_BLOCK).join(','));
    return chain(model, blocks);
  }
  return []; // a batch of prompts: no single prefix to follow
}

const NONE: PrefixKeys = { keys: [], anchor: null };

/** The request's prefix keys; none when the body has no prompt we understand. */
export function prefixKeys(path: string, body: unknown): PrefixKeys {
  if (typeof body !== 'object' || body === null) return NONE;
  const b = body as { model?: unknown; messages?: unknown; prompt?: unknown };
  const model = typeof b.model === 'string' ? b.model : '';
  if (path.endsWith('/chat/completions')) return Array.isArray(b.messages) ? chatKeys(model, b.messages) : NONE;
  if (path.endsWith('/completions')) {
    const keys = completionKeys(model, b.prompt);
    return { keys, anchor: keys[0] ?? null };
  }
  return NONE;
}

/** Which replica last served each prefix; the oldest forgotten past `capacity`. */
export class AffinityTable<R> {
  private readonly map = new Map<string, R>();

  constructor(private readonly capacity = 50_000) {}

  /** The replica of the longest known prefix among the keys that is `usable`. */
  lookup(keys: readonly string[], usable: (r: R) => boolean): R | null {
    for (let i = keys.length - 1; i >= 0; i--) {
      const r = this.map.get(keys[i]!);
      if (r !== undefined && usable(r)) return r;
    }
    return null;
  }

  record(keys: readonly string[], r: R): void {
    for (const k of keys) {
      this.map.delete(k); // re-insert: Map order is the recency order
      this.map.set(k, r);
    }
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value!);
  }
}
