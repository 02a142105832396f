"""The app in a browser: `llm4all serve` with no model (every installed model on demand) and
its page driven in headless Chromium (Debian's /usr/bin/chromium, through Playwright). From a
loopback catalogue source the Models view downloads a model with live progress to 100%, the
chat then talks to it by name and to a second model without a restart (regenerate, edit and
resend, export as Markdown and JSON, per-model settings kept by the server); LocalDocs indexes a
typed folder and a reply's sources name its file; Settings are validated beside their fields
and kept across a reload; a phone-sized window shows every view without sideways scrolling,
with a label on every control. Screenshots of each view go to docs/images/ (or
$LLM4ALL_SCREENSHOT_DIR).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import urllib.request
from pathlib import Path

import pytest
from browser import launch as browser_launch

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright (PyPI) is not installed")
pytest.importorskip("fastapi", reason="the server needs fastapi (pip install llm4all[serve])")

import llm4all  # noqa: E402

from live_server import live_server  # noqa: E402
from loopback_server import LoopbackServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("LLM4ALL_SCREENSHOT_DIR") or ROOT / "docs" / "images")
TINY = "tiny-stories"        # the catalogue entry the page downloads (stories260K)
SLOW = "tiny-slow"           # the same file from a slow source: a download to cancel
QUESTION = "When does the Zorblax festival take place?"

def _get(srv, path):
    with urllib.request.urlopen(srv + path, timeout=60) as r:
        return json.loads(r.read())


def _post(srv, path, body):
    req = urllib.request.Request(srv + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.loads(r.read())


def _link_embedder(cache: Path) -> bool:
    """The catalogue's embedding model (minilm and the GGUF made from it) linked into cache."""
    real = llm4all.catalog.cache_dir(None)
    names = ["minilm", "minilm.sha256", "minilm-f16.gguf"]
    if not all((real / n).exists() for n in names):
        return False
    for n in names:
        os.symlink(real / n, cache / n)
    return True


