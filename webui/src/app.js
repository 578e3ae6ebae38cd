// The chat page: conversations kept in the browser, replies streamed from /v1/chat/completions
// with their numbers, Stop that aborts the request (the server then stops generating),
// regenerate and edit-and-resend, settings and presets, an API key when the server wants one.
import { html } from 'htm/preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';

import { ApiError, chatModels, readiness, streamChat } from './api.js';
import { renderMarkdown } from './markdown.js';
import {
  loadApiKey, loadConversations, loadSettings, newConversation, parseImport, PRESETS, saveApiKey, saveConversations, saveSettings,
} from './store.js';

function copy(text) {
  navigator.clipboard?.writeText(text).catch(() => undefined);
}

function Stats({ stats }) {
  if (!stats) return null;
  return html`<p class="stats">${stats.tokens} tokens · ${stats.tokensPerSecond.toFixed(1)} tokens/s · first token in ${Math.round(stats.ttftMs)} ms</p>`;
}

function Reply({ message, last, busy, onRegenerate }) {
  // every streamed piece re-renders the conversation: only a changed reply renders its Markdown again
  const rendered = useMemo(() => ({ __html: renderMarkdown(message.content) }), [message.content]);
  // code blocks' Copy buttons (the markdown is HTML of our own renderer; no script in it)
  const onClick = (e) => {
    const button = e.target.closest?.('[data-copy-code]');
    if (button) copy(button.parentElement.querySelector('code')?.textContent ?? '');
  };
  return html`
    <article class="msg assistant" aria-label="Reply">
      <div class="body" onClick=${onClick} dangerouslySetInnerHTML=${rendered} />
      <${Stats} stats=${message.stats} />
      ${message.stopped ? html`<p class="note">(stopped)</p>` : null}
      <div class="actions">
        <button type="button" onClick=${() => copy(message.content)}>Copy</button>
        ${last && !busy ? html`<button type="button" onClick=${onRegenerate}>Regenerate</button>` : null}
      </div>
    </article>`;
}

function UserMessage({ message, last, busy, onEdit }) {
  return html`
    <div class="msg user">
      <div class="body">${message.content}</div>
      <div class="actions">
        <button type="button" onClick=${() => copy(message.content)}>Copy</button>
        ${last && !busy ? html`<button type="button" onClick=${onEdit}>Edit</button>` : null}
      </div>
    </div>`;
}

function Settings({ settings, onChange }) {
  const set = (k) => (e) => onChange({ ...settings, [k]: k === 'system' ? e.target.value : Number(e.target.value) });
  return html`
    <section class="settings" aria-label="Settings">
      <label>System prompt <textarea rows="3" value=${settings.system} onInput=${set('system')} /></label>
      <label>Temperature <input type="number" min="0" max="2" step="0.1" value=${settings.temperature} onInput=${set('temperature')} /></label>
      <label>Top p <input type="number" min="0" max="1" step="0.05" value=${settings.topP} onInput=${set('topP')} /></label>
      <label>Max tokens <input type="number" min="1" max="32768" step="1" value=${settings.maxTokens} onInput=${set('maxTokens')} /></label>
      <div class="presets">
        ${Object.entries(PRESETS).map(([name, p]) => html`<button type="button" onClick=${() => onChange({ ...settings, ...p })}>${name}</button>`)}
      </div>
    </section>`;
}

