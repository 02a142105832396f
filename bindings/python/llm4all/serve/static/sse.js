// Server-sent events read from a fetch() response body (EventSource cannot send an
// Authorization header or POST): yields each event's data, its `data:` lines joined, as a string.
// Used by the chat stream and by the download and indexing progress streams.

import { ApiError } from "./errors.js";

export async function* readEvents(resp, signal) {
  if (!resp.body) throw new ApiError("The browser gave no response stream", 0);
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let data = [];
  const field = (line) => line.slice(line[5] === " " ? 6 : 5);
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
          // A blank line ends one event.
          if (!data.length) continue;
          const payload = data.join("\n");
          data = [];
          yield payload;
        } else if (line.startsWith("data:")) {
          data.push(field(line));
        }
        // comments (": ping"), event:, id:, retry: lines carry nothing the page uses
      }
    }
    // The stream ended without a final blank line: what is left is the last event.
    for (const line of buf.split(/\r\n|\r|\n/)) {
      if (line.startsWith("data:")) data.push(field(line));
    }
    if (data.length) yield data.join("\n");
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** An event's data parsed as JSON (ApiError when it is not). */
export function parseEvent(payload) {
  try {
    return JSON.parse(payload);
  } catch {
    throw new ApiError("The server sent a stream event that is not JSON: " + payload.slice(0, 200), 0);
  }
}