@pytest.fixture(scope="module")
def world(tmp_path_factory, stories260k, smollm2):
    root = tmp_path_factory.mktemp("app-e2e")
    cache, config, data = root / "cache", root / "config", root / "data"
    cache.mkdir()
    os.symlink(smollm2, cache / "smol.gguf")         # installed already: the second model
    embedder = _link_embedder(cache)
    payload = Path(stories260k).read_bytes()
    with LoopbackServer(lifetime=900) as src:
        src.files["/tiny.gguf"] = src.files["/slow.gguf"] = payload
        # 16 KiB per 40 ms: ~3 s for the file, long enough to see the bar move; the other one
        # takes ~15 s, to be cancelled.
        src.plan["/tiny.gguf"] = [{"chunk_delay": 0.04}]
        src.plan["/slow.gguf"] = [{"chunk_delay": 0.2}]

        def entry(mid, name, url, description):
            return {"id": mid, "name": name, "description": description,
                    "architecture": "llama", "parameters": 260000, "quant": "F32", "format": "gguf",
                    "filename": f"{mid}.gguf", "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest(),
                    "context_length": 512, "license": "mit", "use": ["chat"],
                    # the file has no chat template; the catalogue gives one (plain turns, one a line)
                    "chat_template": "{% for m in messages %}{{ m['content'] }}\n{% endfor %}",
                    "sources": [{"type": "url", "url": src.url(url)}]}

        (root / "catalog.json").write_text(json.dumps({"version": 1, "models": [
            entry(TINY, "Tiny Stories 260K", "/tiny.gguf", "A 260K-parameter story model (loopback source)"),
            entry(SLOW, "Tiny Stories, slow source", "/slow.gguf", "The same, from a slow loopback source")]}))
        env = {"LLM4ALL_CATALOG": str(root / "catalog.json"), "LLM4ALL_CACHE": str(cache),
               "LLM4ALL_CONFIG_DIR": str(config), "LLM4ALL_DATA_DIR": str(data), "LLM4ALL_OFFLINE": "0",
               "NO_PROXY": "127.0.0.1,localhost"}
        with live_server(None, "--parallel", "1", "--n-ctx", "2048", "--threads", "2", env=env) as srv:
            ids = [m["id"] for m in _get(srv, "/v1/models")["data"]]
            smol = next(i for i in ids if i.startswith("smol"))
            yield {"srv": srv, "src": src, "cache": cache, "config": config, "root": root, "payload": payload,
                   "smol": smol, "embedder": embedder}


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        b = browser_launch(p)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A page of the app with its uncaught errors and 4xx/5xx answers recorded, and the chat
    requests it sent."""

    def __init__(self, browser, srv, viewport=(1100, 800), scheme="light", hash_=""):
        # bypass_csp: the page's Content-Security-Policy would refuse Playwright's polling scripts.
        self.ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                       color_scheme=scheme, bypass_csp=True, accept_downloads=True)
        self.page = self.ctx.new_page()
        self.errors, self.chats = [], []
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}")
                     if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
        self.page.on("response", lambda r: self.errors.append(f"{r.status} {r.request.method} {r.url}")
                     if r.status >= 400 else None)
        self.page.on("request", lambda r: self.chats.append(json.loads(r.post_data))
                     if r.url.endswith("/v1/chat/completions") else None)
        self.page.goto(srv + "/" + hash_)
        self.page.wait_for_selector("body[data-ready='1']")

    def close(self):
        self.ctx.close()


@pytest.fixture
def app(browser, world):
    pages = []

    def open_page(**kw):
        p = Page(browser, world["srv"], **kw)
        pages.append(p)
        return p

    yield open_page
    for p in pages:
        p.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name))
    assert (SHOTS / name).stat().st_size > 5000


def wait_reply(p, before: int, timeout=120_000) -> None:
    """Until the reply to the chat request after the first `before` ones has finished (the
    Send button is hidden from before the request until the end of the reply)."""
    deadline = time.monotonic() + 10
    while len(p.chats) == before:
        assert time.monotonic() < deadline, "the page sent no chat request"
        p.page.wait_for_timeout(20)
    p.page.wait_for_selector("#send:not([hidden])", timeout=timeout)


def send(p, text: str, timeout=120_000) -> None:
    before = len(p.chats)
    p.page.fill("#prompt", text)
    p.page.press("#prompt", "Enter")
    wait_reply(p, before, timeout)


def chat_settings(page, **fields) -> None:
    page.click("#open-settings")
    for k, v in fields.items():
        page.fill(f"#set-{k}", str(v))
    page.click("#settings button[type=submit]")


def last_reply(page):
    return page.locator("#messages article.msg.assistant").last


def replay(srv, body) -> str:
    """The server's non-streamed answer to the request the page streamed."""
    body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
    return _post(srv, "/v1/chat/completions", body)["choices"][0]["message"]["content"]


# ------------------------------------------------------------------ Models: download, then chat

PERCENT_WATCH = """(model) => {
    window.__percents = [];
    new MutationObserver(() => {
        const d = document.querySelector(`#catalog-list li[data-model="${model}"] .download`);
        const p = d ? Number(d.dataset.percent) : null;
        if (p !== null && window.__percents.at(-1) !== p) window.__percents.push(p);
    }).observe(document.getElementById('catalog-list'), {childList: true, subtree: true, attributes: true});
}"""


