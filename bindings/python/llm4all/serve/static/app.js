// The chat page's behaviour: conversations (sidebar, saved in localStorage), the composer,
// streaming a reply with a stop button, settings, copy buttons and per-reply speed.
// Model text reaches the page only through markdown.js (DOM nodes, never HTML strings).

import { renderMarkdown } from "./markdown.js";
import { listCollections, listModels, streamChat } from "./api.js";
import * as store from "./store.js";

const $ = (id) => document.getElementById(id);
const ui = {
  sidebar: $("sidebar"), convList: $("conversations"), newChat: $("new-chat"),
  toggleSidebar: $("toggle-sidebar"), title: $("chat-title"), model: $("model-name"),
  openSettings: $("open-settings"), notice: $("notice"), messages: $("messages"),
  composer: $("composer"), prompt: $("prompt"), send: $("send"), stop: $("stop"),
  settings: $("settings"), settingsForm: $("settings-form"), docs: $("docs-picker"),
  modelPicker: $("model-picker"),
};

const state = {
  conversations: store.loadConversations(),
  currentId: store.loadCurrentId(),
  settings: store.loadSettings(),
  model: "",
  models: [],   // what the server answers for; a conversation keeps the one it was started with
  // The reply being streamed: {conv, msg, controller, node}; null when idle.
  active: null,
};

// ------------------------------------------------------------------ helpers

function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function current() {
  return state.conversations.find((c) => c.id === state.currentId);
}

function persist() {
  if (!store.saveConversations(state.conversations)) {
    showNotice("Could not save the conversations: this browser's storage is full. Delete old chats.");
  }
  store.saveCurrentId(state.currentId);
}

function showNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = !text;
}

async function copyText(text, button) {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    // No async clipboard outside a secure context (a LAN address over http): the old way.
    const ta = h("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "fixed";
    ta.style.opacity = "0";
    document.body.append(ta);
    ta.select();
    try { ok = document.execCommand("copy"); } catch { ok = false; }
    ta.remove();
  }
  if (button) {
    const label = button.textContent;
    button.textContent = ok ? "Copied" : "Copy failed";
    setTimeout(() => { button.textContent = label; }, 1200);
  }
}

function titleFrom(text) {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > 48 ? t.slice(0, 47) + "…" : t || "New chat";
}

// ------------------------------------------------------------------ conversations

function newConversation() {
  const c = { id: store.newId(), title: "New chat", updated: Date.now(), messages: [], model: state.model };
  state.conversations.unshift(c);
  state.currentId = c.id;
  persist();
  return c;
}

function selectConversation(id) {
  state.currentId = id;
  store.saveCurrentId(id);
  showModel();
  renderSidebar();
  renderMessages();
  closeSidebarOnNarrow();
  ui.prompt.focus();
}

function deleteConversation(c) {
  if (!confirm(`Delete "${c.title}"?`)) return;
  if (state.active && state.active.conv === c) state.active.controller.abort();
  state.conversations = state.conversations.filter((x) => x !== c);
  if (state.currentId === c.id) state.currentId = state.conversations[0]?.id || "";
  persist();
  renderSidebar();
  renderMessages();
}

function startRename(c, li) {
  const input = h("input", "rename");
  input.value = c.title;
  input.setAttribute("aria-label", "Conversation name");
  li.replaceChildren(input);
  input.focus();
  input.select();
  let done = false;
  const finish = (save) => {
    if (done) return;
    done = true;
    if (save && input.value.trim()) {
      c.title = input.value.trim().slice(0, 200);
      persist();
    }
    renderSidebar();
    renderTitle();
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); finish(true); }
    else if (e.key === "Escape") { e.preventDefault(); finish(false); }
  });
  input.addEventListener("blur", () => finish(true));
}

