import { invalidArg } from '../errors.js';

export type ChatRole = 'system' | 'developer' | 'user' | 'assistant';

export interface ChatTextPart {
  type: 'text';
  text: string;
}

export interface ChatMessage {
  role: ChatRole;
  content: string | ChatTextPart[];
}

/**
 * A message as clients send it back: OpenAI's fields for each role, as the openai SDK returns
 * a reply (`content` may be null with a `refusal`; `refusal`, `annotations` and `audio` come
 * along as null or empty), `name` on any role, refusal parts in an assistant's content.
 */
export interface ChatMessageInput {
  role: ChatRole;
  content?: string | Array<ChatTextPart | { type: 'refusal'; refusal: string }> | null;
  name?: string | null;
  refusal?: string | null;
  annotations?: unknown[] | null;
  audio?: null;
  tool_calls?: unknown[] | null;
  function_call?: null;
}

const roles = new Set<string>(['system', 'developer', 'user', 'assistant']);

/**
 * Checks messages as OpenAI defines them (text only) and reduces each to what a template reads:
 * role and content. `developer` is OpenAI's newer name for `system` and is passed to templates as
 * `system`, the only name Gemma's templates know. `name` is accepted and not rendered (Gemma's
 * format has no speaker names); an assistant turn that was a refusal is rendered as its refusal
 * text; annotations are reply metadata and dropped. What needs a feature this runtime does not
 * have (tool calls, audio, images) is an error naming the field.
 */
export function checkMessages(messages: unknown): ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) throw invalidArg('messages', 'must be a non-empty array');
  return messages.map((m, i) => {
    const where = `messages[${i}]`;
    if (typeof m !== 'object' || m === null) throw invalidArg(where, 'must be an object with role and content');
    const msg = m as Record<string, unknown>;
    const { role, content } = msg;
    if (typeof role !== 'string' || !roles.has(role)) {
      const why = role === 'tool' || role === 'function' ? ' (tool calling is not implemented yet)' : '';
      throw invalidArg(`${where}.role`, `must be one of system, developer, user, assistant, not ${JSON.stringify(role)}${why}`);
    }
    const r = (role === 'developer' ? 'system' : role) as ChatRole;
    if (msg.name !== undefined && msg.name !== null && typeof msg.name !== 'string') throw invalidArg(`${where}.name`, 'must be a string');
    if (Array.isArray(msg.tool_calls) ? msg.tool_calls.length > 0 : msg.tool_calls != null) {
      throw invalidArg(`${where}.tool_calls`, 'tool calling is not implemented yet');
    }
    if (msg.function_call != null) throw invalidArg(`${where}.function_call`, 'function calling is not implemented');
    if (msg.audio != null) throw invalidArg(`${where}.audio`, 'audio is not supported: the models served here read and write text only');
    const refusal = msg.refusal;
    if (refusal !== undefined && refusal !== null && (role !== 'assistant' || typeof refusal !== 'string')) {
      throw invalidArg(`${where}.refusal`, role === 'assistant' ? 'must be a string or null' : 'belongs to assistant messages only');
    }
    if (msg.annotations != null && (role !== 'assistant' || !Array.isArray(msg.annotations))) {
      throw invalidArg(`${where}.annotations`, role === 'assistant' ? 'must be an array or null' : 'belongs to assistant messages only');
    }

    if (typeof content === 'string') return { role: r, content };
    if (content === null || content === undefined) {
      // OpenAI: an assistant turn may carry a refusal instead of content
      if (r === 'assistant' && typeof refusal === 'string') return { role: r, content: refusal };
      throw invalidArg(`${where}.content`, r === 'assistant' ? 'is required (or a refusal)' : 'is required');
    }
    if (!Array.isArray(content) || content.length === 0) throw invalidArg(`${where}.content`, 'must be a string or a non-empty array of text parts');
    const parts = content.map((p, j) => {
      const pw = `${where}.content[${j}]`;
      const type = typeof p === 'object' && p !== null ? (p as { type?: unknown }).type : undefined;
      if (type === 'refusal' && r === 'assistant') {
        const text = (p as { refusal?: unknown }).refusal;
        if (typeof text !== 'string') throw invalidArg(`${pw}.refusal`, 'must be a string');
        return { type: 'text' as const, text };
      }
      if (type !== 'text') {
        const kind = type === 'image_url' ? 'images' : type === 'input_audio' ? 'audio' : type === 'file' ? 'files' : null;
        throw invalidArg(`${pw}.type`, kind ? `${kind} are not supported: the models served here read text only`
          : `must be 'text'${r === 'assistant' ? " or 'refusal'" : ''}, not ${JSON.stringify(type)}`);
      }
      const text = (p as { text?: unknown }).text;
      if (typeof text !== 'string') throw invalidArg(`${pw}.text`, 'must be a string');
      return { type: 'text' as const, text };
    });
    return { role: r, content: parts };
  });
}

/** Text parts joined, for templates that expect a string. */
export function flattenContent(content: string | ChatTextPart[] | unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p) => (p as { text?: string; refusal?: string }).text ?? (p as { refusal?: string }).refusal ?? '').join('\n');
}
