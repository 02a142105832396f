// The page's one error type for server answers: ApiError carries the HTTP status and, for a
// refused field (422/400), the field the server named (`param`), so a form can show the
// message next to it. errorMessage reads OpenAI's, FastAPI's and plain-text error bodies.

export class ApiError extends Error {
  constructor(message, status, param = "", detail = "") {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.param = param;      // e.g. "threads", "models.smollm2.temperature"
    this.detail = detail;    // the server's own message, without the "Server error N:" prefix
  }
}

/** {message, param} of an error body: OpenAI's shape, FastAPI's {"detail"}, or the text. */
export function errorParts(text) {
  let message = "";
  let param = "";
  try {
    const j = JSON.parse(text);
    const e = j && j.error;
    if (e && typeof e === "object" && e.message) {
      message = String(e.message);
      if (typeof e.param === "string") param = e.param;
    } else if (typeof e === "string") message = e;
    else if (j && typeof j.detail === "string") message = j.detail;
    else if (j && Array.isArray(j.detail) && j.detail[0]) {
      // FastAPI's own validation list: [{loc: ["body", "threads"], msg}]
      message = String(j.detail[0].msg || "");
      const loc = j.detail[0].loc;
      if (Array.isArray(loc) && loc.length) param = loc.filter((x) => x !== "body").join(".");
    } else if (j && j.message) message = String(j.message);
  } catch {
    message = String(text || "").trim().slice(0, 500);
  }
  return { message, param };
}

/** The readable message of an error body, prefixed with the status. */
export function errorMessage(status, text) {
  const { message } = errorParts(text);
  const prefix = status ? `Server error ${status}` : "Server error";
  return message ? `${prefix}: ${message}` : prefix;
}

export async function failure(resp) {
  let text = "";
  try { text = await resp.text(); } catch { /* the body is gone; the status still says something */ }
  const { message, param } = errorParts(text);
  // Beside a field, "threads: must be ..." reads better without the field's name.
  const own = param && message.startsWith(param + ": ") ? message.slice(param.length + 2) : message;
  return new ApiError(errorMessage(resp.status, text), resp.status, param, own);
}