function renderSidebar() {
  const items = state.conversations
    .slice()
    .sort((a, b) => b.updated - a.updated)
    .map((c) => {
      const li = h("li", "conv");
      const open = h("button", "conv-open", c.title);
      open.type = "button";
      open.title = c.title;
      if (c.id === state.currentId) {
        li.classList.add("current");
        open.setAttribute("aria-current", "true");
      }
      open.addEventListener("click", () => selectConversation(c.id));
      const rename = h("button", "icon-btn small", "✎");
      rename.type = "button";
      rename.setAttribute("aria-label", `Rename "${c.title}"`);
      rename.addEventListener("click", () => startRename(c, li));
      const del = h("button", "icon-btn small", "✕");
      del.type = "button";
      del.setAttribute("aria-label", `Delete "${c.title}"`);
      del.addEventListener("click", () => deleteConversation(c));
      li.append(open, rename, del);
      return li;
    });
  ui.convList.replaceChildren(...items);
}

function renderTitle() {
  const c = current();
  ui.title.textContent = c ? c.title : "New chat";
  document.title = (c && c.messages.length ? c.title + " · " : "") + "llm4all chat";
}

// ------------------------------------------------------------------ messages

function statsText(s) {
  if (!s) return "";
  const parts = [];
  if (s.tokens) parts.push(`${s.approx ? "~" : ""}${s.tokens} token${s.tokens === 1 ? "" : "s"}`);
  if (s.tps) parts.push(`${s.tps.toFixed(1)} tok/s`);
  if (s.ttft !== undefined) parts.push(`first token ${s.ttft.toFixed(2)} s`);
  return parts.join(" · ");
}

/** One message's node: the text (markdown for replies), reasoning, errors, actions. */
function messageNode(msg) {
  const box = h("article", `msg ${msg.role}`);
  box.setAttribute("aria-label", msg.role === "user" ? "You" : "Assistant");
  const role = h("div", "msg-role", msg.role === "user" ? "You" : msg.model || state.model || "Assistant");
  const body = h("div", "msg-body");
  box.append(role, body);
  fillMessage(box, msg);
  return box;
}

function fillMessage(box, msg, streaming = false) {
  const body = box.querySelector(".msg-body");
  // Screen readers announce the reply once it is complete, not at every streamed piece.
  box.setAttribute("aria-busy", String(streaming));
  const parts = [];
  if (msg.reasoning) {
    // Kept if the user opened it while it streamed.
    const wasOpen = body.querySelector("details.reasoning")?.open || false;
    const d = h("details", "reasoning");
    d.open = wasOpen;
    d.append(h("summary", null, streaming && !msg.content ? "Thinking…" : "Reasoning"));
    const r = h("div", "reasoning-text");
    r.textContent = msg.reasoning;
    d.append(r);
    parts.push(d);
  }
  if (msg.role === "user") {
    parts.push(h("div", "plain", msg.content));
  } else if (msg.content) {
    const md = h("div", "markdown");
    md.append(renderMarkdown(msg.content));
    parts.push(md);
  } else if (streaming && !msg.reasoning) {
    parts.push(h("div", "typing", "…"));
  }
  if (msg.error) {
    const err = h("div", "error", msg.error);
    err.setAttribute("role", "alert");
    parts.push(err);
  }
  if (msg.sources && msg.sources.length) parts.push(sourcesList(msg.sources));
  body.replaceChildren(...parts);

  box.querySelector(".msg-foot")?.remove();
  if (!streaming && (msg.content || msg.stats || msg.note)) {
    const foot = h("div", "msg-foot");
    if (msg.note) foot.append(h("span", "note", msg.note));
    const st = statsText(msg.stats);
    if (st) foot.append(h("span", "stats", st));
    if (msg.content) {
      const copy = h("button", "copy-msg", "Copy");
      copy.type = "button";
      copy.setAttribute("aria-label", "Copy message");
      copy.addEventListener("click", () => copyText(msg.content, copy));
      foot.append(copy);
    }
    box.append(foot);
  }
}

