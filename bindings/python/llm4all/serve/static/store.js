// The chat page's saved state in localStorage: conversations (each a list of messages) and
// this browser's own settings (seed, API key; each model's system prompt and sampling are the
// server's, serversettings.js). Everything is read defensively: a corrupted or hand-edited
// entry starts fresh instead of breaking the page.

const CONVERSATIONS = "llm4all.conversations";
const CURRENT = "llm4all.current";
const SETTINGS = "llm4all.settings";

export const DEFAULT_SETTINGS = {
  seed: "",          // "" = random
  apiKey: "",
};

function read(key, fallback) {
  try {
    const v = JSON.parse(localStorage.getItem(key));
    return v ?? fallback;
  } catch {
    return fallback;
  }
}

/** Writes a value; returns false when storage is full or refused (the page says so). */
function write(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
    return true;
  } catch {
    return false;
  }
}

function str(v) {
  return typeof v === "string" ? v : "";
}

function cleanMessage(m) {
  if (!m || typeof m !== "object" || !["user", "assistant"].includes(m.role)) return null;
  const out = { role: m.role, content: str(m.content) };
  if (m.reasoning) out.reasoning = str(m.reasoning);
  if (m.error) out.error = str(m.error);
  if (m.note) out.note = str(m.note);
  if (m.model) out.model = str(m.model);
  if (m.stats && typeof m.stats === "object") out.stats = m.stats;
  // LocalDocs passages a reply was given (shown as its sources).
  if (Array.isArray(m.sources)) {
    out.sources = m.sources.filter((x) => x && typeof x === "object").map((x) => ({
      file: str(x.file), location: str(x.location), text: str(x.text),
      score: typeof x.score === "number" ? x.score : 0,
    }));
  }
  return out;
}

export function newId() {
  return Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
}

export function loadConversations() {
  const list = read(CONVERSATIONS, []);
  if (!Array.isArray(list)) return [];
  return list
    .filter((c) => c && typeof c === "object" && typeof c.id === "string")
    .map((c) => ({
      id: c.id,
      title: str(c.title) || "New chat",
      updated: Number(c.updated) || 0,
      messages: Array.isArray(c.messages) ? c.messages.map(cleanMessage).filter(Boolean) : [],
      model: str(c.model),   // the model it talks to ("" = the server's first)
      // the LocalDocs collection it answers from ("" = none; absent = not chosen yet)
      ...(typeof c.docs === "string" ? { docs: c.docs } : {}),
    }));
}

export function saveConversations(list) {
  return write(CONVERSATIONS, list);
}

export function loadCurrentId() {
  return str(read(CURRENT, ""));
}

export function saveCurrentId(id) {
  write(CURRENT, id);
}

export function loadSettings() {
  const s = read(SETTINGS, {});
  const out = { ...DEFAULT_SETTINGS };
  if (s && typeof s === "object") for (const k of Object.keys(out)) if (typeof s[k] === "string") out[k] = s[k];
  return out;
}

export function saveSettings(s) {
  return write(SETTINGS, s);
}
