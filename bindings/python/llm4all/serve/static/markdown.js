// Markdown -> DOM for the chat page: model output becomes nodes built with createElement and
// text nodes only (never innerHTML), so markup in a reply is shown as text and cannot run.
// Covers what chat models write: fenced code (unclosed while streaming), headings, lists,
// quotes, tables, rules, emphasis, code spans, http(s) links. Scanners are linear, so a
// hostile or very long line cannot stall the page.

const MAX_DEPTH = 12;            // nested quotes/lists beyond this render as plain text
const SAFE_SCHEMES = new Set(["http:", "https:"]);
const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0", copy: "\u00a9",
                   reg: "\u00ae", hellip: "\u2026", mdash: "\u2014", ndash: "\u2013", times: "\u00d7" };
const PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

// Sticky patterns, matched in place (no slicing per character of a long line).
const ENTITY = /&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]{2,8}));/y;
const AUTOLINK = /<(https?:\/\/[^\s<>]{1,2000})>/iy;
const BARE_URL = /https?:\/\/[^\s<>"'`]{1,2000}/iy;

const FENCE_OPEN = /^ {0,3}(`{3,}|~{3,})(.*)$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*))?$/;
const RULE = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE = /^ {0,3}> ?(.*)$/;
const LIST_ITEM = /^( {0,12})([-*+]|\d{1,9}[.)])([ \t]+(.*))?$/;
const TABLE_DELIM = /^ {0,3}\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;

function at(re, s, i) {
  re.lastIndex = i;
  return re.exec(s);
}

function el(tag, cls) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  return e;
}

/** The URL as an absolute http(s) href, or null for every other scheme (javascript:, data:...). */
export function safeHref(raw) {
  let s = raw.trim();
  if (s.startsWith("<") && s.endsWith(">")) s = s.slice(1, -1);
  try {
    const u = new URL(s);
    return SAFE_SCHEMES.has(u.protocol) ? u.href : null;
  } catch {
    return null;
  }
}

function link(href, children) {
  const a = el("a");
  a.href = href;
  a.target = "_blank";
  a.rel = "noopener noreferrer nofollow";
  a.append(...children);
  return a;
}

/** A fenced code block: the language, a copy button (wired by the page) and the code as text. */
export function codeBlock(code, lang) {
  const box = el("div", "code-block");
  const head = el("div", "code-head");
  const name = el("span", "code-lang");
  name.textContent = lang || "text";
  const copy = el("button", "copy-btn");
  copy.type = "button";
  copy.textContent = "Copy";
  copy.setAttribute("aria-label", "Copy code");
  head.append(name, copy);
  const pre = el("pre");
  const c = el("code");
  if (lang) c.dataset.lang = lang;
  c.textContent = code;
  pre.append(c);
  box.append(head, pre);
  return box;
}

// ---------------------------------------------------------------- inline

/** Inline markdown of one block's text as a list of nodes. */
export function renderInline(text, depth = 0) {
  return new Inline(text, depth).parse();
}

class Inline {
  constructor(text, depth) {
    this.s = text;
    this.depth = depth;
    this.out = [];
    this.buf = "";
    this.noCloser = new Map();   // delimiter -> position after which no closer exists
    this.noTick = new Set();     // backtick run lengths with no closing run ahead
  }

  flush() {
    if (this.buf) this.out.push(document.createTextNode(this.buf));
    this.buf = "";
  }

  push(node) {
    this.flush();
    this.out.push(node);
  }

  parse() {
    const s = this.s;
    let i = 0;
    while (i < s.length) {
      const ch = s[i];
      let j = -1;
      if (ch === "\\" && i + 1 < s.length && PUNCT.includes(s[i + 1])) {
        this.buf += s[i + 1];
        j = i + 2;
      } else if (ch === "\\" && s[i + 1] === "\n") {
        this.push(el("br"));
        j = i + 2;
      } else if (ch === "\n") {
        this.push(el("br"));
        j = i + 1;
      } else if (ch === "`") {
        j = this.codeSpan(i);
      } else if (ch === "&") {
        j = this.entity(i);
      } else if ((ch === "*" || ch === "_" || ch === "~") && this.depth < MAX_DEPTH) {
        j = this.emphasis(i);
      } else if (ch === "[" || (ch === "!" && s[i + 1] === "[")) {
        j = this.mdLink(i);
      } else if (ch === "<") {
        j = this.autolink(i);
      } else if (ch === "h" && s.startsWith("http", i) && (i === 0 || !/[\w/]/.test(s[i - 1]))) {
        j = this.bareUrl(i);
      }
      if (j < 0) {
        this.buf += ch;
        i += 1;
      } else {
        i = j;
      }
    }
    this.flush();
    return this.out;
  }

  codeSpan(i) {
    const s = this.s;
    let n = 0;
    while (s[i + n] === "`") n++;
    if (this.noTick.has(n)) {
      this.buf += "`".repeat(n);
      return i + n;
    }
    let k = i + n;
    for (;;) {
      k = s.indexOf("`", k);
      if (k < 0) break;
      let m = 0;
      while (s[k + m] === "`") m++;
      if (m === n) {
        let body = s.slice(i + n, k).replace(/\n/g, " ");
        if (body.length > 2 && body[0] === " " && body.at(-1) === " " && body.trim()) body = body.slice(1, -1);
        const c = el("code");
        c.textContent = body;
        this.push(c);
        return k + n;
      }
      k += m;
    }
    this.noTick.add(n);
    this.buf += "`".repeat(n);
    return i + n;
  }

  entity(i) {
    const m = at(ENTITY, this.s, i);
    if (!m) return -1;
    let ch;
    if (m[1] || m[2]) {
      const cp = parseInt(m[1] || m[2], m[1] ? 10 : 16);
      ch = cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) ? String.fromCodePoint(cp) : "\ufffd";
    } else {
      ch = ENTITIES[m[3]];
      if (ch === undefined) return -1;
    }
    this.buf += ch;
    return i + m[0].length;
  }

  emphasis(i) {
    const s = this.s;
    const ch = s[i];
    const double = s[i + 1] === ch;
    if (ch === "~" && !double) return -1;
    const delim = double ? ch + ch : ch;
    const start = i + delim.length;
    if (start >= s.length || /\s/.test(s[start]) || s[start] === ch) return -1;
    if (ch === "_" && i > 0 && /[\p{L}\p{N}]/u.test(s[i - 1])) return -1;   // snake_case stays
    const stop = this.noCloser.get(delim);
    if (stop !== undefined && i >= stop) return -1;
    let k = start + 1;
    for (;;) {
      k = s.indexOf(delim, k);
      if (k < 0) {
        this.noCloser.set(delim, i);
        return -1;
      }
      const okBefore = !/\s/.test(s[k - 1]);
      const okRun = s[k + delim.length] !== ch || double;
      const okAfter = ch !== "_" || !/[\p{L}\p{N}]/u.test(s[k + delim.length] || "");
      if (okBefore && okRun && okAfter && s[k - 1] !== ch) break;
      k += 1;
    }
    const tag = ch === "~" ? "del" : double ? "strong" : "em";
    const e = el(tag);
    e.append(...renderInline(s.slice(start, k), this.depth + 1));
    this.push(e);
    return k + delim.length;
  }

  // [text](url) and ![alt](url). Only http(s) targets become links; images are shown as a
  // link (a reply must not make the page fetch things); anything else stays literal text.
  mdLink(i) {
    const s = this.s;
    const image = s[i] === "!";
    const open = image ? i + 1 : i;
    let depth = 0;
    let k = open;
    for (; k < s.length; k++) {
      if (s[k] === "\\") { k++; continue; }
      if (s[k] === "[") depth++;
      else if (s[k] === "]" && --depth === 0) break;
      else if (s[k] === "\n" && s[k + 1] === "\n") return -1;
      if (k - open > 2000) return -1;
    }
    if (k >= s.length || s[k + 1] !== "(") return -1;
    let p = k + 2;
    let parens = 1;
    for (; p < s.length && p - k < 4000; p++) {
      if (s[p] === "\\") { p++; continue; }
      if (s[p] === "(") parens++;
      else if (s[p] === ")" && --parens === 0) break;
      else if (s[p] === "\n") return -1;
    }
    if (s[p] !== ")") return -1;
    const label = s.slice(open + 1, k);
    const target = s.slice(k + 2, p).trim().replace(/\s+("[^"]*"|'[^']*')$/, "");
    const href = safeHref(target);
    if (!href) {
      this.buf += s.slice(i, p + 1);   // javascript:, data:, relative...: shown, never followed
      return p + 1;
    }
    const kids = image ? [document.createTextNode(label || href)] : renderInline(label, this.depth + 1);
    const a = link(href, kids);
    if (image) a.className = "image-link";
    this.push(a);
    return p + 1;
  }

  autolink(i) {
    const m = at(AUTOLINK, this.s, i);
    if (!m) return -1;
    const href = safeHref(m[1]);
    if (!href) return -1;
    this.push(link(href, [document.createTextNode(m[1])]));
    return i + m[0].length;
  }

  bareUrl(i) {
    const m = at(BARE_URL, this.s, i);
    if (!m) return -1;
    let url = m[0];
    // Sentence punctuation after a URL belongs to the sentence; a ')' only if unbalanced.
    for (;;) {
      const last = url.at(-1);
      if (".,:;!?*_~".includes(last)) url = url.slice(0, -1);
      else if (last === ")" && (url.split("(").length < url.split(")").length)) url = url.slice(0, -1);
      else break;
    }
    const href = safeHref(url);
    if (!href || url.length <= 8) return -1;
    this.push(link(href, [document.createTextNode(url)]));
    return i + url.length;
  }
}