// LocalDocs: the passages a reply was given, numbered as the model was asked to cite them.
function sourcesList(sources) {
  const box = h("div", "sources");
  box.append(h("div", "sources-title", "Sources"));
  const list = h("ol", "sources-list");
  for (const s of sources) {
    const item = h("li", "source");
    const name = String(s.file || "").split(/[\\/]/).pop();
    item.append(h("span", "source-file", name));
    if (s.location) item.append(h("span", "source-loc", ", " + s.location));
    item.title = (s.file || "") + "\n\n" + (s.text || "");
    list.append(item);
  }
  box.append(list);
  return box;
}

function renderMessages() {
  renderTitle();
  const c = current();
  const nodes = [];
  if (!c || !c.messages.length) {
    const empty = h("div", "empty");
    empty.append(h("p", null, "Ask anything."),
                 h("p", "hint", state.model ? `Model: ${state.model}` : ""));
    nodes.push(empty);
  } else {
    for (const msg of c.messages) {
      const node = messageNode(msg);
      if (state.active && state.active.msg === msg) {
        state.active.node = node;          // the reply streaming into this chat, re-attached
        fillMessage(node, msg, true);
      }
      nodes.push(node);
    }
  }
  ui.messages.replaceChildren(...nodes);
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

// Follow the reply as it grows unless the user scrolled up to read.
function nearBottom() {
  const m = ui.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
}

// ------------------------------------------------------------------ sending

function numberSetting(name, parse) {
  const v = state.settings[name].trim();
  if (v === "") return undefined;
  const n = parse(v);
  return Number.isFinite(n) ? n : undefined;
}

function requestBody(conv) {
  const messages = [];
  if (state.settings.system.trim()) messages.push({ role: "system", content: state.settings.system });
  const turns = conv.messages;
  for (let k = 0; k < turns.length; k++) {
    const m = turns[k];
    // A turn whose reply failed or came back empty is left out, question and all: templates
    // that insist on alternating roles would refuse two user messages in a row.
    if (m.role === "assistant" && !m.content) continue;
    const reply = turns[k + 1];
    if (m.role === "user" && reply && reply.role === "assistant" && !reply.content) continue;
    messages.push({ role: m.role, content: m.content });
  }
  const body = { messages, stream_options: { include_usage: true } };
  if (state.model) body.model = state.model;
  if (ui.docs.value) body.localdocs = [ui.docs.value];
  const t = numberSetting("temperature", parseFloat);
  if (t !== undefined) body.temperature = t;
  const p = numberSetting("top_p", parseFloat);
  if (p !== undefined) body.top_p = p;
  const mx = numberSetting("max_tokens", (v) => parseInt(v, 10));
  if (mx !== undefined && mx > 0) body.max_tokens = mx;
  const seed = numberSetting("seed", (v) => parseInt(v, 10));
  if (seed !== undefined) body.seed = seed;
  return body;
}

function setBusy(busy) {
  ui.send.hidden = busy;
  ui.stop.hidden = !busy;
  ui.composer.classList.toggle("busy", busy);
  if (busy) ui.stop.focus();
}

async function send(text) {
  if (state.active) return;
  let conv = current();
  if (!conv) conv = newConversation();
  if (state.model) conv.model = state.model;
  if (!conv.messages.length) conv.title = titleFrom(text);
  conv.messages.push({ role: "user", content: text });
  const body = requestBody(conv);
  const msg = { role: "assistant", content: "" };
  if (state.model) msg.model = state.model;
  conv.messages.push(msg);
  conv.updated = Date.now();
  persist();
  const controller = new AbortController();
  state.active = { conv, msg, controller, node: null };
  renderSidebar();
  renderMessages();
  setBusy(true);

  const t0 = performance.now();
  let tFirst = 0;
  let chunks = 0;
  let usage = null;
  let finish = "";
  let pending = false;
  let saved = performance.now();
  const paint = () => {
    pending = false;
    if (performance.now() - saved > 1000) {      // a reload mid-reply keeps most of it
      saved = performance.now();
      persist();
    }
    const a = state.active;
    if (a && a.msg === msg && a.node && a.node.isConnected) {
      const follow = nearBottom();
      fillMessage(a.node, msg, true);
      if (follow) ui.messages.scrollTop = ui.messages.scrollHeight;
    }
  };
  try {
    for await (const chunk of streamChat(body, { apiKey: state.settings.apiKey, signal: controller.signal })) {
      if (chunk.usage) usage = chunk.usage;
      if (Array.isArray(chunk.sources)) msg.sources = chunk.sources;
      const choice = chunk.choices && chunk.choices[0];
      if (!choice) continue;
      const d = choice.delta || {};
      const piece = typeof d.content === "string" ? d.content : "";
      const thought = typeof d.reasoning_content === "string" ? d.reasoning_content : "";
      if (piece || thought) {
        if (!tFirst) tFirst = performance.now();
        chunks++;
        msg.content += piece;
        if (thought) msg.reasoning = (msg.reasoning || "") + thought;
        if (!pending) { pending = true; requestAnimationFrame(paint); }
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    if (finish === "length") msg.note = "Stopped: the token limit was reached.";
    else if (!msg.content && !msg.reasoning) msg.note = "The model gave an empty reply.";
  } catch (e) {
    if (e.name === "AbortError") {
      msg.note = "Stopped.";
    } else {
      msg.error = e.message || String(e);
      if (e.status === 401) msg.error += " (set the API key in Settings)";
    }
  }
  const tEnd = performance.now();
  const tokens = usage && usage.completion_tokens ? usage.completion_tokens : chunks;
  if (tokens && tFirst) {
    const span = (tEnd - tFirst) / 1000;
    msg.stats = {
      tokens,
      approx: !(usage && usage.completion_tokens),
      ttft: (tFirst - t0) / 1000,
      // A reply that arrived all at once (a proxy buffered it) has no meaningful speed.
      tps: tokens > 1 && span > 0.05 ? (tokens - 1) / span : undefined,
    };
  }
  state.active = null;
  conv.updated = Date.now();
  persist();
  setBusy(false);
  if (conv === current()) renderMessages();
  ui.prompt.focus();
}

// ------------------------------------------------------------------ settings

function openSettings() {
  for (const [k, v] of Object.entries(state.settings)) {
    const input = ui.settingsForm.elements[k];
    if (input) input.value = v;
  }
  ui.settings.showModal();
}

function readSettings() {
  for (const k of Object.keys(state.settings)) {
    const input = ui.settingsForm.elements[k];
    if (input) state.settings[k] = input.value;
  }
  store.saveSettings(state.settings);
}

// The current conversation's model when the server still has it, else the server's first.
function showModel() {
  const want = current()?.model;
  state.model = state.models.includes(want) ? want : state.models[0] || "";
  ui.model.textContent = state.model || "no model";
  ui.model.title = "Model served: " + (state.model || "none");
  ui.modelPicker.value = state.model;
}

async function loadModel() {
  try {
    state.models = await listModels(state.settings.apiKey);
    ui.modelPicker.replaceChildren(...state.models.map((m) => {
      const o = h("option", null, m);
      o.value = m;
      return o;
    }));
    // One model: its name is enough; several: the picker replaces the name.
    ui.modelPicker.hidden = state.models.length < 2;
    ui.model.hidden = state.models.length >= 2;
    showModel();
    showNotice("");
  } catch (e) {
    ui.model.hidden = false;
    ui.modelPicker.hidden = true;
    ui.model.textContent = "offline";
    showNotice(e.status === 401 ? "This server needs an API key: set it in Settings." : e.message);
  }
}

// The collection picker shows only when the server has LocalDocs collections; the choice is
// remembered across reloads.
const DOCS_KEY = "llm4all.localdocs";

async function loadCollections() {
  try {
    const names = await listCollections(state.settings.apiKey);
    let saved = "";
    try { saved = localStorage.getItem(DOCS_KEY) || ""; } catch { /* no storage: nothing kept */ }
    const keep = ui.docs.value || saved;
    ui.docs.replaceChildren(ui.docs.options[0]);
    for (const n of names) {
      const o = h("option", null, n);
      o.value = n;
      ui.docs.append(o);
    }
    if (names.includes(keep)) ui.docs.value = keep;
    ui.docs.hidden = !names.length;
  } catch {
    ui.docs.hidden = true;   // an older server, or no access: chat works without it
  }
}

// ------------------------------------------------------------------ narrow screens

function closeSidebarOnNarrow() {
  document.body.classList.remove("sidebar-open");
  ui.toggleSidebar.setAttribute("aria-expanded", "false");
}

// ------------------------------------------------------------------ wiring

function autoGrow() {
  ui.prompt.style.height = "auto";
  ui.prompt.style.height = Math.min(ui.prompt.scrollHeight, 240) + "px";
}

ui.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = ui.prompt.value;
  if (!text.trim() || state.active) return;
  ui.prompt.value = "";
  autoGrow();
  send(text);
});

ui.prompt.addEventListener("keydown", (e) => {
  // Enter sends; Shift+Enter (and Enter while an input method composes) makes a new line.
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
    e.preventDefault();
    ui.composer.requestSubmit();
  }
});
ui.prompt.addEventListener("input", autoGrow);

