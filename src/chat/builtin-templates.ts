/**
 * The Gemma turn format, for models whose files carry no chat template. Every Gemma generation
 * uses the same markers: <start_of_turn>{user|model}\n ... <end_of_turn>\n. A system message
 * has no turn of its own; as Gemma 3's template does, it opens the first user turn, followed
 * by a blank line. Contents arrive here already flattened to strings.
 */
export const GEMMA_TEMPLATE = `{{ bos_token }}
{%- set ns = namespace(prefix='') -%}
{%- set turns = messages -%}
{%- if messages and messages[0]['role'] == 'system' -%}
  {%- set ns.prefix = messages[0]['content'] + '\\n\\n' -%}
  {%- set turns = messages[1:] -%}
{%- endif -%}
{%- for m in turns -%}
  {%- if (m['role'] == 'user') != (loop.index0 % 2 == 0) -%}
    {{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/... (one system message may come first)') }}
  {%- endif -%}
  {{ '<start_of_turn>' + ('model' if m['role'] == 'assistant' else m['role']) + '\\n' }}
  {%- if loop.first %}{{ ns.prefix }}{% endif -%}
  {{ m['content'] | trim }}{{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif -%}`;
