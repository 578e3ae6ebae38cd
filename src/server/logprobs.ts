// Token log-probabilities in OpenAI's two shapes: chat's `logprobs.content[]` and the legacy
// completions `{tokens, token_logprobs, top_logprobs, text_offset}`.
import type { SampledToken } from '../sampling/sampler.js';
import type { Tokenizer } from '../tokenizer/types.js';

export interface ChatTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[] | null;
  top_logprobs: { token: string; logprob: number; bytes: number[] | null }[];
}

export interface LegacyLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

/** Token text and bytes, cached: the same few thousand tokens come back again and again. */
export class TokenStrings {
  private readonly cache = new Map<number, { token: string; bytes: number[] }>();
  constructor(private readonly tokenizer: Tokenizer, private readonly endTokens: ReadonlySet<number>) {}

  get(id: number): { token: string; bytes: number[] } {
    let v = this.cache.get(id);
    if (!v) {
      if (this.cache.size > 50_000) this.cache.clear();
      // the token's own bytes; `token` is their UTF-8 reading (a byte piece of a character reads as U+FFFD)
      v = { token: this.tokenizer.decode([id]), bytes: [...this.tokenizer.tokenBytes(id)] };
      this.cache.set(id, v);
    }
    return v;
  }

  /** The token that ended a generation (EOS, <end_of_turn>) is not part of the text: not listed. */
  visible(tokens: readonly SampledToken[]): SampledToken[] {
    return tokens.filter((t) => !this.endTokens.has(t.id));
  }

  chat(tokens: readonly SampledToken[]): ChatTokenLogprob[] {
    return this.visible(tokens).map((t) => {
      const { token, bytes } = this.get(t.id);
      return {
        token, logprob: t.logprob ?? 0, bytes,
        top_logprobs: (t.top ?? []).map((a) => {
          const s = this.get(a.id);
          return { token: s.token, logprob: a.logprob, bytes: s.bytes };
        }),
      };
    });
  }

  /** How far these tokens move text_offset. */
  textLength(tokens: readonly SampledToken[]): number {
    let n = 0;
    for (const t of this.visible(tokens)) if (!this.tokenizer.isSpecial(t.id)) n += this.get(t.id).token.length;
    return n;
  }

  /** Legacy shape; `offset` is the text length generated before these tokens. */
  legacy(tokens: readonly SampledToken[], offset: number): LegacyLogprobs {
    const out: LegacyLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
    let at = offset;
    for (const t of this.visible(tokens)) {
      const { token } = this.get(t.id);
      out.tokens.push(token);
      out.token_logprobs.push(t.logprob ?? 0);
      // OpenAI's convention: the N best, plus the sampled token when it is not among them
      const top: Record<string, number> = {};
      for (const a of t.top ?? []) top[this.get(a.id).token] ??= a.logprob;
      top[token] ??= t.logprob ?? 0;
      out.top_logprobs.push(top);
      out.text_offset.push(at);
      // special tokens add nothing to the text
      if (!this.tokenizer.isSpecial(t.id)) at += token.length;
    }
    return out;
  }
}