ui.stop.addEventListener("click", () => state.active && state.active.controller.abort());
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape" || ui.settings.open) return;
  if (document.body.classList.contains("sidebar-open")) { closeSidebarOnNarrow(); ui.toggleSidebar.focus(); }
  else if (state.active) state.active.controller.abort();
});
// On a narrow screen a tap beside the open sidebar closes it.
document.querySelector(".chat").addEventListener("click", (e) => {
  if (document.body.classList.contains("sidebar-open") && !ui.toggleSidebar.contains(e.target)) {
    closeSidebarOnNarrow();
  }
});

ui.newChat.addEventListener("click", () => {
  const c = current();
  if (c && !c.messages.length) { selectConversation(c.id); return; }   // reuse an empty one
  newConversation();
  renderSidebar();
  renderMessages();
  closeSidebarOnNarrow();
  ui.prompt.focus();
});

ui.toggleSidebar.addEventListener("click", () => {
  const open = document.body.classList.toggle("sidebar-open");
  ui.toggleSidebar.setAttribute("aria-expanded", String(open));
});

ui.openSettings.addEventListener("click", openSettings);
ui.settings.addEventListener("close", () => {
  const keyChanged = ui.settingsForm.elements.apiKey.value !== state.settings.apiKey;
  readSettings();
  if (keyChanged) loadModel();
});

