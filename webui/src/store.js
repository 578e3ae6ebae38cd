// What the page keeps in the browser: conversations, settings and the API key (localStorage).

const CONVERSATIONS = 'potron.conversations';
const SETTINGS = 'potron.settings';
const API_KEY = 'potron.apiKey';

export const PRESETS = {
  Precise: { temperature: 0.2, topP: 0.9 },
  Balanced: { temperature: 0.7, topP: 0.95 },
  Creative: { temperature: 1.0, topP: 1 },
};
export const DEFAULT_SETTINGS = { system: '', temperature: 0.7, topP: 0.95, maxTokens: 1024 };

function read(key, fallback) {
  try {
    const v = localStorage.getItem(key);
    return v === null ? fallback : JSON.parse(v);
  } catch {
    return fallback;
  }
}

export function loadConversations() {
  const list = read(CONVERSATIONS, []);
  return Array.isArray(list) ? list.filter(isConversation) : [];
}

/** false when the browser refused (storage full or off): the page says so, and keeps working */
export function saveConversations(list) {
  try {
    localStorage.setItem(CONVERSATIONS, JSON.stringify(list));
    return true;
  } catch {
    return false;
  }
}

export function loadSettings() {
  return { ...DEFAULT_SETTINGS, ...read(SETTINGS, {}) };
}

export function saveSettings(s) {
  try {
    localStorage.setItem(SETTINGS, JSON.stringify(s));
  } catch {
    // settings then last for this visit only
  }
}

export function loadApiKey() {
  return localStorage.getItem(API_KEY) ?? '';
}

export function saveApiKey(key) {
  if (key) localStorage.setItem(API_KEY, key);
  else localStorage.removeItem(API_KEY);
}

export function newConversation() {
  return { id: crypto.randomUUID(), title: 'New chat', created: Date.now(), messages: [] };
}

const ROLES = new Set(['user', 'assistant', 'system']);

export function isConversation(c) {
  return c && typeof c.id === 'string' && typeof c.title === 'string' && Array.isArray(c.messages) &&
    c.messages.every((m) => m && ROLES.has(m.role) && typeof m.content === 'string');
}

/** An exported file: one conversation or a list of them. */
export function parseImport(text) {
  const json = JSON.parse(text);
  const list = Array.isArray(json) ? json : [json];
  if (!list.every(isConversation)) throw new Error('not a conversation export (each needs id, title and messages with role and content)');
  return list.map((c) => ({ ...c, id: crypto.randomUUID() }));
}