def test_download_from_models_view_then_chat_by_name(app, world):
    srv = world["srv"]
    p = app(hash_="#/models")
    page = p.page
    assert page.get_attribute("#nav-models", "aria-current") == "page"
    page.fill("#catalog-search", "tiny stories 260K")
    card = page.locator(f'#catalog-list li[data-model="{TINY}"]')
    card.wait_for()
    page.wait_for_function("document.querySelectorAll('#catalog-list li').length === 1")   # the search filters
    page.wait_for_function('''document.getElementById('catalog-count').textContent === '1 model matches "tiny stories 260K"' '''.strip())
    text = card.inner_text()
    assert "Fits this machine" in text and "Installed" not in text
    assert re.search(r"Download 1\.2 MB · needs [\d.]+ [kMG]?B of memory", text), text
    page.evaluate(PERCENT_WATCH, TINY)
    card.get_by_role("button", name=f"Download {TINY} (1.2 MB)").click()
    page.wait_for_selector(f'#catalog-list li[data-model="{TINY}"] .download[data-state="done"]', timeout=60_000)
    percents = page.evaluate("window.__percents")
    assert percents[-1] == 100 and percents == sorted(percents), percents
    assert any(0 < x < 100 for x in percents), percents          # the bar moved while it ran
    page.wait_for_selector(f'#installed-list li[data-model="{TINY}"]')
    page.wait_for_selector(f'#catalog-list li[data-model="{TINY}"] .badge.ok-strong')     # "Installed"
    assert "Downloaded" in page.locator(f'#catalog-list li[data-model="{TINY}"] .download').inner_text()
    assert (world["cache"] / f"{TINY}.gguf").read_bytes() == world["payload"]
    page.fill("#catalog-search", "")
    page.wait_for_function("document.querySelectorAll('#catalog-list li').length > 1")
    page.fill("#catalog-search", "tiny stories 260K")
    page.wait_for_function("document.querySelectorAll('#catalog-list li').length === 1")
    page.locator("#catalog-search").blur()
    card.scroll_into_view_if_needed()
    shot(page, "app-models.png")

    # The chat's picker learnt of the new model without a reload; the chat talks to it by name.
    page.click("#nav-chat")
    page.wait_for_selector(f"#model-picker option[value='{TINY}']", state="attached")
    # each file once, and no embedding model (it cannot chat)
    assert sorted(page.locator("#model-picker option").all_inner_texts()) == sorted([TINY, world["smol"]])
    page.select_option("#model-picker", TINY)
    chat_settings(page, temperature=0, max_tokens=12)
    send(p, "Once upon a time")
    body = p.chats[-1]
    assert body["model"] == TINY and body["temperature"] == 0 and body["max_tokens"] == 12
    reply = last_reply(page)
    assert reply.locator(".msg-role").inner_text() == TINY
    assert reply.locator(".error").count() == 0, reply.inner_text()
    text = reply.locator(".markdown").inner_text()
    assert text and text == replay(srv, body).strip()
    assert TINY in _get(srv, "/health")["loaded"]
    # The model's settings are the server's now.
    assert _get(srv, "/api/settings")["models"][TINY]["temperature"] == 0
    assert p.errors == []


def test_cancel_a_download_then_delete_a_model(app, world):
    srv = world["srv"]
    p = app(hash_="#/models")
    page = p.page
    page.on("dialog", lambda d: d.accept())          # "Delete ... from this machine?"
    card = page.locator(f'#catalog-list li[data-model="{SLOW}"]')
    card.wait_for()
    card.get_by_role("button", name=re.compile(f"^Download {SLOW} ")).click()
    pct = f"""Number(document.querySelector('#catalog-list li[data-model="{SLOW}"] .download')?.dataset.percent)"""
    page.wait_for_function(f"{pct} > 5", timeout=30_000)
    # A reload meanwhile: the page finds the running download and follows it on.
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    at = page.evaluate(f"{pct} || 0")
    page.wait_for_function(f"{pct} > {max(at, 6)}", timeout=30_000)
    card.get_by_role("button", name=f"Cancel the download of {SLOW}").click()
    page.wait_for_selector(f'#catalog-list li[data-model="{SLOW}"] .download[data-state="cancelled"]')
    assert re.fullmatch(r"Cancelled at \d+% \(a new download resumes it\)",
                        card.locator(".download-text").inner_text())
    card.get_by_role("button", name=re.compile(f"^Download {SLOW} ")).wait_for()      # offered again
    assert not (world["cache"] / f"{SLOW}.gguf").exists()
    assert (world["cache"] / f"{SLOW}.gguf.part").stat().st_size > 0              # kept for a resume
    assert [d["state"] for d in _get(srv, "/api/downloads")["downloads"] if d["model"] == SLOW] == ["cancelled"]

    # Delete: a model of the installed list goes from the list, the cache and the chat's picker.
    extra = world["cache"] / "spare.gguf"
    os.symlink(world["cache"] / "smol.gguf", extra)
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    spare = page.locator('#installed-list li[data-model="spare"]')
    spare.get_by_role("button", name="Delete spare").click()
    spare.wait_for(state="detached")
    assert not extra.exists() and (world["cache"] / "smol.gguf").exists()
    assert "spare" not in [m["id"] for m in _get(srv, "/v1/models")["data"]]
    page.click("#nav-chat")
    page.wait_for_selector(f"#model-picker option[value='{world['smol']}']", state="attached")
    assert "spare" not in page.locator("#model-picker option").all_inner_texts()
    assert p.errors == []


# ------------------------------------------------------------------ Chat: two models, regenerate, edit, export

