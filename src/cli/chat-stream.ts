// One streamed reply through the openai SDK: text written as it arrives, and the numbers a
// person tuning a server wants (time to first token, tokens per second, gaps between tokens).
import type OpenAI from 'openai';

export type ChatMessage = OpenAI.Chat.Completions.ChatCompletionMessageParam;

export interface ReplyOptions {
  model: string;
  temperature?: number | undefined;
  maxTokens?: number | undefined;
  signal: AbortSignal;
  /** each piece of text as it arrives */
  write: (text: string) => void;
}

export interface ReplyStats {
  /** ms from sending the request to the first piece of text */
  ttftMs: number;
  /** generated tokens (the server's usage), or the pieces of text counted when it gives none */
  tokens: number;
  /** tokens after the first, per second of the time after the first */
  tokensPerSecond: number;
  /** gaps between pieces of text, ms */
  gapsMs: { p50: number; p90: number; p99: number; max: number };
}

export interface Reply {
  text: string;
  /** true when the signal stopped it */
  aborted: boolean;
  finishReason: string | null;
  stats: ReplyStats;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export async function streamReply(client: OpenAI, messages: ChatMessage[], o: ReplyOptions): Promise<Reply> {
  const started = performance.now();
  let first = 0;
  let last = 0;
  const gaps: number[] = [];
  let pieces = 0;
  let text = '';
  let usageTokens: number | undefined;
  let finishReason: string | null = null;
  let aborted: boolean;
  try {
    const stream = await client.chat.completions.create({
      model: o.model,
      messages,
      stream: true,
      stream_options: { include_usage: true },
      ...(o.temperature !== undefined ? { temperature: o.temperature } : {}),
      ...(o.maxTokens !== undefined ? { max_tokens: o.maxTokens } : {}),
    }, { signal: o.signal });
    for await (const chunk of stream) {
      if (chunk.usage) usageTokens = chunk.usage.completion_tokens;
      const choice = chunk.choices[0];
      if (!choice) continue;
      if (choice.finish_reason) finishReason = choice.finish_reason;
      const piece = choice.delta?.content;
      if (!piece) continue;
      const now = performance.now();
      if (pieces === 0) first = now;
      else gaps.push(now - last);
      last = now;
      pieces++;
      text += piece;
      o.write(piece);
    }
  } catch (err) {
    if (!o.signal.aborted) throw err;
  }
  // the SDK's stream may end quietly rather than throw when its signal fires
  aborted = o.signal.aborted;
  const tokens = usageTokens ?? pieces;
  const span = (last - first) / 1000;
  gaps.sort((a, b) => a - b);
  return {
    text, aborted, finishReason,
    stats: {
      ttftMs: pieces ? first - started : 0,
      tokens,
      tokensPerSecond: span > 0 && tokens > 1 ? (tokens - 1) / span : 0,
      gapsMs: { p50: percentile(gaps, 50), p90: percentile(gaps, 90), p99: percentile(gaps, 99), max: gaps.at(-1) ?? 0 },
    },
  };
}

export function formatStats(s: ReplyStats): string {
  const g = s.gapsMs;
  return `${s.tokens} tokens, time to first token ${s.ttftMs.toFixed(0)} ms, ${s.tokensPerSecond.toFixed(1)} tokens/s, ` +
    `gaps p50 ${g.p50.toFixed(1)} / p90 ${g.p90.toFixed(1)} / p99 ${g.p99.toFixed(1)} / max ${g.max.toFixed(1)} ms`;
}
