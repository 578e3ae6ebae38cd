import { Template } from '@huggingface/jinja';

import { EngineError } from '../errors.js';
import { GEMMA_TEMPLATE } from './builtin-templates.js';
import { type ChatMessage, flattenContent } from './messages.js';

export interface RenderOptions {
  /** End with the opening of the model's turn (default true). */
  addGenerationPrompt?: boolean;
}

/**
 * A model's chat template (Jinja, as in tokenizer_config.json or GGUF tokenizer.chat_template),
 * rendered with @huggingface/jinja. Falls back to the built-in Gemma format when the model has none.
 */
export class ChatTemplate {
  private readonly template: Template;
  /** whether the template reads content-part arrays itself (Gemma 3's does) */
  private readonly readsParts: boolean;

  constructor(
    readonly source: string,
    private readonly specialTokens: { bos_token: string; eos_token: string },
    readonly builtin = false,
  ) {
    try {
      this.template = new Template(source);
    } catch (err) {
      throw new EngineError('ERR_TEMPLATE', `the model's chat template does not parse: ${(err as Error).message}`, { cause: err });
    }
    this.readsParts = /\[\s*['"]type['"]\s*\]|\.type\b/.test(source);
  }

  static builtinGemma(specialTokens: { bos_token: string; eos_token: string }): ChatTemplate {
    return new ChatTemplate(GEMMA_TEMPLATE, specialTokens, true);
  }

  /**
   * Renders a conversation. If the template rejects a system message (Gemma 1 and 2 templates
   * raise "System role not supported"), the system text is put at the top of the first user
   * message, which is what Gemma 3's own template does, and rendering is tried once more.
   */
  render(messages: readonly ChatMessage[], options: RenderOptions = {}): string {
    const addGenerationPrompt = options.addGenerationPrompt ?? true;
    const forTemplate = messages.map((m) =>
      this.readsParts ? { role: m.role, content: m.content } : { role: m.role, content: flattenContent(m.content) },
    );
    try {
      return this.renderRaw(forTemplate, addGenerationPrompt);
    } catch (err) {
      const merged = mergeSystem(messages);
      if (merged) {
        try {
          return this.renderRaw(merged, addGenerationPrompt);
        } catch {
          // report the first error: it is about what the caller sent
        }
      }
      throw new EngineError('ERR_TEMPLATE', `the chat template failed: ${(err as Error).message}`, { param: 'messages', cause: err });
    }
  }

  private renderRaw(messages: unknown[], addGenerationPrompt: boolean): string {
    return this.template.render({ ...this.specialTokens, messages, add_generation_prompt: addGenerationPrompt });
  }
}

function mergeSystem(messages: readonly ChatMessage[]): { role: string; content: string }[] | undefined {
  const first = messages[0];
  if (!first || first.role !== 'system' || messages.slice(1).some((m) => m.role === 'system')) return undefined;
  const rest = messages.slice(1).map((m) => ({ role: m.role, content: flattenContent(m.content) }));
  const system = flattenContent(first.content);
  if (rest[0]?.role === 'user') rest[0] = { role: 'user', content: `${system}\n\n${rest[0].content}` };
  else rest.unshift({ role: 'user', content: system });
  return rest;
}