def test_second_model_regenerate_edit_and_export(app, world, tmp_path):
    srv, smol = world["srv"], world["smol"]
    pid = srv.proc.pid
    if not (world["cache"] / f"{TINY}.gguf").exists():
        pytest.skip("needs the model downloaded by test_download_from_models_view_then_chat_by_name")
    p = app()
    page = p.page
    page.wait_for_selector(f"#model-picker option[value='{smol}']", state="attached")
    page.select_option("#model-picker", smol)
    # A value the server refuses (the dialog closed with Escape skips the browser's own check)
    # brings the dialog back with the server's message beside the field.
    page.click("#open-settings")
    page.fill("#set-temperature", "5")
    page.keyboard.press("Escape")
    page.wait_for_selector("#set-temperature-error:not([hidden])")
    assert page.evaluate("document.getElementById('settings').open")
    assert "from 0 to 2" in page.inner_text("#set-temperature-error"), page.inner_text("#set-temperature-error")
    assert page.get_attribute("#set-temperature", "aria-invalid") == "true"
    page.fill("#set-system", "Answer in one short sentence.")
    page.fill("#set-temperature", "0")
    page.fill("#set-max_tokens", "24")
    page.click("#settings button[type=submit]")
    send(p, "What is the capital of France?")
    first = p.chats[-1]
    assert first["model"] == smol and first["messages"][0] == {"role": "system",
                                                                "content": "Answer in one short sentence."}
    answer = last_reply(page).locator(".markdown").inner_text()
    assert "Paris" in answer and answer == replay(srv, first).strip()
    assert _get(srv, "/api/settings")["models"][smol]["temperature"] == 0

    # The same conversation switched to the first model: its own settings (kept by the server
    # from the other browser session) go with the request; both models stay loaded.
    page.select_option("#model-picker", TINY)
    send(p, "Tell me a story.")
    body = p.chats[-1]
    assert body["model"] == TINY and body["temperature"] == 0 and body["max_tokens"] == 12
    assert body["messages"][0]["role"] == "user"          # the other model's system prompt is not used
    assert last_reply(page).locator(".msg-role").inner_text() == TINY
    health = _get(srv, "/health")
    assert {TINY, smol} <= set(health["loaded"]) and srv.proc.pid == pid and srv.proc.poll() is None

    # Regenerate: the last reply is asked for again (greedy: the same text), not added to.
    page.select_option("#model-picker", smol)
    n = page.locator("#messages article.msg").count()
    story = last_reply(page).locator(".markdown").inner_text()
    before = len(p.chats)
    last_reply(page).get_by_role("button", name="Regenerate this reply").click()
    wait_reply(p, before)
    regen = p.chats[-1]
    # the same turns as the replaced reply's request, now with this model's system prompt
    assert regen["messages"][1:] == body["messages"] and regen["messages"][0]["role"] == "system"
    assert regen["model"] == smol and page.locator("#messages article.msg").count() == n
    again = last_reply(page).locator(".markdown").inner_text()
    assert again == replay(srv, regen).strip() and last_reply(page).locator(".msg-role").inner_text() == smol
    assert story not in [m["content"] for m in json.loads(
        page.evaluate("localStorage.getItem('llm4all.conversations')"))[0]["messages"]] or story == again

    # Edit and resend the first message: what followed it is replaced by the new answer.
    page.locator("#messages article.msg.user").first.get_by_role("button", name="Edit and resend this message").click()
    page.fill("#messages .edit-text", "What is the capital of Spain?")
    before = len(p.chats)
    page.press("#messages .edit-text", "Enter")
    wait_reply(p, before)
    edited = p.chats[-1]
    assert [m for m in edited["messages"] if m["role"] != "system"] == [
        {"role": "user", "content": "What is the capital of Spain?"}]
    assert page.locator("#messages article.msg").count() == 2
    madrid = last_reply(page).locator(".markdown").inner_text()
    assert madrid and madrid == replay(srv, edited).strip()
    shot(page, "app-chat.png")

    # Export as Markdown and as JSON: download links with the conversation.
    page.click("#export-menu summary")
    with page.expect_download() as md_dl:
        page.click("#export-md")
    md = Path(md_dl.value.path()).read_text()
    assert md_dl.value.suggested_filename.endswith(".md")
    assert md.startswith("# What is the capital of France?") and "## You\n\nWhat is the capital of Spain?" in md
    assert f"## {smol}\n\n{madrid}" in md
    page.click("#export-menu summary")
    with page.expect_download() as js_dl:
        page.click("#export-json")
    doc = json.loads(Path(js_dl.value.path()).read_text())
    assert js_dl.value.suggested_filename.endswith(".json") and doc["model"] == smol
    assert [(m["role"], m["content"]) for m in doc["messages"]] == [
        ("user", "What is the capital of Spain?"), ("assistant", madrid)]
    assert [e for e in p.errors if "422 PUT" not in e] == [] and len(p.errors) == 1


