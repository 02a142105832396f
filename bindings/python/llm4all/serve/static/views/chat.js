// The Chat view: conversations (sidebar, saved in localStorage), the composer, streaming a
// reply with a stop button, regenerating the last reply, editing and resending a message,
// exporting a conversation, the model and LocalDocs pickers. Each conversation keeps its model;
// the model's system prompt and sampling come from chat-settings.js.

import { installed, listCollections, listModels, streamChat } from "../api.js";
import { $, h } from "../dom.js";
import * as server from "../serversettings.js";
import * as store from "../store.js";
import { initChatSettings, openSettings, requestSettings } from "./chat-settings.js";
import { fillExportLinks } from "./export.js";
import { copyText, fillMessage, messageNode } from "./message.js";

const ui = {
  sidebar: $("sidebar"), convList: $("conversations"), newChat: $("new-chat"),
  toggleSidebar: $("toggle-sidebar"), title: $("chat-title"), model: $("model-name"),
  openSettings: $("open-settings"), notice: $("notice"), messages: $("messages"),
  composer: $("composer"), prompt: $("prompt"), send: $("send"), stop: $("stop"),
  settings: $("settings"), docs: $("docs-picker"), modelPicker: $("model-picker"),
  exportMenu: $("export-menu"), exportMd: $("export-md"), exportJson: $("export-json"),
};

const state = {
  conversations: store.loadConversations(),
  currentId: store.loadCurrentId(),
  model: "",
  models: [],   // what the server chats with; a conversation keeps the one it was started with
  picked: "",   // the picker's choice while the current conversation has no model yet
  // The reply being streamed: {conv, msg, controller, node}; null when idle.
  active: null,
  editing: -1,  // index of the user message being edited in the current conversation
};

// ------------------------------------------------------------------ helpers

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
  state.editing = -1;
  store.saveCurrentId(id);
  showModel();
  showDocs();
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
    else if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); finish(false); }
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
  document.title = (c && c.messages.length ? c.title + " · " : "") + "llm4all";
}

// ------------------------------------------------------------------ messages

/** The buttons under message k of conv: Edit on the user's, Regenerate on the last reply. */
function actionsFor(conv, k) {
  if (state.active) return [];
  const m = conv.messages[k];
  if (m.role === "user") {
    return [{ text: "Edit", label: "Edit and resend this message", cls: "edit-msg", onClick: () => startEdit(k) }];
  }
  if (k === conv.messages.length - 1) {
    return [{ text: "Regenerate", label: "Regenerate this reply", cls: "regen-msg", onClick: () => regenerate() }];
  }
  return [];
}

function editNode(conv, k) {
  const msg = conv.messages[k];
  const box = h("article", "msg user editing");
  box.setAttribute("aria-label", "Editing your message");
  const form = h("form", "edit-form");
  const id = "edit-" + k;
  const label = h("label", "visually-hidden", "Edit your message");
  label.htmlFor = id;
  const ta = h("textarea", "edit-text");
  ta.id = id;
  ta.value = msg.content;
  ta.rows = Math.min(10, Math.max(2, msg.content.split("\n").length));
  const sendBtn = h("button", "primary", "Send");
  sendBtn.type = "submit";
  const cancel = h("button", null, "Cancel");
  cancel.type = "button";
  const row = h("div", "edit-actions");
  row.append(sendBtn, cancel);
  form.append(label, ta, row);
  box.append(form);
  const stopEditing = () => { state.editing = -1; renderMessages(); ui.prompt.focus(); };
  cancel.addEventListener("click", stopEditing);
  ta.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); stopEditing(); }
    else if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = ta.value;
    if (!text.trim() || state.active) return;
    // The conversation goes on from the edited message: what followed it is replaced (the
    // title stays: it may have been renamed).
    conv.messages = conv.messages.slice(0, k);
    conv.messages.push({ role: "user", content: text });
    state.editing = -1;
    reply(conv);
  });
  return box;
}

function startEdit(k) {
  if (state.active) return;
  state.editing = k;
  renderMessages();
  const ta = ui.messages.querySelector(".edit-text");
  if (ta) { ta.focus(); ta.setSelectionRange(ta.value.length, ta.value.length); }
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
    c.messages.forEach((msg, k) => {
      if (k === state.editing && msg.role === "user" && !state.active) {
        nodes.push(editNode(c, k));
        return;
      }
      const node = messageNode(msg, state.model, actionsFor(c, k));
      if (state.active && state.active.msg === msg) {
        state.active.node = node;          // the reply streaming into this chat, re-attached
        fillMessage(node, msg, true);
      }
      nodes.push(node);
    });
  }
  ui.messages.replaceChildren(...nodes);
  ui.messages.scrollTop = ui.messages.scrollHeight;
  ui.exportMenu.hidden = !(c && c.messages.length);
}

// Follow the reply as it grows unless the user scrolled up to read.
function nearBottom() {
  const m = ui.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
}

// ------------------------------------------------------------------ sending

function requestBody(conv) {
  const s = requestSettings(state.model);
  const messages = [];
  if (s.system.trim()) messages.push({ role: "system", content: s.system });
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
  for (const k of ["temperature", "top_p", "top_k", "seed"]) if (s[k] !== undefined) body[k] = s[k];
  if (s.max_tokens !== undefined && s.max_tokens > 0) body.max_tokens = s.max_tokens;
  return body;
}

function setBusy(busy) {
  ui.send.hidden = busy;
  ui.stop.hidden = !busy;
  ui.composer.classList.toggle("busy", busy);
  if (busy) ui.stop.focus();
}