// Copy buttons inside rendered code blocks (markdown.js makes them; they carry no handler).
ui.messages.addEventListener("click", (e) => {
  const btn = e.target.closest(".code-block .copy-btn");
  if (!btn) return;
  const code = btn.closest(".code-block").querySelector("pre code");
  copyText(code ? code.textContent : "", btn);
});

// Another tab changed the saved chats: show them (unless this tab is streaming into them).
window.addEventListener("storage", (e) => {
  if (e.key && e.key.startsWith("llm4all.") && !state.active) {
    state.conversations = store.loadConversations();
    state.settings = store.loadSettings();
    renderSidebar();
    renderMessages();
  }
});

// A reply interrupted by a reload was saved empty and unfinished: say so.
for (const c of state.conversations) {
  const last = c.messages.at(-1);
  if (last && last.role === "assistant" && !last.content && !last.error && !last.note) {
    last.note = "Interrupted.";
  }
}
if (!current()) state.currentId = state.conversations[0]?.id || "";
renderSidebar();
renderMessages();
ui.modelPicker.addEventListener("change", () => {
  state.model = ui.modelPicker.value;
  ui.model.textContent = state.model;
  const c = current();
  if (c) {
    c.model = state.model;
    persist();
  }
});
ui.docs.addEventListener("change", () => {
  try { localStorage.setItem(DOCS_KEY, ui.docs.value); } catch { /* storage full or off: not kept */ }
});
loadCollections();
loadModel().then(() => { if (!current() || !current().messages.length) renderMessages(); });
ui.prompt.focus();
document.body.dataset.ready = "1";
