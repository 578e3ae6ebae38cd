import { invalidArg } from '../engine/errors.js';

export type ChatRole = 'system' | 'developer' | 'user' | 'assistant';

export interface ChatTextPart {
  type: 'text';
  text: string;
}

export interface ChatMessage {
  role: ChatRole;
  content: string | ChatTextPart[];
}

const roles = new Set<string>(['system', 'developer', 'user', 'assistant']);

/**
 * Checks messages as OpenAI defines them (text only). `developer` is OpenAI's newer name for
 * `system` and is passed to templates as `system`, the only name Gemma's templates know.
 */
export function checkMessages(messages: unknown): ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) throw invalidArg('messages', 'must be a non-empty array');
  return messages.map((m, i) => {
    const where = `messages[${i}]`;
    if (typeof m !== 'object' || m === null) throw invalidArg(where, 'must be an object with role and content');
    const { role, content } = m as { role?: unknown; content?: unknown };
    if (typeof role !== 'string' || !roles.has(role)) {
      throw invalidArg(`${where}.role`, `must be one of system, developer, user, assistant, not ${JSON.stringify(role)}`);
    }
    if (typeof content === 'string') return { role: role === 'developer' ? 'system' : (role as ChatRole), content };
    if (!Array.isArray(content)) throw invalidArg(`${where}.content`, 'must be a string or an array of text parts');
    const parts = content.map((p, j) => {
      const pw = `${where}.content[${j}]`;
      if (typeof p !== 'object' || p === null || (p as { type?: unknown }).type !== 'text') {
        throw invalidArg(`${pw}.type`, `must be 'text' (this model reads text only), not ${JSON.stringify((p as { type?: unknown })?.type)}`);
      }
      const text = (p as { text?: unknown }).text;
      if (typeof text !== 'string') throw invalidArg(`${pw}.text`, 'must be a string');
      return { type: 'text' as const, text };
    });
    return { role: role === 'developer' ? 'system' : (role as ChatRole), content: parts };
  });
}

/** Text parts joined, for templates that expect a string. */
export function flattenContent(content: string | ChatTextPart[]): string {
  return typeof content === 'string' ? content : content.map((p) => p.text).join('\n');
}