function send(text) {
  if (state.active) return;
  let conv = current();
  if (!conv) conv = newConversation();
  if (!conv.messages.length) conv.title = titleFrom(text);
  conv.messages.push({ role: "user", content: text });
  reply(conv);
}

/** Asks again for the last reply of the current conversation (the old one is replaced). */
function regenerate() {
  const conv = current();
  if (state.active || !conv || !conv.messages.length) return;
  if (conv.messages.at(-1).role === "assistant") conv.messages.pop();
  if (!conv.messages.length || conv.messages.at(-1).role !== "user") return;
  reply(conv);
}

/** Streams a reply to conv's last (user) message into a new assistant message. */
async function reply(conv) {
  if (state.model) conv.model = state.model;
  conv.docs = ui.docs.value;
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
    for await (const chunk of streamChat(body, { signal: controller.signal })) {
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
      if (e.status === 401) msg.error += " (set the API key in the chat's Settings, ⚙)";
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

// ------------------------------------------------------------------ models and collections

// The current conversation's model when the server still has it (or, before a conversation
// has one, the one picked), else the default model (Settings), else the server's first.
function showModel() {
  const want = current()?.model || state.picked;
  const preferred = server.get().default_model;
  state.model = state.models.includes(want) ? want
    : state.models.includes(preferred) ? preferred : state.models[0] || "";
  ui.model.textContent = state.model || "no model";
  ui.model.title = "Model served: " + (state.model || "none");
  ui.modelPicker.value = state.model;
}

// The models the server answers for, each file once (a .gguf answers with and without its
// suffix: the shorter name is offered), less the embedding models when /api/installed says
// which they are (they cannot chat).
async function chatModels() {
  const names = await listModels();
  try {
    const models = (await installed()).models || [];
    const drop = new Set(models.filter((m) => m.type === "embedding").map((m) => m.id));
    const byPath = new Map();
    for (const m of models) byPath.set(m.path, [...(byPath.get(m.path) || []), m.id]);
    for (const ids of byPath.values()) {
      ids.sort((a, b) => a.length - b.length);
      for (const id of ids.slice(1)) drop.add(id);
    }
    const chat = names.filter((n) => !drop.has(n));
    return chat.length ? chat : names;
  } catch {
    return names;   // an older server: every model is offered
  }
}

/** Reads the models the server answers for into the picker (after a download or delete too). */
export async function refreshModels() {
  try {
    state.models = await chatModels();
    ui.modelPicker.replaceChildren(...state.models.map((m) => {
      const o = h("option", null, m);
      o.value = m;
      return o;
    }));
    // One model: its name is enough; several: the picker replaces the name.
    ui.modelPicker.hidden = state.models.length < 2;
    ui.model.hidden = state.models.length >= 2;
    showModel();
    showNotice(state.models.length ? "" : "No model is installed yet: download one in Models.");
  } catch (e) {
    ui.model.hidden = false;
    ui.modelPicker.hidden = true;
    ui.model.textContent = "offline";
    showNotice(e.status === 401 ? "This server needs an API key: set it in the chat's Settings (⚙)." : e.message);
  }
}

// The collection picker shows only when the server has LocalDocs collections. Each
// conversation keeps its choice; a new one starts with the one in use (kept across reloads).
const DOCS_KEY = "llm4all.localdocs";

function showDocs() {
  const want = current()?.docs;
  if (typeof want === "string" && [...ui.docs.options].some((o) => o.value === want)) ui.docs.value = want;
}

/** Reads the LocalDocs collections into the picker (after one is added or deleted too). */
export async function refreshCollections() {
  try {
    const names = await listCollections();
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
    showDocs();
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

export function focusChat() {
  renderTitle();
  ui.prompt.focus();
}

export function initChat() {
  ui.composer.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = ui.prompt.value;
    if (!text.trim() || state.active) return;
    ui.prompt.value = "";
    autoGrow();
    state.editing = -1;
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
    if (e.key !== "Escape" || ui.settings.open || $("view-chat").hidden) return;
    if (document.body.classList.contains("sidebar-open")) { closeSidebarOnNarrow(); ui.toggleSidebar.focus(); }
    else if (ui.exportMenu.open) { ui.exportMenu.open = false; ui.exportMenu.querySelector("summary").focus(); }
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
    state.editing = -1;
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

  ui.openSettings.addEventListener("click", () => openSettings(state.model));
  initChatSettings({ keyChanged: () => { refreshModels(); refreshCollections(); } });

  ui.exportMenu.addEventListener("toggle", () => {
    if (ui.exportMenu.open) fillExportLinks(current(), ui.exportMd, ui.exportJson);
  });
  for (const a of [ui.exportMd, ui.exportJson]) {
    a.addEventListener("click", () => setTimeout(() => { ui.exportMenu.open = false; }, 0));
  }

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
      renderSidebar();
      renderMessages();
    }
  });
  document.addEventListener("llm4all:models-changed", refreshModels);
  document.addEventListener("llm4all:collections-changed", refreshCollections);
  // A new default model applies to conversations that have not picked one.
  document.addEventListener("llm4all:settings", () => { if (state.models.length && !state.active) showModel(); });

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
    state.picked = state.model;
    ui.model.textContent = state.model;
    const c = current();
    if (c) {
      c.model = state.model;
      persist();
    }
  });
  ui.docs.addEventListener("change", () => {
    try { localStorage.setItem(DOCS_KEY, ui.docs.value); } catch { /* storage full or off: not kept */ }
    const c = current();
    if (c) {
      c.docs = ui.docs.value;
      persist();
    }
  });
  refreshCollections();
  return refreshModels().then(() => { if (!current() || !current().messages.length) renderMessages(); });
}