# ------------------------------------------------------------------ LocalDocs

def test_localdocs_folder_indexed_and_cited(app, world, tmp_path):
    if not world["embedder"]:
        print("SKIP reason: the catalogue's embedding model (minilm) is not in the model cache")
        pytest.skip("the embedding model is not in the cache; run `llm4all pull minilm` and convert it")
    srv, smol = world["srv"], world["smol"]
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "zorblax.md").write_text(
        "# The Zorblax festival\n\nThe Zorblax festival takes place every April in the village of Quimbly. "
        "Visitors fly paper kites shaped like fish and eat blue pancakes.\n")
    (folder / "garden.md").write_text(
        "# Tomatoes\n\nTomatoes need six hours of sun a day and deep watering twice a week.\n")
    (folder / "bikes.txt").write_text("A bicycle chain should be cleaned and oiled every few hundred kilometres.\n")
    p = app(hash_="#/docs")
    page = p.page
    page.fill("#docs-name", "notes")
    page.fill("#docs-path", str(tmp_path / "no-such-folder"))
    page.click("#docs-add")
    page.wait_for_selector("#docs-path-error:not([hidden])")
    assert "no-such-folder" in page.inner_text("#docs-path-error")
    assert page.get_attribute("#docs-path", "aria-invalid") == "true"
    page.fill("#docs-path", str(folder))
    assert page.get_attribute("#docs-path", "aria-invalid") is None          # cleared on typing
    page.click("#docs-add")
    card = page.locator('#collection-list li[data-collection="notes"]')
    card.wait_for()
    page.wait_for_function(
        "document.getElementById('docs-status').textContent.startsWith('notes: Indexed')", timeout=180_000)
    page.wait_for_function(
        """() => /3 documents/.test(document.querySelector('#collection-list li[data-collection="notes"]')
                                    ?.textContent || '')""")
    shot(page, "app-localdocs.png")

    page.click("#nav-chat")
    page.wait_for_selector("#docs-picker:not([hidden]) option[value='notes']", state="attached")
    page.select_option("#docs-picker", "notes")
    page.select_option("#model-picker", smol)
    chat_settings(page, temperature=0, max_tokens=12)
    send(p, QUESTION, timeout=180_000)
    assert p.chats[-1]["localdocs"] == ["notes"]
    sources = last_reply(page).locator(".sources .source").all_inner_texts()
    assert sources and sources[0].startswith("zorblax.md"), sources
    # Each conversation keeps its collection: a new chat set to none, then back to this one.
    page.click("#new-chat")
    page.select_option("#docs-picker", "")
    page.get_by_role("button", name=QUESTION, exact=True).click()
    assert page.input_value("#docs-picker") == "notes"
    page.click("#new-chat")
    assert page.input_value("#docs-picker") == "notes"      # a new chat starts with the one in use
    errors = [e for e in p.errors if not ("400 POST" in e and e.endswith("/api/localdocs"))]
    assert errors == []


# ------------------------------------------------------------------ Settings