// ---------------------------------------------------------------- blocks

/** Markdown text -> DocumentFragment. */
export function renderMarkdown(text) {
  const frag = document.createDocumentFragment();
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  frag.append(...renderBlocks(lines, 0));
  return frag;
}

function isBlockStart(line, depth) {
  return FENCE_OPEN.test(line) || HEADING.test(line) || RULE.test(line) ||
         (depth < MAX_DEPTH && (QUOTE.test(line) || LIST_ITEM.test(line)));
}

// "## Title ##" -> "Title", by hand: a regex for the closing run backtracks on long lines.
function headingText(t) {
  t = t.trimEnd();
  let k = t.length;
  while (k > 0 && t[k - 1] === "#") k--;
  if (k === 0) return "";
  if (k < t.length && /[ \t]/.test(t[k - 1])) return t.slice(0, k).trimEnd();
  return t;
}

function indentOf(line) {
  let n = 0;
  while (line[n] === " ") n++;
  return n;
}

function renderBlocks(lines, depth) {
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (!line.trim()) {
      i++;
    } else if ((m = FENCE_OPEN.exec(line)) && !(m[1][0] === "`" && m[2].includes("`"))) {
      i = fence(lines, i, m, out);
    } else if ((m = HEADING.exec(line))) {
      const h = el("h" + Math.min(m[1].length + 2, 6));   // h1/h2 would outrank the page's own
      h.append(...renderInline(headingText(m[2] || ""), depth));
      out.push(h);
      i++;
    } else if (RULE.test(line)) {
      out.push(el("hr"));
      i++;
    } else if (depth < MAX_DEPTH && QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && (m = QUOTE.exec(lines[i]))) { inner.push(m[1]); i++; }
      const q = el("blockquote");
      q.append(...renderBlocks(inner, depth + 1));
      out.push(q);
    } else if (depth < MAX_DEPTH && LIST_ITEM.test(line)) {
      i = list(lines, i, depth, out);
    } else if (line.includes("|") && i + 1 < lines.length && TABLE_DELIM.test(lines[i + 1]) &&
               lines[i + 1].includes("-")) {
      i = table(lines, i, depth, out);
    } else {
      const para = [line.trim()];
      i++;
      while (i < lines.length && lines[i].trim() && !isBlockStart(lines[i], depth)) {
        para.push(lines[i].trim());
        i++;
      }
      const p = el("p");
      p.append(...renderInline(para.join("\n"), depth));
      out.push(p);
    }
  }
  return out;
}

