// The LocalDocs view: add a folder (a typed path and a collection name) to be indexed, watch
// the indexing progress from the server's event stream, and list or delete the collections.
// Which collection a conversation answers from is picked in the chat ("llm4all:collections-changed"
// tells it to re-read the list).

import * as api from "../api.js";
import { $, button, fieldError, h, say } from "../dom.js";

const ui = {
  form: $("docs-form"), name: $("docs-name"), path: $("docs-path"), add: $("docs-add"),
  status: $("docs-status"), list: $("collection-list"),
};

const jobs = new Map();   // collection name -> the latest indexing event

function jobText(ev) {
  const files = ev.files_total ? `${ev.files_done || 0} of ${ev.files_total} files` : `${ev.files_done || 0} files`;
  if (ev.state === "done") return `Indexed: ${files}, ${ev.chunks || 0} passages`;
  if (ev.state === "error") return `Indexing failed: ${ev.error || "unknown error"}`;
  return `Indexing: ${files}, ${ev.chunks || 0} passages so far`;
}

function collectionItem(c) {
  const li = h("li", "card collection-card");
  li.dataset.collection = c.name;
  const head = h("div", "card-head");
  head.append(h("h3", "card-title", c.name));
  li.append(head);
  const job = jobs.get(c.name);
  if (job && job.state !== "done") li.append(jobLine(job));
  else li.append(h("p", "card-meta", `${c.documents ?? "?"} documents · ${c.chunks ?? "?"} passages` +
                                      (c.embed_model ? ` · ${c.embed_model}` : "")));
  const actions = h("div", "card-actions");
  const del = button("Delete", "danger-outline", `Delete the collection ${c.name}`, () => remove(c.name));
  del.dataset.key = "delete-collection:" + c.name;
  actions.append(del);
  li.append(actions);
  return li;
}

function jobLine(ev) {
  const box = h("div", "download");
  const bar = h("progress", "bar");
  bar.setAttribute("aria-label", `Indexing of ${ev.name}`);
  if (ev.files_total) {
    bar.max = ev.files_total;
    bar.value = ev.state === "done" ? ev.files_total : ev.files_done || 0;
  }   // else indeterminate: the number of files is not known yet
  box.dataset.state = ev.state;
  box.append(bar, h("span", "download-text" + (ev.state === "error" ? " is-error" : ""), jobText(ev)));
  return box;
}

async function refresh() {
  let list = [];
  try {
    list = await api.listCollectionInfo();
  } catch (e) {
    say(ui.status, e.message, true);
  }
  const names = new Set(list.map((c) => c.name));
  // Collections still being indexed show before the server lists them.
  for (const [name, ev] of jobs) if (!names.has(name) && ev.state !== "done") list.push({ name });
  const key = document.activeElement?.dataset?.key;
  ui.list.replaceChildren(...(list.length ? list.map(collectionItem)
    : [h("li", "empty-note", "No collection yet: add a folder above.")]));
  if (key) ui.list.querySelector(`[data-key="${CSS.escape(key)}"]`)?.focus();
}

async function watch(name) {
  try {
    for await (const ev of api.collectionEvents(name)) {
      jobs.set(name, { name, ...ev });
      const card = ui.list.querySelector(`li[data-collection="${CSS.escape(name)}"] .download`);
      if (card) card.replaceWith(jobLine(jobs.get(name)));
      say(ui.status, `${name}: ${jobText(ev)}`, ev.state === "error");
      if (ev.state !== "indexing") break;
    }
  } catch (e) {
    jobs.set(name, { name, state: "error", error: e.message });
    say(ui.status, `${name}: ${e.message}`, true);
  }
  await refresh();
  document.dispatchEvent(new CustomEvent("llm4all:collections-changed"));
}

async function add(e) {
  e.preventDefault();
  fieldError(ui.name, "");
  fieldError(ui.path, "");
  const name = ui.name.value.trim();
  const path = ui.path.value.trim();
  if (!name) { fieldError(ui.name, "Give the collection a name."); ui.name.focus(); return; }
  if (!path) { fieldError(ui.path, "Type the folder's path."); ui.path.focus(); return; }
  ui.add.disabled = true;
  try {
    const ev = await api.addCollection(name, path);
    jobs.set(name, { name, ...ev });
    say(ui.status, `${name}: ${jobText(ev)}`);
    ui.form.reset();
    await refresh();
    watch(name);
  } catch (err) {
    // The server names the refused field; a path that is not a readable folder is the usual one.
    const field = (err.param || "").split(".").pop() === "name" ? ui.name : ui.path;
    fieldError(field, err.detail || err.message);
    field.focus();
  } finally {
    ui.add.disabled = false;
  }
}

async function remove(name) {
  if (!confirm(`Delete the collection ${name}? (The folder's files stay.)`)) return;
  try {
    await api.deleteCollection(name);
    jobs.delete(name);
    say(ui.status, `${name} is deleted.`);
  } catch (e) {
    say(ui.status, e.message, true);
  }
  await refresh();
  document.dispatchEvent(new CustomEvent("llm4all:collections-changed"));
}

export function showDocs() {
  refresh();
}

export function initDocs() {
  ui.form.addEventListener("submit", add);
  for (const input of [ui.name, ui.path]) input.addEventListener("input", () => fieldError(input, ""));
}