def test_settings_validated_and_kept_after_reload(app, world):
    srv, smol = world["srv"], world["smol"]
    p = app(hash_="#/settings")
    page = p.page
    page.wait_for_function("document.getElementById('app-device').value === 'auto'")
    assert page.input_value("#app-gpu_layers") == "-1" and page.input_value("#app-threads") == ""
    # Checked in the page (no request) and by the server (its message beside the field).
    page.fill("#app-n_ctx", "10")
    page.click("#app-settings-save")
    assert page.inner_text("#app-n_ctx-error") == "Enter a number from 64 to 1048576."
    assert page.evaluate("document.activeElement.id") == "app-n_ctx"
    page.fill("#app-n_ctx", "1024")
    page.fill("#app-device", "warp-drive")
    page.click("#app-settings-save")
    page.wait_for_selector("#app-device-error:not([hidden])")
    assert "warp-drive" in page.inner_text("#app-device-error")
    assert page.get_attribute("#app-device", "aria-invalid") == "true"
    assert _get(srv, "/api/settings")["n_ctx"] is None               # nothing was stored
    page.fill("#app-device", "cpu")
    page.fill("#app-threads", "2")
    page.wait_for_selector(f"#app-default_model option[value='{smol}']", state="attached")
    page.select_option("#app-default_model", smol)
    page.click("#app-settings-save")
    page.wait_for_function("document.getElementById('app-settings-status').textContent.startsWith('Saved')")
    assert page.locator("#app-device-error").is_hidden()
    stored = json.loads((world["config"] / "settings.json").read_text())
    assert (stored["threads"], stored["device"], stored["n_ctx"], stored["default_model"]) == (2, "cpu", 1024, smol)

    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_function("document.getElementById('app-device').value === 'cpu'")
    assert (page.input_value("#app-threads"), page.input_value("#app-n_ctx"),
            page.input_value("#app-gpu_layers")) == ("2", "1024", "-1")
    page.wait_for_function(f"document.getElementById('app-default_model').value === {json.dumps(smol)}")
    shot(page, "app-settings.png")
    # A new chat starts with the default model.
    page.click("#nav-chat")
    page.wait_for_function(f"document.getElementById('model-picker').value === {json.dumps(smol)}")
    assert [e for e in p.errors if "422 PUT" not in e] == []
    assert sum("422 PUT" in e for e in p.errors) == 1


# ------------------------------------------------------------------ a phone-sized window, labels, contrast

UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button, a[href], summary')]
    .filter((e) => {
        const named = (e.getAttribute('aria-label') || '').trim() || e.getAttribute('aria-labelledby');
        if (['INPUT', 'SELECT', 'TEXTAREA'].includes(e.tagName)) return !(e.labels && e.labels.length) && !named;
        return !named && !e.textContent.trim();
    }).map((e) => e.outerHTML.slice(0, 120))"""

CONTRAST = """(sel) => {
    const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => { const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
                                 return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
    const bg = (e) => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
                                                          if (c.length === 3 || c[3] > 0) return c.slice(0, 3); }
                        return [255, 255, 255]; };
    return [...document.querySelectorAll(sel)].filter((e) => e.offsetParent).map((e) => {
        const a = lum(rgb(getComputedStyle(e).color)), b = lum(bg(e));
        return [e.textContent.trim().slice(0, 30), (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
    });
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_window_every_view(app, world, tmp_path, scheme):
    p = app(viewport=(390, 844), scheme=scheme)
    page = p.page
    seen = {}
    # Keyboard only: Tab from one nav link to the next, Enter opens its view and the view's
    # heading gets the focus.
    page.focus("#nav-chat")
    for view, heading in [("models", "models-title"), ("docs", "docs-title"), ("settings", "app-settings-title")]:
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == f"nav-{view}"
        page.keyboard.press("Enter")
        page.wait_for_function(f"document.body.dataset.view === '{view}'")
        page.wait_for_function(f"document.activeElement.id === '{heading}'")
        if view == "models":
            page.wait_for_selector(f'#catalog-list li[data-model="{TINY}"]')
        page.wait_for_timeout(300)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, view
        for link in page.locator(".views-nav a").all():
            box = link.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, view
        seen[view] = page.evaluate(CONTRAST, ".views-nav a, .badge, .card-meta, .muted, label, .card-title")
        page.screenshot(path=str(tmp_path / f"app-phone-{scheme}-{view}.png"))
        page.focus(f"#nav-{view}")
    # The skip link's fragment is not a view: the view stays.
    page.evaluate("location.hash = '#main-view'")
    page.wait_for_timeout(100)
    assert page.evaluate("document.body.dataset.view") == "settings"
    page.click("#nav-chat")
    page.screenshot(path=str(tmp_path / f"app-phone-{scheme}-chat.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("#prompt").is_visible() and page.locator("#send").is_visible()
    assert page.evaluate(UNLABELLED) == []
    low = [(v, t, round(r, 2)) for v, items in seen.items() for t, r in items if r < 4.5]
    assert low == [], low
    assert p.errors == []