// A fence closes on a line of the same character at least as long as the opening; an
// unclosed fence (a reply still streaming) runs to the end.
function fence(lines, i, m, out) {
  const marker = m[1];
  const lang = m[2].trim().split(/\s+/)[0] || "";
  const indent = indentOf(lines[i]);
  const close = new RegExp("^ {0,3}" + (marker[0] === "`" ? "`" : "~") + "{" + marker.length + ",}[ \\t]*$");
  const body = [];
  let k = i + 1;
  while (k < lines.length && !close.test(lines[k])) {
    let l = lines[k];
    const strip = Math.min(indent, indentOf(l));
    body.push(l.slice(strip));
    k++;
  }
  const unclosed = k >= lines.length;
  if (unclosed && body.length && body.at(-1) === "") body.pop();   // the reply's last newline
  const block = codeBlock(body.join("\n"), lang);
  if (unclosed) block.classList.add("unclosed");
  out.push(block);
  return k + 1;
}

function list(lines, i, depth, out) {
  const first = LIST_ITEM.exec(lines[i]);
  const ordered = /\d/.test(first[2]);
  const base = first[1].length;
  const listEl = el(ordered ? "ol" : "ul");
  if (ordered) {
    const start = parseInt(first[2], 10);
    if (start !== 1) listEl.start = start;
  }
  let loose = false;
  while (i < lines.length) {
    const m = LIST_ITEM.exec(lines[i]);
    if (!m || m[1].length !== base || /\d/.test(m[2]) !== ordered) break;
    const contentIndent = base + m[2].length + 1;
    const item = [m[4] || ""];
    i++;
    let blank = false;
    while (i < lines.length) {
      const l = lines[i];
      if (!l.trim()) { blank = true; item.push(""); i++; continue; }
      const ind = indentOf(l);
      if (ind >= contentIndent || (ind > base && LIST_ITEM.test(l))) {
        item.push(l.slice(Math.min(ind, contentIndent)));
      } else if (!blank && !isBlockStart(l, depth)) {
        item.push(l.trim());                         // lazy continuation of the paragraph
      } else {
        break;
      }
      blank = false;
      i++;
    }
    let trailingBlank = false;
    while (item.length > 1 && !item.at(-1).trim()) { item.pop(); trailingBlank = true; }
    // Blocks of this item (not of a list nested in it) apart by a blank line: loose.
    const ownGap = (l, k) => k > 0 && !l.trim() && item[k - 1].trim() &&
                             /^\S/.test(item.slice(k).find((x) => x.trim()) || "");
    if (item.some(ownGap)) loose = true;
    const li = el("li");
    li.append(...renderBlocks(item, depth + 1));
    listEl.append(li);
    const next = i < lines.length ? LIST_ITEM.exec(lines[i]) : null;
    if (trailingBlank && next && next[1].length === base) loose = true;
  }
  if (!loose) {
    // Tight list: a lone paragraph in an item is shown without paragraph spacing.
    for (const li of listEl.children) {
      for (const p of [...li.children]) if (p.tagName === "P") p.replaceWith(...p.childNodes);
    }
  }
  out.push(listEl);
  return i;
}

