// The server's OpenAI API, relative to the page (it works mounted under any prefix): models,
// readiness, and a streamed chat completion with its numbers (time to first token, tokens/s).

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

function headers(apiKey) {
  return { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) };
}

async function errorOf(res) {
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = await res.json();
    if (body?.error?.message) message = body.error.message;
  } catch {
    // not JSON: the status line says it
  }
  return new ApiError(message, res.status);
}

/** 'ready' | 'loading' | 'unreachable' */
export async function readiness() {
  try {
    const res = await fetch('./ready', { cache: 'no-store' });
    return res.ok ? 'ready' : 'loading';
  } catch {
    return 'unreachable';
  }
}

/** The chat models the server lists (ours say kind "chat"). */
export async function chatModels(apiKey) {
  const res = await fetch('./v1/models', { headers: headers(apiKey) });
  if (!res.ok) throw await errorOf(res);
  const body = await res.json();
  return body.data.filter((m) => m.kind === undefined || m.kind === 'chat').map((m) => m.id);
}

/**
 * Streams one reply. onDelta(text, stats) for each piece; resolves with { text, stats, finishReason }.
 * stats: { tokens, ttftMs, tokensPerSecond } as far as known.
 */
export async function streamChat({ apiKey, model, messages, settings, signal, onDelta }) {
  const started = performance.now();
  const body = {
    model, messages, stream: true, stream_options: { include_usage: true },
    temperature: settings.temperature, top_p: settings.topP, max_tokens: settings.maxTokens,
  };
  const res = await fetch('./v1/chat/completions', { method: 'POST', headers: headers(apiKey), body: JSON.stringify(body), signal });
  if (!res.ok) throw await errorOf(res);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let text = '';
  let pieces = 0;
  let first = 0;
  let finishReason = null;
  const stats = { tokens: 0, ttftMs: 0, tokensPerSecond: 0 };
  const update = (usageTokens) => {
    const now = performance.now();
    stats.tokens = usageTokens ?? pieces;
    stats.ttftMs = first ? first - started : 0;
    const span = (now - first) / 1000;
    stats.tokensPerSecond = first && span > 0 && stats.tokens > 1 ? (stats.tokens - 1) / span : 0;
  };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      for (const line of event.split('\n')) {
        if (!line.startsWith('data:')) continue;
        const data = line.slice(5).trim();
        if (data === '[DONE]') continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new ApiError(chunk.error.message ?? 'the server stopped the reply', 500);
        if (chunk.usage) update(chunk.usage.completion_tokens);
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        if (choice.finish_reason) finishReason = choice.finish_reason;
        const piece = choice.delta?.content;
        if (piece) {
          if (!pieces) first = performance.now();
          pieces++;
          text += piece;
          update();
          onDelta(text, { ...stats });
        }
      }
    }
  }
  return { text, stats, finishReason };
}
