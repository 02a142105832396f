// The settings the server keeps (GET/PUT /api/settings: loading options, the default model,
// and each model's system prompt and sampling), held here for every view. Each model's values
// are also kept in this browser, so the chat keeps working with a server that cannot store them.

import { getSettings, putSettings } from "./api.js";

const LOCAL = "llm4all.modelSettings";
export const MODEL_FIELDS = ["system_prompt", "temperature", "top_p", "top_k", "max_tokens"];

let current = { models: readLocal() };
let onServer = false;   // whether the last GET answered (the server stores settings)

function readLocal() {
  try {
    const v = JSON.parse(localStorage.getItem(LOCAL));
    return v && typeof v === "object" && !Array.isArray(v) ? v : {};
  } catch {
    return {};
  }
}

function writeLocal(models) {
  try { localStorage.setItem(LOCAL, JSON.stringify(models)); } catch { /* full or off: server copy only */ }
}

function changed() {
  document.dispatchEvent(new CustomEvent("llm4all:settings", { detail: current }));
}

/**
 * Reads the server's settings (rejects, keeping the browser's copy, when it cannot). keep:
 * {model, values} set just now in this browser, laid over the server's copy and sent back
 * (after a new API key opened the server's settings to this page).
 */
export async function load(keep) {
  let s;
  try {
    s = await getSettings();
  } catch (e) {
    onServer = false;
    changed();
    throw e;
  }
  current = { ...s, models: s.models && typeof s.models === "object" ? s.models : {} };
  onServer = true;
  if (keep) return saveModel(keep.model, keep.values);
  writeLocal(current.models);
  changed();
  return current;
}

export const get = () => current;
export const stored = () => onServer;

/** One model's values ({} when none are set). */
export function modelSettings(model) {
  const m = current.models[model || ""];
  return m && typeof m === "object" ? m : {};
}

/** PUTs a change of top-level settings; the server's full answer becomes current. */
export async function save(patch) {
  const s = await putSettings(patch);
  current = { ...s, models: s.models && typeof s.models === "object" ? s.models : {} };
  writeLocal(current.models);
  onServer = true;
  changed();
  return current;
}

/**
 * Sets one model's values (blank ones left out): in effect in this browser at once, then stored
 * by the server, which fills what is left out with its defaults; a field blanked after it had a
 * value goes back to the default (the model's entry is forgotten first). Rejects with the
 * server's ApiError when it refuses a value.
 */
export async function saveModel(model, values) {
  const clean = {};
  for (const k of MODEL_FIELDS) if (values[k] !== undefined && values[k] !== "") clean[k] = values[k];
  const old = modelSettings(model);
  const set = (v) => v !== undefined && v !== null && v !== "";
  const clearing = MODEL_FIELDS.some((k) => clean[k] === undefined && set(old[k]));
  // Closing the dialog without a change sends nothing.
  if (!clearing && MODEL_FIELDS.every((k) => clean[k] === undefined || clean[k] === old[k])) return current;
  const models = { ...current.models };
  if (Object.keys(clean).length) models[model || ""] = clean;
  else delete models[model || ""];
  current = { ...current, models };
  writeLocal(models);
  changed();
  if (!onServer || !model) return current;
  try {
    // (the first answer is not shown: the page keeps using the new values meanwhile)
    if (!Object.keys(clean).length) return await save({ models: { [model]: null } });
    if (clearing) await putSettings({ models: { [model]: null } });
    return await save({ models: { [model]: clean } });
  } catch (e) {
    if (e.status === 404 || e.status === 405) { onServer = false; return current; }   // an older server
    // Refused: the dialog shows why; this browser keeps what was typed until it is corrected
    // (the chat endpoint checks each request's values itself).
    throw e;
  }
}
