// The chat page's client of the server's OpenAI API: GET /v1/models and a streamed
// POST /v1/chat/completions read as server-sent events over fetch + ReadableStream
// (EventSource cannot POST or send an Authorization header). Errors in OpenAI's
// {"error": {"message": ...}} shape become ApiError with the server's own message.

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

function headers(apiKey, json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  if (apiKey) h["Authorization"] = "Bearer " + apiKey;
  return h;
}

/** The readable message of an error body: OpenAI's shape, FastAPI's {"detail"}, or the text. */
export function errorMessage(status, text) {
  let msg = "";
  try {
    const j = JSON.parse(text);
    const e = j && j.error;
    if (e && typeof e === "object" && e.message) msg = String(e.message);
    else if (typeof e === "string") msg = e;
    else if (j && typeof j.detail === "string") msg = j.detail;
    else if (j && j.message) msg = String(j.message);
  } catch {
    msg = text.trim().slice(0, 500);
  }
  const prefix = status ? `Server error ${status}` : "Server error";
  return msg ? `${prefix}: ${msg}` : prefix;
}

async function failure(resp) {
  let text = "";
  try { text = await resp.text(); } catch { /* the body is gone; the status still says something */ }
  return new ApiError(errorMessage(resp.status, text), resp.status);
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

export async function listModels(apiKey) {
  const resp = await request("/v1/models", { headers: headers(apiKey, false) }, "the model list");
  if (!resp.ok) throw await failure(resp);
  const j = await resp.json();
  return (j.data || []).map((m) => m.id);
}

/** LocalDocs collection names the server can answer from ([] when it has none). */
export async function listCollections(apiKey) {
  const resp = await request("/v1/localdocs", { headers: headers(apiKey, false) }, "the document collections");
  if (!resp.ok) throw await failure(resp);
  const j = await resp.json();
  return (j.data || []).map((c) => c.name);
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
  if (!resp.body) throw new ApiError("The browser gave no response stream", 0);
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let data = [];
  try {
    for (;;) {
      let value, done;
      try {
        ({ value, done } = await reader.read());
      } catch (e) {
        if (e.name === "AbortError" || signal?.aborted) throw e;
        throw new ApiError(`The connection to the server was lost (${e.message}).`, 0);
      }
      if (done) break;
      buf += value;
      let nl;
      while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
        if (nl === buf.length - 1 && buf[nl] === "\r") break;   // maybe half of a \r\n: wait
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + (buf.startsWith("\r\n", nl) ? 2 : 1));
        if (line === "") {
          // A blank line ends one event; its data lines joined are one JSON chunk.
          if (!data.length) continue;
          const payload = data.join("\n");
          data = [];
          if (payload.trim() === "[DONE]") return;
          const chunk = parseChunk(payload);
          if (chunk.error) throw new ApiError(errorMessage(0, payload), 0);
          yield chunk;
        } else if (line.startsWith("data:")) {
          data.push(line.slice(line[5] === " " ? 6 : 5));
        }
        // comments (": ping"), event:, id:, retry: lines carry nothing the page uses
      }
    }
    // The stream ended without a final blank line: what is left is the last event.
    for (const line of buf.split(/\r\n|\r|\n/)) {
      if (line.startsWith("data:")) data.push(line.slice(line[5] === " " ? 6 : 5));
    }
    if (data.length && data.join("\n").trim() !== "[DONE]") {
      const chunk = parseChunk(data.join("\n"));
      if (chunk.error) throw new ApiError(errorMessage(0, data.join("\n")), 0);
      yield chunk;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function parseChunk(payload) {
  try {
    return JSON.parse(payload);
  } catch {
    throw new ApiError("The server sent a stream event that is not JSON: " + payload.slice(0, 200), 0);
  }
}
