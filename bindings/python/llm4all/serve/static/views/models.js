// The Models view: the installed models (size, whether loaded, Delete) and the catalogue
// (search, size, RAM need, a "fits this machine" badge, Download with live progress from the
// server's event stream, Cancel). A finished download or a deletion tells the chat to re-read
// its model list ("llm4all:models-changed").

import * as api from "../api.js";
import { $, bytes, h, say } from "../dom.js";

const ui = {
  status: $("models-status"), installed: $("installed-list"), catalog: $("catalog-list"),
  search: $("catalog-search"), memory: $("memory-note"), count: $("catalog-count"),
};

const state = {
  catalog: [],          // the last /api/catalog models
  installed: [],        // the last /api/installed models
  downloads: new Map(), // catalogue id -> the latest download object seen this session
  watching: new Map(),  // download id -> AbortController of its event stream
  query: "",
  loaded: false,
};

// ------------------------------------------------------------------ rendering

// Lists are rebuilt whole; the control that had focus gets it back through its data-key.
function keepFocus(render) {
  const key = document.activeElement?.dataset?.key;
  render();
  if (key) document.querySelector(`[data-key="${CSS.escape(key)}"]`)?.focus();
}

function badge(text, cls, title) {
  const b = h("span", "badge " + cls, text);
  if (title) b.title = title;
  return b;
}

function actionButton(text, cls, label, key, onClick) {
  const b = h("button", cls, text);
  b.type = "button";
  b.setAttribute("aria-label", label);
  b.dataset.key = key;
  b.addEventListener("click", onClick);
  return b;
}

function progressLine(m, d) {
  const box = h("div", "download");
  const bar = h("progress", "bar");
  bar.max = 100;
  const pct = Math.max(0, Math.min(100, Number(d.percent) || (d.total ? (100 * d.received) / d.total : 0)));
  bar.value = d.state === "done" ? 100 : pct;
  bar.setAttribute("aria-label", `Download of ${m.name || m.id}`);
  const shownPct = d.state === "done" ? 100 : pct;
  let text = `${shownPct.toFixed(0)}% · ${bytes(d.received || 0)} of ${bytes(d.total || m.size_bytes)}`;
  if (d.state === "done") text = `Downloaded · ${bytes(d.total || m.size_bytes)}`;
  else if (d.state === "cancelled") text = `Cancelled at ${pct.toFixed(0)}% (a new download resumes it)`;
  else if (d.state === "error") text = `Failed: ${d.error || "unknown error"}`;
  const label = h("span", "download-text" + (d.state === "error" ? " is-error" : ""), text);
  box.dataset.state = d.state;
  box.dataset.percent = String(shownPct);
  box.append(bar, label);
  return box;
}

function catalogCard(m) {
  const li = h("li", "card model-card");
  li.dataset.model = m.id;
  const head = h("div", "card-head");
  head.append(h("h3", "card-title", m.name || m.id), h("code", "card-id", m.id));
  const badges = h("div", "badges");
  if (m.fits) badges.append(badge("Fits this machine", "ok", "Its memory need is below the memory available now"));
  else badges.append(badge("Needs more memory", "warn", "Its memory need is above the memory available now"));
  if (m.type === "embedding") badges.append(badge("Embedding", "muted", "For LocalDocs, not for chat"));
  if (m.installed) badges.append(badge("Installed", "ok-strong"));
  const meta = h("p", "card-meta", `Download ${bytes(m.size_bytes)} · needs ${bytes(m.ram_bytes)} of memory`);
  li.append(head, badges, meta);
  if (m.description) li.append(h("p", "card-desc", m.description));

  const d = state.downloads.get(m.id);
  const actions = h("div", "card-actions");
  const running = d ? d.state === "running" : m.downloading;
  if (d) li.append(progressLine(m, d));
  else if (running) li.append(progressLine(m, { state: "running", received: 0, total: m.size_bytes, percent: 0 }));
  if (running) {
    actions.append(actionButton("Cancel", "", `Cancel the download of ${m.id}`, "cancel:" + m.id,
                                () => cancel(m.id)));
  } else if (m.installed) {
    actions.append(actionButton("Delete", "danger-outline", `Delete ${m.id}`, "delete:" + m.id, () => remove(m.id)));
  } else {
    actions.append(actionButton("Download", "primary", `Download ${m.id} (${bytes(m.size_bytes)})`,
                                "download:" + m.id, () => download(m.id)));
  }
  li.append(actions);
  return li;
}

function installedItem(m) {
  const li = h("li", "card installed-card");
  li.dataset.model = m.id;
  const head = h("div", "card-head");
  head.append(h("h3", "card-title", m.id));
  if (m.loaded) head.append(badge("Loaded", "ok", "In memory now"));
  if (m.type === "embedding") head.append(badge("Embedding", "muted", "For LocalDocs, not for chat"));
  li.append(head, h("p", "card-meta", `${m.file || ""} · ${bytes(m.size_bytes)}`));
  const actions = h("div", "card-actions");
  actions.append(actionButton("Delete", "danger-outline", `Delete ${m.id}`, "delete-installed:" + m.id,
                              () => remove(m.id)));
  li.append(actions);
  return li;
}

