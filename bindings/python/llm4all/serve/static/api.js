// The page's client of the server: the OpenAI API (GET /v1/models, a streamed POST
// /v1/chat/completions, GET /v1/localdocs) and the app API under /api/ (catalogue, installed
// models, downloads, settings, LocalDocs indexing; see the server's app routes). Progress and
// replies stream as server-sent events read over fetch (sse.js), so an API key can be sent.

import { ApiError, errorMessage, failure } from "./errors.js";
import { parseEvent, readEvents } from "./sse.js";
import { loadSettings } from "./store.js";

export { ApiError, errorMessage };

function headers(apiKey, json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  const key = apiKey ?? loadSettings().apiKey;
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

// fetch rejects with a bare TypeError when no answer comes at all (server down, network gone).
async function request(url, init, what) {
  try {
    return await fetch(url, init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(`Could not reach the server for ${what} (${e.message}).`, 0);
  }
}

/** One JSON call: the parsed answer (null for 204), or ApiError with the server's message. */
export async function call(method, path, body, what = path) {
  const init = { method, headers: headers(undefined, body !== undefined) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const resp = await request(path, init, what);
  if (!resp.ok) throw await failure(resp);
  if (resp.status === 204) return null;
  const text = await resp.text();
  return text ? JSON.parse(text) : null;
}

/** Yields each JSON event of a GET event stream until the server ends it or signal aborts. */
export async function* events(path, signal, what = path) {
  const resp = await request(path, { headers: headers(undefined, false), signal }, what);
  if (!resp.ok) throw await failure(resp);
  for await (const payload of readEvents(resp, signal)) yield parseEvent(payload);
}

// ------------------------------------------------------------------ OpenAI API

export async function listModels(apiKey) {
  const resp = await request("/v1/models", { headers: headers(apiKey, false) }, "the model list");
  if (!resp.ok) throw await failure(resp);
  const j = await resp.json();
  return (j.data || []).map((m) => m.id);
}

/** LocalDocs collections ({name, documents, chunks}) the server can answer from. */
export async function listCollectionInfo(apiKey) {
  const resp = await request("/v1/localdocs", { headers: headers(apiKey, false) }, "the document collections");
  if (!resp.ok) throw await failure(resp);
  const j = await resp.json();
  return j.data || [];
}

/** LocalDocs collection names ([] when the server has none). */
export async function listCollections(apiKey) {
  return (await listCollectionInfo(apiKey)).map((c) => c.name);
}

/**
 * Streams one chat completion: yields each parsed chunk object; returns on [DONE] or end of
 * stream. Aborting `signal` cancels the request (the server stops generating on disconnect).
 */
export async function* streamChat(body, { apiKey, signal } = {}) {
  const resp = await request("/v1/chat/completions", {
    method: "POST",
    headers: headers(apiKey, true),
    body: JSON.stringify({ ...body, stream: true }),
    signal,
  }, "a reply");
  if (!resp.ok) throw await failure(resp);
  for await (const payload of readEvents(resp, signal)) {
    if (payload.trim() === "[DONE]") return;
    const chunk = parseEvent(payload);
    if (chunk.error) throw new ApiError(errorMessage(0, payload), 0);
    yield chunk;
  }
}

// ------------------------------------------------------------------ app API

export const catalog = (q) => call("GET", "/api/catalog" + (q ? "?q=" + encodeURIComponent(q) : ""), undefined,
                                   "the catalogue");
export const installed = () => call("GET", "/api/installed", undefined, "the installed models");
export const deleteModel = (id) => call("DELETE", "/api/models/" + encodeURIComponent(id), undefined, "deleting " + id);
export const startDownload = (model) => call("POST", "/api/downloads", { model }, "a download");
export const downloads = () => call("GET", "/api/downloads", undefined, "the downloads");
export const cancelDownload = (id) => call("DELETE", "/api/downloads/" + encodeURIComponent(id), undefined,
                                           "cancelling a download");
export const downloadEvents = (id, signal) => events("/api/downloads/" + encodeURIComponent(id) + "/events", signal,
                                                     "download progress");
export const getSettings = () => call("GET", "/api/settings", undefined, "the settings");
export const putSettings = (patch) => call("PUT", "/api/settings", patch, "saving the settings");
export const addCollection = (name, path) => call("POST", "/api/localdocs", { name, path }, "adding a folder");
export const deleteCollection = (name) => call("DELETE", "/api/localdocs/" + encodeURIComponent(name), undefined,
                                               "deleting a collection");
export const collectionEvents = (name, signal) => events("/api/localdocs/" + encodeURIComponent(name) + "/events",
                                                         signal, "indexing progress");
