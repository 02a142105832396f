// The Settings view: how the server loads models (threads, device, GPU layers, context length)
// and the default model of new chats, read from the server (GET /api/settings) and saved with
// PUT /api/settings; a value it refuses is shown next to its field.

import * as api from "../api.js";
import { $, fieldError, h, say } from "../dom.js";
import * as server from "../serversettings.js";

const FIELDS = ["threads", "device", "gpu_layers", "n_ctx", "default_model"];
const form = $("app-settings");
const status = $("app-settings-status");
const input = (name) => $("app-" + name);

// The installed models are asked for only when the view is shown (not on every page load).
async function fillModels(selected, ask = true) {
  const select = input("default_model");
  let ids = [];
  try {
    if (ask) ids = ((await api.installed()).models || []).map((m) => m.id);
  } catch {
    ids = [];
  }
  if (selected && !ids.includes(selected)) ids.push(selected);   // keep showing what is stored
  select.replaceChildren(select.options[0], ...ids.map((id) => {
    const o = h("option", null, id);
    o.value = id;
    return o;
  }));
  select.value = selected || "";
}

function fill(s, ask = true) {
  const text = (v) => (v === null || v === undefined ? "" : String(v));
  input("threads").value = text(s.threads);
  input("device").value = text(s.device);
  input("gpu_layers").value = text(s.gpu_layers);
  input("n_ctx").value = text(s.n_ctx);
  return fillModels(s.default_model || "", ask);
}

/** The form's values as the server takes them, or null after marking the fields that are wrong. */
function read() {
  const out = {};
  let ok = true;
  const whole = (name, { blankIsNull, min, max }) => {
    const el = input(name);
    const t = el.value.trim();
    if (t === "" && !el.validity.badInput) {
      if (blankIsNull) return null;
      fieldError(el, "Enter a whole number.");
      ok = false;
      return undefined;
    }
    const n = Number(t);
    if (el.validity.badInput || !Number.isInteger(n)) {
      fieldError(el, "Enter a whole number.");
      ok = false;
    } else if (n < min || n > max) {
      fieldError(el, `Enter a number from ${min} to ${max}.`);
      ok = false;
    }
    return n;
  };
  out.threads = whole("threads", { blankIsNull: true, min: 1, max: 1024 });
  out.device = input("device").value.trim() || "auto";
  out.gpu_layers = whole("gpu_layers", { blankIsNull: false, min: -1, max: 1e6 });
  out.n_ctx = whole("n_ctx", { blankIsNull: true, min: 64, max: 1048576 });
  out.default_model = input("default_model").value || null;
  return ok ? out : null;
}

async function save(e) {
  e.preventDefault();
  for (const f of FIELDS) fieldError(input(f), "");
  say(status, "");
  const values = read();
  if (!values) {
    form.querySelector("[aria-invalid=true]")?.focus();
    return;
  }
  try {
    await fill(await server.save(values));
    say(status, "Saved. Models loaded from now on use these settings.");
  } catch (err) {
    const name = (err.param || "").split(".").pop();
    if (FIELDS.includes(name)) {
      fieldError(input(name), err.detail || err.message);
      input(name).focus();
    } else {
      say(status, err.message, true);
    }
  }
}

export function showSettings() {
  // What the server holds now (another tab may have changed it).
  server.load().then(fill).catch((e) => say(status, e.message, true));
}

export function initSettings(loaded) {
  form.addEventListener("submit", save);
  for (const f of FIELDS) input(f).addEventListener("input", () => fieldError(input(f), ""));
  loaded.then(() => { if (server.stored()) fill(server.get(), false); });
  document.addEventListener("llm4all:models-changed", () => {
    if (!$("view-settings").hidden) fillModels(input("default_model").value);
  });
}
