// The chat's settings dialog: the system prompt and sampling of the model in use (kept by the
// server per model, PUT /api/settings "models"), and this browser's seed and API key. A value
// the server refuses reopens the dialog with the message next to its field.

import { $, fieldError } from "../dom.js";
import * as server from "../serversettings.js";
import * as store from "../store.js";

// dialog field name -> the server's per-model key, and how its text becomes a value
const MODEL_INPUTS = {
  system: ["system_prompt", (v) => v],
  temperature: ["temperature", parseFloat],
  top_p: ["top_p", parseFloat],
  top_k: ["top_k", (v) => parseInt(v, 10)],
  max_tokens: ["max_tokens", (v) => parseInt(v, 10)],
};
const LOCAL_INPUTS = ["seed", "apiKey"];

const dialog = $("settings");
const form = $("settings-form");
let model = "";            // whose settings the dialog shows
let onKeyChange = () => {};

function inputs() {
  return [...Object.keys(MODEL_INPUTS), ...LOCAL_INPUTS].map((k) => form.elements[k]).filter(Boolean);
}

/** The values a chat request gets for `forModel`: {system, temperature, top_p, top_k, max_tokens, seed}. */
export function requestSettings(forModel) {
  const ms = server.modelSettings(forModel);
  const local = store.loadSettings();
  const out = { system: typeof ms.system_prompt === "string" ? ms.system_prompt : "" };
  for (const k of ["temperature", "top_p", "top_k", "max_tokens"]) {
    if (typeof ms[k] === "number" && Number.isFinite(ms[k])) out[k] = ms[k];
  }
  const seed = parseInt(local.seed, 10);
  if (Number.isFinite(seed)) out.seed = seed;
  return out;
}

export function openSettings(forModel) {
  model = forModel || "";
  $("settings-model").textContent = model ? `for ${model}` : "";
  const ms = server.modelSettings(model);
  for (const [name, [key]] of Object.entries(MODEL_INPUTS)) {
    const v = ms[key];
    form.elements[name].value = v === undefined || v === null ? "" : String(v);
  }
  const local = store.loadSettings();
  for (const k of LOCAL_INPUTS) form.elements[k].value = local[k];
  for (const input of inputs()) fieldError(input, "");
  dialog.showModal();
}

function showRefusal(e) {
  const key = (e.param || "").split(".").pop();
  const name = Object.keys(MODEL_INPUTS).find((n) => MODEL_INPUTS[n][0] === key || n === key);
  if (!dialog.open) dialog.showModal();
  const input = name ? form.elements[name] : form.elements.system;
  fieldError(input, e.detail || e.message);
  input.focus();
}

async function saveFromForm() {
  const local = store.loadSettings();
  const keyChanged = form.elements.apiKey.value !== local.apiKey;
  for (const k of LOCAL_INPUTS) local[k] = form.elements[k].value;
  store.saveSettings(local);
  const values = {};
  for (const [name, [key, parse]] of Object.entries(MODEL_INPUTS)) {
    const text = form.elements[name].value;
    if (name === "system") { if (text.trim()) values[key] = text; continue; }
    if (text.trim() === "") continue;
    const n = parse(text.trim());
    if (Number.isFinite(n)) values[key] = n;
  }
  try {
    const saving = server.saveModel(model, values);   // in effect at once, stored when the server answers
    if (keyChanged) onKeyChange();
    await saving;
    // A new key may open the server's settings to this page: read them, keeping these values.
    if (keyChanged) await server.load({ model, values });
  } catch (e) {
    if (e.status !== 401) showRefusal(e);
  }
}

export function initChatSettings({ keyChanged }) {
  onKeyChange = keyChanged;
  // Closing saves (Done, or Escape): what is in the fields is what the next request uses.
  dialog.addEventListener("close", saveFromForm);
  for (const input of inputs()) input.addEventListener("input", () => fieldError(input, ""));
}