export function App() {
  const [conversations, setConversations] = useState(() => {
    const list = loadConversations();
    return list.length ? list : [newConversation()];
  });
  const [currentId, setCurrentId] = useState(() => conversations[0].id);
  const [settings, setSettings] = useState(loadSettings);
  const [apiKey, setApiKey] = useState(loadApiKey);
  const [needKey, setNeedKey] = useState(false);
  const [models, setModels] = useState([]);
  const [model, setModel] = useState('');
  const [status, setStatus] = useState('ready');
  const [showSettings, setShowSettings] = useState(false);
  const [draft, setDraft] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [recheck, setRecheck] = useState(0); // bumped when a request finds the server gone
  const abort = useRef(null);
  const input = useRef(null);
  const current = conversations.find((c) => c.id === currentId) ?? conversations[0];

  useEffect(() => {
    if (!saveConversations(conversations)) setError('this browser would not store the conversations (storage full or turned off); export them to keep them');
  }, [conversations]);
  useEffect(() => saveSettings(settings), [settings]);

  // readiness (a banner while the model loads or the server is gone), then the model list
  useEffect(() => {
    let stopped = false;
    let timer;
    const check = async () => {
      const s = await readiness();
      if (stopped) return;
      setStatus(s);
      if (s === 'ready') {
        try {
          const list = await chatModels(apiKey);
          setModels(list);
          setModel((m) => (list.includes(m) ? m : list[0] ?? ''));
          setNeedKey(false);
        } catch (err) {
          if (err instanceof ApiError && err.status === 401) setNeedKey(true);
          else setError(err.message);
        }
      } else {
        timer = setTimeout(check, 1000);
      }
    };
    check();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [apiKey, recheck]);

  const update = (id, fn) => setConversations((list) => list.map((c) => (c.id === id ? fn(c) : c)));

  const run = async (conv, messages) => {
    setError(null);
    setBusy(true);
    const controller = new AbortController();
    abort.current = controller;
    const base = settings.system ? [{ role: 'system', content: settings.system }] : [];
    const reply = { role: 'assistant', content: '', stats: null };
    update(conv.id, (c) => ({ ...c, messages: [...messages, reply], title: c.title === 'New chat' ? messages[0].content.slice(0, 40) : c.title }));
    const setReply = (r) => update(conv.id, (c) => ({ ...c, messages: [...messages, r] }));
    try {
      const result = await streamChat({
        apiKey, model, settings, signal: controller.signal,
        messages: [...base, ...messages.map(({ role, content }) => ({ role, content }))],
        onDelta: (text, stats) => setReply({ role: 'assistant', content: text, stats }),
      });
      setReply({ role: 'assistant', content: result.text, stats: result.stats });
    } catch (err) {
      if (controller.signal.aborted) {
        update(conv.id, (c) => {
          const last = c.messages.at(-1);
          return { ...c, messages: [...c.messages.slice(0, -1), { ...last, stopped: true }] };
        });
      } else {
        // the request failed: the empty reply goes, the message stays for a retry
        update(conv.id, (c) => ({ ...c, messages }));
        if (err instanceof ApiError && err.status === 401) setNeedKey(true);
        if (!(err instanceof ApiError)) {
          // no answer at all: the server is gone or restarting; watch for it again
          setError('the server could not be reached');
          setRecheck((n) => n + 1);
        } else {
          setError(err.message ?? String(err));
        }
      }
    } finally {
      abort.current = null;
      setBusy(false);
    }
  };

  const send = () => {
    const text = draft.trim();
    if (!text || busy || !model) return;
    setDraft('');
    run(current, [...current.messages, { role: 'user', content: text }]);
  };
  const stop = () => abort.current?.abort();
  const retry = () => {
    if (current.messages.at(-1)?.role === 'user') run(current, current.messages);
  };
  const regenerate = () => run(current, current.messages.slice(0, -1));
  // the last question back into the message box; it and its reply leave the conversation
  const edit = () => {
    const at = current.messages.findLastIndex((m) => m.role === 'user');
    if (at < 0) return;
    setDraft(current.messages[at].content);
    update(current.id, (c) => ({ ...c, messages: c.messages.slice(0, at) }));
    setError(null);
    input.current?.focus();
  };

  const newChat = () => {
    const c = newConversation();
    setConversations((list) => [c, ...list]);
    setCurrentId(c.id);
    setError(null);
  };
  const rename = (c) => {
    const title = prompt('Name of the conversation', c.title);
    if (title) update(c.id, (x) => ({ ...x, title }));
  };
  const remove = (c) => {
    const rest = conversations.filter((x) => x.id !== c.id);
    const list = rest.length ? rest : [newConversation()];
    setConversations(list);
    if (c.id === currentId) setCurrentId(list[0].id);
  };
  const exportAll = () => {
    const blob = new Blob([JSON.stringify(conversations, null, 2)], { type: 'application/json' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = 'conversations.json';
    a.click();
    URL.revokeObjectURL(a.href);
  };
  const importFile = async (e) => {
    const file = e.target.files?.[0];
    if (!file) return;
    try {
      const list = parseImport(await file.text());
      setConversations((old) => [...list, ...old]);
      setCurrentId(list[0].id);
    } catch (err) {
      setError(`could not import ${file.name}: ${err.message}`);
    }
    e.target.value = '';
  };

  const onKey = (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    } else if (e.key === 'Escape') {
      stop();
    }
  };

  const last = current.messages.length - 1;
  const lastUser = current.messages.findLastIndex((m) => m.role === 'user');
  return html`
    <div class="layout">
      <header>
        <button type="button" onClick=${newChat}>New chat</button>
        <label class="model">Model
          <select aria-label="Model" value=${model} onChange=${(e) => setModel(e.target.value)}>
            ${models.map((m) => html`<option value=${m}>${m}</option>`)}
          </select>
        </label>
        <button type="button" aria-expanded=${showSettings} onClick=${() => setShowSettings(!showSettings)}>Settings</button>
      </header>
      ${status === 'loading' ? html`<div class="banner" role="status">The server is loading its model…</div>` : null}
      ${status === 'unreachable' ? html`<div class="banner" role="status">The server cannot be reached; retrying…</div>` : null}
      ${needKey ? html`
        <form class="banner key" onSubmit=${(e) => {
          e.preventDefault();
          const key = new FormData(e.target).get('key');
          saveApiKey(key);
          setApiKey(key);
          setError(null);
        }}>
          <label>This server needs an API key <input name="key" type="password" aria-label="API key" autocomplete="off" /></label>
          <button type="submit">Save key</button>
        </form>` : null}
      ${showSettings ? html`<${Settings} settings=${settings} onChange=${setSettings} />` : null}
      <nav aria-label="Conversations">
        <ul>
          ${conversations.map((c) => html`
            <li class=${c.id === current.id ? 'current' : ''}>
              <button type="button" class="open" aria-current=${c.id === current.id ? 'page' : undefined} onClick=${() => setCurrentId(c.id)}>${c.title}</button>
              <button type="button" aria-label=${`Rename ${c.title}`} onClick=${() => rename(c)}>✎</button>
              <button type="button" aria-label=${`Delete ${c.title}`} onClick=${() => remove(c)}>✕</button>
            </li>`)}
        </ul>
        <div class="io">
          <button type="button" onClick=${exportAll}>Export</button>
          <label class="import">Import <input type="file" accept="application/json,.json" aria-label="Import conversations" onChange=${importFile} /></label>
        </div>
      </nav>
      <main>
        <div class="messages">
          ${current.messages.map((m, i) => (m.role === 'assistant'
            ? html`<${Reply} key=${i} message=${m} last=${i === last} busy=${busy} onRegenerate=${regenerate} />`
            : html`<${UserMessage} key=${i} message=${m} last=${i === lastUser} busy=${busy} onEdit=${edit} />`))}
          ${error ? html`<div class="error" role="alert">${error} <button type="button" onClick=${retry}>Retry</button></div>` : null}
        </div>
        <form class="composer" onSubmit=${(e) => {
          e.preventDefault();
          send();
        }}>
          <textarea ref=${input} aria-label="Message" rows="2" placeholder="Message (Enter sends, Shift+Enter adds a line)" value=${draft}
            onInput=${(e) => setDraft(e.target.value)} onKeyDown=${onKey} />
          ${busy
            ? html`<button type="button" onClick=${stop}>Stop</button>`
            : html`<button type="submit" disabled=${!model}>Send</button>`}
        </form>
      </main>
    </div>`;
}