function splitRow(line) {
  let s = line.trim();
  if (s.startsWith("|")) s = s.slice(1);
  if (s.endsWith("|") && !s.endsWith("\\|")) s = s.slice(0, -1);
  const cells = [];
  let cur = "";
  for (let k = 0; k < s.length; k++) {
    if (s[k] === "\\" && s[k + 1] === "|") { cur += "|"; k++; }
    else if (s[k] === "|") { cells.push(cur.trim()); cur = ""; }
    else cur += s[k];
  }
  cells.push(cur.trim());
  return cells;
}

function table(lines, i, depth, out) {
  const head = splitRow(lines[i]);
  const align = splitRow(lines[i + 1]).map((c) =>
    c.startsWith(":") && c.endsWith(":") ? "center" : c.endsWith(":") ? "right" : c.startsWith(":") ? "left" : "");
  const wrap = el("div", "table-wrap");
  const t = el("table");
  const thead = el("thead");
  const tr = el("tr");
  head.forEach((c, k) => {
    const th = el("th");
    if (align[k]) th.style.textAlign = align[k];
    th.append(...renderInline(c, depth));
    tr.append(th);
  });
  thead.append(tr);
  t.append(thead);
  const tbody = el("tbody");
  i += 2;
  while (i < lines.length && lines[i].trim() && lines[i].includes("|")) {
    const row = el("tr");
    const cells = splitRow(lines[i]);
    for (let k = 0; k < head.length; k++) {
      const td = el("td");
      if (align[k]) td.style.textAlign = align[k];
      td.append(...renderInline(cells[k] ?? "", depth));
      row.append(td);
    }
    tbody.append(row);
    i++;
  }
  t.append(tbody);
  wrap.append(t);
  out.push(wrap);
  return i;
}