function render() {
  keepFocus(() => {
    ui.installed.replaceChildren(...(state.installed.length ? state.installed.map(installedItem)
      : [h("li", "empty-note", "No model is installed yet: download one from the catalogue below.")]));
    ui.catalog.replaceChildren(...(state.catalog.length ? state.catalog.map(catalogCard)
      : [h("li", "empty-note", state.query ? `Nothing in the catalogue matches "${state.query}".` : "The catalogue is empty.")]));
  });
}

// ------------------------------------------------------------------ loading

async function loadCatalog() {
  ui.catalog.setAttribute("aria-busy", "true");
  const q = state.query;
  try {
    const res = await api.catalog(q);
    if (q !== state.query) return;       // a newer search is on its way
    state.catalog = res.models || [];
    const avail = res.memory && res.memory.available_bytes;
    ui.memory.textContent = avail ? `This machine has ${bytes(avail)} of memory available now.` : "";
  } finally {
    ui.catalog.setAttribute("aria-busy", "false");
  }
}

// One entry per file: a .gguf answers with and without its suffix; the shorter name is shown.
async function loadInstalled() {
  const seen = new Map();
  for (const m of (await api.installed()).models || []) {
    const had = seen.get(m.path);
    if (!had || m.id.length < had.id.length) seen.set(m.path, m);
  }
  state.installed = [...seen.values()].sort((a, b) => a.id.localeCompare(b.id));
}

async function refresh() {
  try {
    await Promise.all([loadCatalog(), loadInstalled()]);
    render();
  } catch (e) {
    say(ui.status, e.message, true);
  }
}

// Downloads started earlier (another tab, or before a reload) are followed too.
async function followRunning() {
  try {
    const res = await api.downloads();
    for (const d of res.downloads || []) {
      if (d.state === "running") {
        state.downloads.set(d.model, d);
        watch(d);
      }
    }
  } catch { /* an older server: nothing to follow */ }
}

// ------------------------------------------------------------------ actions

function watch(d) {
  if (state.watching.has(d.id)) return;
  const controller = new AbortController();
  state.watching.set(d.id, controller);
  (async () => {
    let last = d;
    try {
      for await (const ev of api.downloadEvents(d.id, controller.signal)) {
        last = ev;
        state.downloads.set(ev.model || d.model, ev);
        updateCard(ev.model || d.model);
        if (ev.state !== "running") break;
      }
    } catch (e) {
      if (e.name === "AbortError") return;
      last = { ...last, state: "error", error: e.message };
      state.downloads.set(d.model, last);
    } finally {
      state.watching.delete(d.id);
    }
    if (last.state === "done") {
      say(ui.status, `${d.model} is downloaded: pick it in the chat.`);
      document.dispatchEvent(new CustomEvent("llm4all:models-changed"));
    } else if (last.state === "error") {
      say(ui.status, `The download of ${d.model} failed: ${last.error || "unknown error"}`, true);
    }
    await refresh();
  })();
}

// One card redrawn in place while its download runs (the rest of the list stays put).
function updateCard(model) {
  const m = state.catalog.find((x) => x.id === model);
  const old = ui.catalog.querySelector(`li[data-model="${CSS.escape(model)}"]`);
  if (!m || !old) return;
  keepFocus(() => old.replaceWith(catalogCard(m)));
}

async function download(id) {
  say(ui.status, "");
  try {
    const d = await api.startDownload(id);
    state.downloads.set(id, d);
    updateCard(id);
    watch(d);
  } catch (e) {
    if (e.status === 409) {       // already running (another tab): follow that one
      await followRunning();
      if (state.downloads.has(id)) { updateCard(id); return; }
    }
    say(ui.status, e.message, true);
  }
}

async function cancel(id) {
  const d = state.downloads.get(id);
  try {
    if (!d) await followRunning();
    const run = state.downloads.get(id);
    if (run) await api.cancelDownload(run.id);
  } catch (e) {
    say(ui.status, e.message, true);
  }
}

async function remove(id) {
  if (!confirm(`Delete ${id} from this machine?`)) return;
  try {
    await api.deleteModel(id);
    state.downloads.delete(id);
    say(ui.status, `${id} is deleted.`);
    document.dispatchEvent(new CustomEvent("llm4all:models-changed"));
  } catch (e) {
    say(ui.status, e.message, true);
  }
  await refresh();
}

// ------------------------------------------------------------------ wiring

let followed = false;

export function showModels() {
  refresh();
  if (!followed) {
    followed = true;
    followRunning();
  }
}

export function initModels() {
  let timer = 0;
  ui.search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      state.query = ui.search.value.trim();
      try {
        await loadCatalog();
        render();
        // Said once per search (the list itself is not a live region: progress would flood it).
        const n = state.catalog.length;
        const models = `${n} model${n === 1 ? "" : "s"}`;
        ui.count.textContent = state.query ? `${models} match${n === 1 ? "es" : ""} "${state.query}"`
          : `${models} in the catalogue`;
      } catch (e) {
        say(ui.status, e.message, true);
      }
    }, 200);
  });
}
