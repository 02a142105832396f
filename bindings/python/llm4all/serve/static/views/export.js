// A conversation as a file to keep: Markdown (readable: who said what, the sources each reply
// cited) and JSON (everything the page stored, for other tools). Offered as download links
// whose Blob URLs are made when the menu opens and released when the next ones are made.

const urls = [];

function safeName(title) {
  const base = String(title || "conversation").replace(/[^\p{L}\p{N}._ -]+/gu, "").trim().replace(/\s+/g, "-");
  return (base || "conversation").slice(0, 60);
}

export function toMarkdown(conv) {
  const out = [`# ${conv.title || "Conversation"}`, ""];
  if (conv.model) out.push(`Model: ${conv.model}`, "");
  for (const m of conv.messages) {
    if (m.role === "assistant" && !m.content && !m.error) continue;
    out.push(`## ${m.role === "user" ? "You" : m.model || conv.model || "Assistant"}`, "");
    if (m.content) out.push(m.content, "");
    if (m.error) out.push(`> Error: ${m.error}`, "");
    if (m.sources && m.sources.length) {
      out.push("Sources:", "");
      m.sources.forEach((s, i) => out.push(`${i + 1}. ${s.file}${s.location ? ", " + s.location : ""}`));
      out.push("");
    }
  }
  return out.join("\n").replace(/\n+$/, "\n");
}

export function toJSON(conv) {
  const doc = {
    title: conv.title,
    model: conv.model || null,
    exported: new Date().toISOString(),
    messages: conv.messages.map((m) => {
      const o = { role: m.role, content: m.content };
      for (const k of ["model", "reasoning", "error", "note", "sources", "stats"]) if (m[k] !== undefined) o[k] = m[k];
      return o;
    }),
  };
  return JSON.stringify(doc, null, 2) + "\n";
}

/** Points the two links at fresh files of conv (called when the export menu opens). */
export function fillExportLinks(conv, mdLink, jsonLink) {
  while (urls.length) URL.revokeObjectURL(urls.pop());
  const name = safeName(conv && conv.title);
  const set = (a, text, type, ext) => {
    const url = URL.createObjectURL(new Blob([text], { type }));
    urls.push(url);
    a.href = url;
    a.download = `${name}.${ext}`;
  };
  const c = conv || { title: "Conversation", messages: [] };
  set(mdLink, toMarkdown(c), "text/markdown", "md");
  set(jsonLink, toJSON(c), "application/json", "json");
}
