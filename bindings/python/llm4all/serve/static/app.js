// The app's entry: the nav between its views (Chat, Models, LocalDocs, Settings) by the URL's
// hash (#/models ...; Back and bookmarks work), loading the server's settings, and starting each
// view. Views talk to each other through document events ("llm4all:models-changed",
// "llm4all:collections-changed", "llm4all:settings"), not through each other's state.

import * as server from "./serversettings.js";
import { focusChat, initChat } from "./views/chat.js";
import { initDocs, showDocs } from "./views/docs.js";
import { initModels, showModels } from "./views/models.js";
import { initSettings, showSettings } from "./views/settings.js";

const VIEWS = {
  chat: { show: focusChat },
  models: { show: showModels },
  docs: { show: showDocs },
  settings: { show: showSettings },
};

// "#/models" names a view; another fragment ("#main-view", the skip link's) leaves it as it is.
function viewOf(hash) {
  const h = String(hash || "");
  if (h && !h.startsWith("#/")) return shown || "chat";
  const name = h.slice(2);
  return Object.hasOwn(VIEWS, name) ? name : "chat";
}

let shown = "";

function route(moveFocus) {
  const name = viewOf(location.hash);
  if (name === shown) return;
  shown = name;
  for (const el of document.querySelectorAll(".view")) el.hidden = el.dataset.view !== name;
  for (const a of document.querySelectorAll(".views-nav a")) {
    if (a.dataset.view === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.body.dataset.view = name;
  if (name !== "chat") document.title = document.querySelector(`#nav-${name}`).textContent + " · llm4all";
  VIEWS[name].show();
  // After a click in the nav, keyboard and screen reader users land on the view's heading.
  if (moveFocus && name !== "chat") document.querySelector(`.view[data-view="${name}"] h1`)?.focus();
}

window.addEventListener("hashchange", () => route(true));

// The chat starts at once; the server's settings (each model's sampling, the default model)
// arrive when they do. A server without them, or one that wants an API key first, still chats.
const settingsLoaded = server.load().catch(() => {});
const chatReady = initChat();
initModels();
initDocs();
initSettings(settingsLoaded);
route(false);
Promise.all([settingsLoaded, chatReady]).finally(() => {
  if (shown === "chat") focusChat();
  document.body.dataset.ready = "1";
});
