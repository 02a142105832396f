// One chat message as DOM: the text (markdown for replies, plain for the user's), reasoning
// (collapsed), errors, the LocalDocs sources a reply cited, and a foot with speed and the
// message's buttons (copy, and the chat's own: edit, regenerate). Model text reaches the page
// only through markdown.js (DOM nodes, never HTML strings).

import { renderMarkdown } from "../markdown.js";
import { h } from "../dom.js";

export async function copyText(text, btn) {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    // No async clipboard outside a secure context (a LAN address over http): the old way.
    const ta = h("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "fixed";
    ta.style.opacity = "0";
    document.body.append(ta);
    ta.select();
    try { ok = document.execCommand("copy"); } catch { ok = false; }
    ta.remove();
  }
  if (btn) {
    const label = btn.textContent;
    btn.textContent = ok ? "Copied" : "Copy failed";
    setTimeout(() => { btn.textContent = label; }, 1200);
  }
}

function statsText(s) {
  if (!s) return "";
  const parts = [];
  if (s.tokens) parts.push(`${s.approx ? "~" : ""}${s.tokens} token${s.tokens === 1 ? "" : "s"}`);
  if (s.tps) parts.push(`${s.tps.toFixed(1)} tok/s`);
  if (s.ttft !== undefined) parts.push(`first token ${s.ttft.toFixed(2)} s`);
  return parts.join(" · ");
}

// LocalDocs: the passages a reply was given, numbered as the model was asked to cite them.
function sourcesList(sources) {
  const box = h("div", "sources");
  box.append(h("div", "sources-title", "Sources"));
  const list = h("ol", "sources-list");
  for (const s of sources) {
    const item = h("li", "source");
    const name = String(s.file || "").split(/[\\/]/).pop();
    item.append(h("span", "source-file", name));
    if (s.location) item.append(h("span", "source-loc", ", " + s.location));
    item.title = (s.file || "") + "\n\n" + (s.text || "");
    list.append(item);
  }
  box.append(list);
  return box;
}

/** A message's node; `who` is the name shown above a reply, `actions` its extra buttons. */
export function messageNode(msg, who, actions = []) {
  const box = h("article", `msg ${msg.role}`);
  box.setAttribute("aria-label", msg.role === "user" ? "You" : "Assistant");
  const role = h("div", "msg-role", msg.role === "user" ? "You" : msg.model || who || "Assistant");
  const body = h("div", "msg-body");
  box.append(role, body);
  fillMessage(box, msg, false, actions);
  return box;
}

/**
 * (Re)fills a message's node. actions: [{text, label, cls, onClick}] for the foot, shown once
 * the message is complete.
 */
export function fillMessage(box, msg, streaming = false, actions = []) {
  const body = box.querySelector(".msg-body");
  // Screen readers announce the reply once it is complete, not at every streamed piece.
  box.setAttribute("aria-busy", String(streaming));
  const parts = [];
  if (msg.reasoning) {
    // Kept if the user opened it while it streamed.
    const wasOpen = body.querySelector("details.reasoning")?.open || false;
    const d = h("details", "reasoning");
    d.open = wasOpen;
    d.append(h("summary", null, streaming && !msg.content ? "Thinking…" : "Reasoning"));
    const r = h("div", "reasoning-text");
    r.textContent = msg.reasoning;
    d.append(r);
    parts.push(d);
  }
  if (msg.role === "user") {
    parts.push(h("div", "plain", msg.content));
  } else if (msg.content) {
    const md = h("div", "markdown");
    md.append(renderMarkdown(msg.content));
    parts.push(md);
  } else if (streaming && !msg.reasoning) {
    parts.push(h("div", "typing", "…"));
  }
  if (msg.error) {
    const err = h("div", "error", msg.error);
    err.setAttribute("role", "alert");
    parts.push(err);
  }
  if (msg.sources && msg.sources.length) parts.push(sourcesList(msg.sources));
  body.replaceChildren(...parts);

  box.querySelector(".msg-foot")?.remove();
  if (!streaming && (msg.content || msg.stats || msg.note || actions.length)) {
    const foot = h("div", "msg-foot");
    if (msg.note) foot.append(h("span", "note", msg.note));
    const st = statsText(msg.stats);
    if (st) foot.append(h("span", "stats", st));
    if (msg.content) {
      const copy = h("button", "copy-msg msg-action", "Copy");
      copy.type = "button";
      copy.setAttribute("aria-label", "Copy message");
      copy.addEventListener("click", () => copyText(msg.content, copy));
      foot.append(copy);
    }
    for (const a of actions) {
      const b = h("button", "msg-action " + (a.cls || ""), a.text);
      b.type = "button";
      b.setAttribute("aria-label", a.label);
      b.addEventListener("click", a.onClick);
      foot.append(b);
    }
    box.append(foot);
  }
}
