// Small DOM and formatting helpers shared by the views: element creation (text only, never
// HTML strings), byte sizes, and marking a form field invalid with its message beside it.

export const $ = (id) => document.getElementById(id);

export function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function button(text, cls, label, onClick) {
  const b = h("button", cls, text);
  b.type = "button";
  if (label) b.setAttribute("aria-label", label);
  if (onClick) b.addEventListener("click", onClick);
  return b;
}

/** 1234567 -> "1.2 MB" (decimal units, as disk sizes are sold). */
export function bytes(n) {
  if (!Number.isFinite(n) || n < 0) return "?";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return (i === 0 || n >= 100 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
}

/** Shows message under a field (an element with id `${input.id}-error`); "" clears it. */
export function fieldError(input, message) {
  const box = document.getElementById(input.id + "-error");
  if (box) {
    box.textContent = message;
    box.hidden = !message;
  }
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}

/** A one-line status region's text (role=status elements are announced when they change). */
export function say(el, text, isError = false) {
  el.textContent = text;
  el.hidden = !text;
  el.classList.toggle("is-error", !!isError);
}
