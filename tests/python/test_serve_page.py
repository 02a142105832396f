"""The browser chat page of `llm4all serve`, driven in headless Chromium (Debian's
/usr/bin/chromium, through Playwright): markdown rendering on tricky and hostile input,
injected markup in a streamed reply never running (also after a reload from localStorage),
and end to end against a live server with SmolLM2: a streamed reply, stop, history after a
reload, settings, errors. Screenshots go to the test's tmp dir and $LLM4ALL_SCREENSHOT_DIR.
"""

from __future__ import annotations

import importlib.util
import json
import mimetypes
import os
import re
import shutil
import time
import urllib.request
from pathlib import Path

import pytest
from browser import launch as browser_launch

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright (PyPI) is not installed")

# The page served from a made-up origin, every request answered by the test (no server):
# *.localhost is a secure context in Chromium, as 127.0.0.1 is for the real server.
FAKE_ORIGIN = "http://page.localhost"
FAKE_MODEL = "fake-model"


def _static_dir() -> Path:
    # The files in this checkout (what the package ships); else the installed package's.
    here = Path(__file__).resolve().parents[2] / "bindings" / "python" / "llm4all" / "serve" / "static"
    if here.is_dir():
        return here
    spec = importlib.util.find_spec("llm4all")
    return Path(list(spec.submodule_search_locations)[0]) / "serve" / "static"


STATIC = _static_dir()


# ------------------------------------------------------------------ browser fixtures

@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        b = browser_launch(p)
        try:
            yield b
        finally:
            b.close()


class PageErrors(list):
    """Uncaught page errors and console errors, checked at the end of each test."""


@pytest.fixture
def context(browser):
    # bypass_csp: the page's Content-Security-Policy would refuse Playwright's polling scripts;
    # it also means the hostile-markup tests show the renderer safe on its own, without the CSP.
    ctx = browser.new_context(viewport={"width": 1100, "height": 760}, bypass_csp=True)
    yield ctx
    ctx.close()


def _watch(page) -> PageErrors:
    errors = PageErrors()
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    # "Failed to load resource" says no more than the response it is about, listed with its URL.
    page.on("console", lambda m: errors.append(f"console: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return errors


def sse(chunks) -> str:
    """A server-sent-event body: one `data:` event per chunk, then [DONE]."""
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"


def content_chunks(pieces, *, model=FAKE_MODEL, usage=None, reasoning=()):
    base = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0, "model": model}
    out = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                 "finish_reason": None}]}]
    for r in reasoning:
        out.append({**base, "choices": [{"index": 0, "delta": {"reasoning_content": r}, "finish_reason": None}]})
    for p in pieces:
        out.append({**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]})
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if usage:
        out.append({**base, "choices": [], "usage": usage})
    return out


class FakeServer:
    """Answers every request of a page on FAKE_ORIGIN: the package's static files, /v1/models,
    /v1/localdocs, /api/settings, /api/installed and /v1/chat/completions with whatever the test sets
    (status, body);
    records requests."""

    def __init__(self, page):
        self.page = page
        self.requests = []
        self.completion = (200, "text/event-stream", sse(content_chunks(["Hello", " there."])))
        self.models = [FAKE_MODEL]
        self.settings = {"threads": None, "device": "auto", "gpu_layers": -1, "n_ctx": None,
                         "default_model": None, "models": {}}
        page.route(f"{FAKE_ORIGIN}/**", self._handle)

    def _handle(self, route):
        req = route.request
        path = req.url[len(FAKE_ORIGIN):].split("?")[0]
        if path == "/":
            path = "/static/index.html"
        if path == "/v1/models":
            return route.fulfill(status=200, content_type="application/json",
                                 body=json.dumps({"object": "list",
                                                  "data": [{"id": m, "object": "model"} for m in self.models]}))
        if path == "/v1/localdocs":      # LocalDocs collections: none here (the picker stays hidden)
            return route.fulfill(status=200, content_type="application/json",
                                 body=json.dumps({"object": "list", "data": []}))
        if path == "/api/installed":
            return route.fulfill(status=200, content_type="application/json", body=json.dumps(
                {"models": [{"id": m, "file": m + ".gguf", "path": "/m/" + m + ".gguf", "size_bytes": 1,
                             "loaded": False, "type": "chat"} for m in self.models]}))
        if path == "/api/settings":      # the app's stored settings: kept in memory, no validation
            if req.method == "PUT":
                self.settings.update(json.loads(req.post_data or "{}"))
            return route.fulfill(status=200, content_type="application/json", body=json.dumps(self.settings))
        if path == "/v1/chat/completions":
            self.requests.append({"headers": req.headers, "body": json.loads(req.post_data or "{}")})
            if self.completion is None:
                return route.abort("connectionrefused")
            status, ctype, body = self.completion
            return route.fulfill(status=status, content_type=ctype, body=body)
        if path.startswith("/static/"):
            f = STATIC / path[len("/static/"):]
            if f.is_file() and STATIC.resolve() in f.resolve().parents:
                ctype = mimetypes.guess_type(f.name)[0] or "application/octet-stream"
                if f.suffix == ".js":
                    ctype = "text/javascript"
                return route.fulfill(status=200, content_type=ctype, body=f.read_bytes())
        return route.fulfill(status=404, content_type="application/json",
                             body=json.dumps({"error": {"message": "not found", "type": "invalid_request_error"}}))


@pytest.fixture
def fake(context):
    page = context.new_page()
    errors = _watch(page)
    server = FakeServer(page)
    page.goto(FAKE_ORIGIN + "/")
    page.wait_for_selector("body[data-ready='1']")
    yield page, server
    assert [e for e in errors if "/v1/chat/completions" not in e] == []


def render(page, markdown: str) -> dict:
    """markdown.js's renderer in the page: the resulting HTML (read back, for checking) and text."""
    return page.evaluate(
        """async (md) => {
            const m = await import('/static/markdown.js');
            const div = document.createElement('div');
            const t0 = performance.now();
            div.append(m.renderMarkdown(md));
            const ms = performance.now() - t0;
            return {html: div.innerHTML, text: div.textContent, ms,
                    tags: [...div.querySelectorAll('*')].map(e => e.tagName.toLowerCase())};
        }""",
        markdown,
    )


def send(page, text: str) -> None:
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")


def last_reply(page):
    return page.locator("#messages article.msg.assistant").last


def wait_idle(page, timeout=60_000) -> None:
    """Until no reply is streaming (the Send button is back)."""
    page.wait_for_selector("#send:not([hidden])", timeout=timeout)


def stored(page) -> list:
    return page.evaluate("JSON.parse(localStorage.getItem('llm4all.conversations') || '[]')")


def screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    out = os.environ.get("LLM4ALL_SCREENSHOT_DIR")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(out) / name)
    assert path.stat().st_size > 1000
    return path


# ------------------------------------------------------------------ markdown.js, in the browser

def test_markdown_fences_nested_unclosed_and_tilde(fake):
    page, _ = fake
    # A longer fence holds a shorter one as text; the inner ``` does not close it.
    r = render(page, "````markdown\n```js\nalert(1)\n```\n````\nafter")
    assert r["tags"].count("pre") == 1
    code = page.evaluate("""async () => {
        const m = await import('/static/markdown.js');
        const d = document.createElement('div');
        d.append(m.renderMarkdown('````markdown\\n```js\\nalert(1)\\n```\\n````\\nafter'));
        return [d.querySelector('pre code').textContent, d.querySelector('.code-lang').textContent,
                d.querySelector('p').textContent];
    }""")
    assert code == ["```js\nalert(1)\n```", "markdown", "after"]

    # Unclosed (a reply still streaming): the code runs to the end and is marked.
    r = render(page, "Here:\n```python\ndef f():\n    return '<b>'\n")
    assert "unclosed" in r["html"] and r["tags"].count("pre") == 1
    assert r["text"].endswith("def f():\n    return '<b>'")
    assert "b" not in r["tags"]

    # ~~~ is closed only by ~~~, and an info string with a backtick is not a fence.
    r = render(page, "~~~\n```\nx\n~~~\n``` a`b\ny")
    assert r["tags"].count("pre") == 1 and "```\nx" in r["text"] and "``` a`b" in r["text"]

    # An indented fence (in a list item) strips the item's indent from the code.
    r = render(page, "1. step\n\n   ```sh\n   ls -l\n   ```\n2. next")
    assert r["tags"].count("pre") == 1 and r["tags"].count("li") == 2
    assert "ls -l" in r["text"] and "   ls" not in r["text"]


def test_markdown_html_is_text_and_entities_decode(fake):
    page, _ = fake
    r = render(page, "&lt;b&gt;x&lt;/b&gt; &amp;amp; &#65;&#x1F600; &bogus; &#0; &#xD800;\n"
                     "<b>raw</b> <script>window.__pwned=1</script> <img src=x onerror=\"window.__pwned=1\">")
    assert r["tags"] == ["p", "br"]
    assert r["text"] == ("<b>x</b> &amp; A\U0001F600 &bogus; \ufffd \ufffd"
                         "<b>raw</b> <script>window.__pwned=1</script> <img src=x onerror=\"window.__pwned=1\">")
    # Entities are not decoded in code: `&amp;` in code is what the model wrote.
    r = render(page, "`&amp; <i>`\n\n```\n&lt;div&gt;\n```")
    assert "i" not in r["tags"] and r["tags"].count("div") == 2   # the code block and its head
    code_texts = page.evaluate("""async () => {
        const m = await import('/static/markdown.js');
        const d = document.createElement('div');
        d.append(m.renderMarkdown('`&amp; <i>`\\n\\n```\\n&lt;div&gt;\\n```'));
        return [...d.querySelectorAll('code')].map(c => c.textContent);
    }""")
    assert code_texts == ["&amp; <i>", "&lt;div&gt;"]
    assert page.evaluate("window.__pwned") is None


def test_markdown_links_only_http(fake):
    page, _ = fake
    links = page.evaluate("""async () => {
        const m = await import('/static/markdown.js');
        const d = document.createElement('div');
        d.append(m.renderMarkdown([
            '[ok](https://example.com/a?b=1 "title") and <http://example.org/x>',
            'bare https://en.wikipedia.org/wiki/Foo_(bar). end',
            '[js](javascript:window.__pwned=1) [JS](JaVaScRiPt:alert(1)) [tab](java\\tscript:alert(1))',
            '[data](data:text/html,<script>alert(1)</script>) [rel](/v1/models) [vb](vbscript:x)',
            '![img](https://example.com/i.png) ![bad](javascript:alert(1))',
        ].join('\\n\\n')));
        return [...d.querySelectorAll('a')].map(a => [a.getAttribute('href'), a.textContent, a.rel, a.target]);
    }""")
    assert [l[0] for l in links] == ["https://example.com/a?b=1", "http://example.org/x",
                                     "https://en.wikipedia.org/wiki/Foo_(bar)", "https://example.com/i.png"]
    assert [l[1] for l in links] == ["ok", "http://example.org/x", "https://en.wikipedia.org/wiki/Foo_(bar)", "img"]
    assert all("noopener" in l[2] and l[3] == "_blank" for l in links)
    # The refused links stay visible as the text the model wrote.
    r = render(page, "[js](javascript:window.__pwned=1)")
    assert r["text"] == "[js](javascript:window.__pwned=1)" and "a" not in r["tags"]
    r = render(page, "![x](https://example.com/i.png)")
    assert "img" not in r["tags"]      # a reply never makes the page fetch an image


def test_markdown_blocks_and_emphasis(fake):
    page, _ = fake
    md = ("# Title #\n\nSome **bold**, *it*, _it_, ~~gone~~, `a*b*c` and snake_case_name.\n\n"
          "- one\n- two\n  - nested\n\n1. first\n2. second\n\n> quoted **x**\n\n---\n\n"
          "| a | b |\n|:--|--:|\n| 1 | `|` |\n| 2 | 3 |\n")
    r = render(page, md)
    for tag in ["h3", "strong", "em", "del", "ul", "ol", "blockquote", "hr", "table", "th", "td"]:
        assert tag in r["tags"], tag
    assert r["tags"].count("em") == 2 and r["tags"].count("ul") == 2 and r["tags"].count("td") == 4
    assert "snake_case_name" in r["text"] and "Title" in r["text"] and "#" not in r["text"]
    assert "a*b*c" in r["text"]
    # Unmatched delimiters are text.
    r = render(page, "2 * 3 * 4, a ** b, **open, `tick, [bracket](, ~single~")
    assert r["tags"] == ["p"] and r["text"] == "2 * 3 * 4, a ** b, **open, `tick, [bracket](, ~single~"


def test_markdown_long_and_hostile_lines_render_fast(fake):
    page, _ = fake
    n = 60_000
    cases = {
        "plain": "x" * 200_000,
        "stars": "*a " * n,
        "open stars": "**a " * n,
        "brackets": "[" * n + "](" * 1000,
        "ticks": "`" * 1 + "a``" * n,
        "underscores": "_a_b " * n,
        "urls": "https://e.com/" * 5000,
        "lt": "<" * n + "<https://x",
        "entities": "&amp" * n,
        "quotes": "> " * 5000 + "deep",
        "lists": "".join("  " * min(k, 6) + "- item\n" for k in range(5000)),
        "hashes": "# " + " " * n + "#" * n + "x",
    }
    for name, md in cases.items():
        r = render(page, md)
        assert r["ms"] < 2000, (name, r["ms"])
        assert len(r["text"]) > 0, name
    r = render(page, "y" * 200_000)
    assert r["text"] == "y" * 200_000
    assert page.evaluate("window.__pwned") is None


def test_markdown_list_structure(fake):
    page, _ = fake
    r = render(page, "3. three\n4. four\n   - sub *a*\n   - sub b\n\n     more of sub b\n5. five")
    # The outer list is tight; the nested one is loose (its second item has two paragraphs).
    assert r["html"] == ('<ol start="3"><li>three</li><li>four<ul><li><p>sub <em>a</em></p></li>'
                         '<li><p>sub b</p><p>more of sub b</p></li></ul></li><li>five</li></ol>')
    # A blank line between items makes a loose list (paragraphs); none makes a tight one.
    assert render(page, "- a\n- b")["html"] == "<ul><li>a</li><li>b</li></ul>"
    assert render(page, "- a\n\n- b")["html"] == "<ul><li><p>a</p></li><li><p>b</p></li></ul>"
    # A lazy continuation line belongs to the item; a new marker of another kind starts a list.
    assert render(page, "- a\ncontinued\n1. x")["html"] == "<ul><li>a<br>continued</li></ul><ol><li>x</li></ol>"


FUZZ_PIECES = ["*", "**", "_", "__", "~~", "`", "```", "~~~", "[", "]", "(", ")", "](", "<", ">", "!", "#",
               "# ", "> ", "- ", "1. ", "|", "---", "\\", "&", "&amp;", "&#x3c;", ";", " ", "  ", "\n", "\n\n",
               "    ", "a", "word", "https://example.com/x", "javascript:alert(1)", "data:text/html,x",
               "<script>window.__pwned=1</script>", "<img src=x onerror=window.__pwned=1>", "</p>", "\"", "'"]
ALLOWED_TAGS = {"p", "br", "code", "pre", "div", "span", "button", "strong", "em", "del", "a", "h3", "h4", "h5",
                "h6", "ul", "ol", "li", "blockquote", "hr", "table", "thead", "tbody", "tr", "th", "td"}


def test_markdown_fuzz_only_safe_nodes(fake):
    """Random mixes of markdown syntax and hostile markup: the renderer never throws, never takes
    long, makes only known elements, no event-handler attributes, and links only to http(s)."""
    import random
    page, _ = fake
    rng = random.Random(1234)
    inputs = ["".join(rng.choice(FUZZ_PIECES) for _ in range(rng.randint(1, 400))) for _ in range(400)]
    out = page.evaluate("""async (inputs) => {
        const m = await import('/static/markdown.js');
        const res = {tags: new Set(), attrs: new Set(), hrefs: new Set(), worst: 0, errors: []};
        for (const md of inputs) {
            const d = document.createElement('div');
            const t0 = performance.now();
            try { d.append(m.renderMarkdown(md)); } catch (e) { res.errors.push(String(e)); continue; }
            res.worst = Math.max(res.worst, performance.now() - t0);
            for (const e of d.querySelectorAll('*')) {
                res.tags.add(e.tagName.toLowerCase());
                for (const a of e.attributes) res.attrs.add(a.name);
                if (e.tagName === 'A') res.hrefs.add(new URL(e.href).protocol);
            }
        }
        return {tags: [...res.tags], attrs: [...res.attrs], hrefs: [...res.hrefs], worst: res.worst,
                errors: res.errors, pwned: window.__pwned ?? null};
    }""", inputs)
    assert out["errors"] == []
    assert set(out["tags"]) <= ALLOWED_TAGS, set(out["tags"]) - ALLOWED_TAGS
    assert set(out["attrs"]) <= {"class", "href", "target", "rel", "type", "aria-label", "data-lang", "start",
                                 "style"}, out["attrs"]
    assert set(out["hrefs"]) <= {"http:", "https:"}
    assert out["worst"] < 500
    assert out["pwned"] is None


# ------------------------------------------------------------------ the page, with answers set by the test

HOSTILE = [
    "Look: <script>window.__pwned=1</script> and ",
    '<img src=x onerror="window.__pwned=1"> then ',
    "[click me](javascript:window.__pwned=1) and <a href=\"javascript:window.__pwned=1\">a</a>",
    "\n\n```html\n<script>window.__pwned=1</script>\n<img src=x onerror=\"window.__pwned=1\">\n```\n",
    "<svg onload=\"window.__pwned=1\"></svg><iframe src=\"javascript:window.__pwned=1\"></iframe>",
]


def assert_inert(page) -> None:
    page.wait_for_timeout(300)           # an onerror would fire on the failed image load
    assert page.evaluate("window.__pwned") is None
    found = page.evaluate("""() => {
        const m = document.getElementById('messages');
        return {
            bad: [...m.querySelectorAll('script, img, svg, iframe, object, embed')].map(e => e.tagName),
            handlers: [...m.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name))
                        .filter(n => n.startsWith('on')),
            hrefs: [...m.querySelectorAll('a')].map(a => a.getAttribute('href')),
        };
    }""")
    assert found == {"bad": [], "handlers": [], "hrefs": []}
    # Defence in depth (bypassed in these tests): the page forbids inline scripts anyway.
    csp = page.get_attribute("meta[http-equiv=Content-Security-Policy]", "content")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    reply = last_reply(page)
    text = reply.inner_text()
    assert "<script>window.__pwned=1</script>" in text
    assert '<img src=x onerror="window.__pwned=1">' in text
    assert "[click me](javascript:window.__pwned=1)" in text
    code = reply.locator("pre code").inner_text()
    assert code == '<script>window.__pwned=1</script>\n<img src=x onerror="window.__pwned=1">'


def hostile_route(route):
    route.fulfill(status=200, content_type="text/event-stream", body=sse(content_chunks(HOSTILE)))


def test_hostile_reply_markup_never_runs_fake(fake):
    """Injected markup in a streamed reply (the server's part played by the test) is shown as text,
    live and after a reload from localStorage; the user's own message is text too."""
    page, server = fake
    server.completion = (200, "text/event-stream", sse(content_chunks(HOSTILE)))
    send(page, "<img src=x onerror=\"window.__pwned=1\"> say something")
    wait_idle(page)
    assert_inert(page)
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert_inert(page)
    assert "<img src=x onerror" in page.locator("#conversations").inner_text()   # the title, as text


def test_request_settings_auth_and_usage_speed(fake):
    page, server = fake
    server.completion = (200, "text/event-stream",
                         sse(content_chunks(["Hi", "!", " How", " can", " I", " help?"],
                                            usage={"prompt_tokens": 9, "completion_tokens": 6, "total_tokens": 15},
                                            reasoning=["The user ", "greets me."])))
    page.click("#open-settings")
    page.fill("#set-system", "Be brief.")
    page.fill("#set-temperature", "0")
    page.fill("#set-top_p", "0.9")
    page.fill("#set-max_tokens", "32")
    page.fill("#set-seed", "7")
    page.fill("#set-apiKey", "sk-test-123")
    page.click("#settings button[type=submit]")
    send(page, "hello")
    wait_idle(page)
    req = server.requests[-1]
    assert req["headers"].get("authorization") == "Bearer sk-test-123"
    body = req["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["model"] == FAKE_MODEL
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}]
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == (0, 0.9, 32, 7)
    reply = last_reply(page)
    assert reply.locator(".markdown").inner_text() == "Hi! How can I help?"
    # (the speed is left out when the whole reply arrived at once, as it does here)
    assert re.fullmatch(r"6 tokens( · [\d.]+ tok/s)? · first token [\d.]+ s", reply.locator(".stats").inner_text())
    # Reasoning is shown, collapsed.
    details = reply.locator("details.reasoning")
    assert details.count() == 1 and details.get_attribute("open") is None
    assert details.locator(".reasoning-text").text_content() == "The user greets me."
    assert page.locator("#model-name").inner_text() == FAKE_MODEL
    # The second turn carries the first reply back (without the reasoning).
    send(page, "again")
    wait_idle(page)
    assert [m["content"] for m in server.requests[-1]["body"]["messages"]] == [
        "Be brief.", "hello", "Hi! How can I help?", "again"]
    # Settings survive a reload.
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.click("#open-settings")
    assert page.input_value("#set-apiKey") == "sk-test-123" and page.input_value("#set-seed") == "7"


def test_server_errors_are_shown_readably(fake):
    page, server = fake
    server.completion = (400, "application/json", json.dumps({"error": {
        "message": "This model's maximum context length is 2048 tokens.", "type": "invalid_request_error",
        "param": "messages", "code": "context_length_exceeded"}}))
    send(page, "too long")
    wait_idle(page)
    err = last_reply(page).locator(".error")
    assert err.inner_text() == "Server error 400: This model's maximum context length is 2048 tokens."
    assert err.get_attribute("role") == "alert"
    # An error inside the stream (after some text) keeps the text and shows the error.
    server.completion = (200, "text/event-stream",
                         "data: " + json.dumps(content_chunks(["partial"])[1]) + "\n\n"
                         "data: " + json.dumps({"error": {"message": "engine failed", "type": "server_error"}})
                         + "\n\n")
    send(page, "next")
    wait_idle(page)
    assert last_reply(page).locator(".markdown").inner_text() == "partial"
    assert last_reply(page).locator(".error").inner_text() == "Server error: engine failed"
    # 401 points at the settings; a turn whose reply failed is not sent back to the model
    # (roles keep alternating), a partial reply is.
    server.completion = (401, "application/json", json.dumps({"error": {"message": "Invalid API key",
                                                                          "type": "invalid_request_error"}}))
    send(page, "third")
    wait_idle(page)
    assert "Invalid API key" in last_reply(page).locator(".error").inner_text()
    assert "Settings" in last_reply(page).locator(".error").inner_text()
    assert [(m["role"], m["content"]) for m in server.requests[-1]["body"]["messages"]] == [
        ("user", "next"), ("assistant", "partial"), ("user", "third")]
    # No answer at all, and an empty reply.
    server.completion = None
    send(page, "fourth")
    wait_idle(page)
    assert last_reply(page).locator(".error").inner_text().startswith("Could not reach the server for a reply (")
    server.completion = (200, "text/event-stream", sse(content_chunks([])))
    send(page, "fifth")
    wait_idle(page)
    assert last_reply(page).locator(".note").inner_text() == "The model gave an empty reply."
    assert last_reply(page).locator(".error").count() == 0


def test_conversations_new_rename_delete_keyboard(fake):
    page, server = fake
    send(page, "first chat")
    wait_idle(page)
    # Shift+Enter makes a new line, Enter sends.
    page.click("#new-chat")
    page.fill("#prompt", "line one")
    page.press("#prompt", "Shift+Enter")
    page.keyboard.type("line two")
    assert page.input_value("#prompt") == "line one\nline two"
    page.press("#prompt", "Enter")
    wait_idle(page)
    assert server.requests[-1]["body"]["messages"] == [{"role": "user", "content": "line one\nline two"}]
    items = page.locator("#conversations li")
    assert items.count() == 2
    assert page.locator("#conversations [aria-current=true]").inner_text() == "line one line two"
    # Rename with the keyboard.
    page.get_by_role("button", name='Rename "first chat"').click()
    page.fill("#conversations input.rename", "Renamed <b>chat</b>")
    page.press("#conversations input.rename", "Enter")
    assert "Renamed <b>chat</b>" in page.locator("#conversations").inner_text()
    # Switch, reload: both kept, the current one still current.
    page.get_by_role("button", name="Renamed <b>chat</b>", exact=True).click()
    assert page.locator("#chat-title").inner_text() == "Renamed <b>chat</b>"
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#chat-title").inner_text() == "Renamed <b>chat</b>"
    assert page.locator("#messages .msg.user .msg-body").inner_text() == "first chat"
    # Delete (after confirming).
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name='Delete "Renamed <b>chat</b>"').click()
    assert items.count() == 1
    assert [c["title"] for c in stored(page)] == ["line one line two"]
    # A corrupted store starts fresh instead of breaking the page.
    page.evaluate("localStorage.setItem('llm4all.conversations', '{not json')")
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#conversations li").count() == 0


def test_model_picker_per_conversation(fake):
    """A server with several models: the picker replaces the name, the chosen model goes into
    the request, and each conversation keeps its own model across new chats and a reload."""
    page, server = fake
    assert page.locator("#model-picker").is_hidden() and page.locator("#model-name").inner_text() == FAKE_MODEL
    server.models = ["alpha", "beta"]
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#model-picker:not([hidden])")
    assert page.locator("#model-name").is_hidden()
    assert page.locator("#model-picker option").all_inner_texts() == ["alpha", "beta"]
    assert page.input_value("#model-picker") == "alpha"
    page.select_option("#model-picker", "beta")
    send(page, "first")
    wait_idle(page)
    assert server.requests[-1]["body"]["model"] == "beta"
    page.click("#new-chat")
    assert page.input_value("#model-picker") == "beta"     # a new chat starts with the model in use
    page.select_option("#model-picker", "alpha")
    send(page, "second")
    wait_idle(page)
    assert server.requests[-1]["body"]["model"] == "alpha"
    page.reload()
    page.wait_for_selector("#model-picker:not([hidden])")
    convs = {c["title"]: c for c in stored(page)}
    assert convs["first"]["model"] == "beta" and convs["second"]["model"] == "alpha"
    page.click("#conversations .conv-open:has-text('first')")
    assert page.input_value("#model-picker") == "beta"


def test_copy_buttons(fake, context):
    page, server = fake
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=FAKE_ORIGIN)
    server.completion = (200, "text/event-stream",
                         sse(content_chunks(["Run:\n\n```sh\necho '<hi>'\n```\n\nDone **now**."])))
    send(page, "code please")
    wait_idle(page)
    reply = last_reply(page)
    reply.locator(".code-block .copy-btn").click()
    assert page.evaluate("navigator.clipboard.readText()") == "echo '<hi>'"
    reply.locator(".copy-msg").click()
    assert page.evaluate("navigator.clipboard.readText()") == "Run:\n\n```sh\necho '<hi>'\n```\n\nDone **now**."


def test_narrow_screen_and_dark_scheme(browser, tmp_path):
    ctx = browser.new_context(viewport={"width": 390, "height": 760}, color_scheme="dark", bypass_csp=True)
    try:
        page = ctx.new_page()
        server = FakeServer(page)
        server.completion = (200, "text/event-stream",
                             sse(content_chunks(["A reply with `code` and a table:\n\n"
                                                 "| a | b |\n|---|---|\n| 1 | 2 |\n"])))
        page.goto(FAKE_ORIGIN + "/")
        page.wait_for_selector("body[data-ready='1']")
        assert not page.locator("#sidebar").is_visible() or page.locator("#sidebar").bounding_box()["x"] < -100
        send(page, "hi")
        wait_idle(page)
        # Nothing wider than the screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(23, 24, 28)"
        screenshot(page, tmp_path, "chat-page-narrow-dark.png")
        page.click("#toggle-sidebar")
        page.wait_for_timeout(300)
        assert page.locator("#sidebar").bounding_box()["x"] == 0
        assert page.get_attribute("#toggle-sidebar", "aria-expanded") == "true"
        screenshot(page, tmp_path, "chat-page-narrow-dark-sidebar.png")
        page.keyboard.press("Escape")
        page.wait_for_timeout(300)
        assert not page.locator("#sidebar").is_visible()
        assert page.get_attribute("#toggle-sidebar", "aria-expanded") == "false"
    finally:
        ctx.close()


# ------------------------------------------------------------------ end to end: a live server with SmolLM2

def _live_server():
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from live_server import live_server
    return live_server


@pytest.fixture(scope="module")
def live(smollm2):
    # One slot: a reply the stop button failed to cancel would hold up the next request.
    with _live_server()(smollm2, "--parallel", "1", "--n-ctx", "2048", "--threads", "2") as srv:
        yield srv


def api(srv, path, body=None, key=None):
    req = urllib.request.Request(srv + path, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {key}"} if key else {})})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def open_live(context, srv):
    page = context.new_page()
    errors = _watch(page)
    page.goto(srv + "/")
    page.wait_for_selector("body[data-ready='1']")
    return page, errors


def set_settings(page, **fields) -> None:
    page.click("#open-settings")
    for k, v in fields.items():
        page.fill(f"#set-{k}", str(v))
    page.click("#settings button[type=submit]")


GROW_WATCH = """() => {
    window.__lengths = [];
    new MutationObserver(() => {
        const md = document.querySelector('#messages article.assistant[aria-busy=true] .markdown');
        const n = md ? md.textContent.length : 0;
        if (n && window.__lengths.at(-1) !== n) window.__lengths.push(n);
    }).observe(document.getElementById('messages'), {childList: true, subtree: true, characterData: true});
}"""


def test_live_streamed_reply(live, context, tmp_path):
    """A message sent from the page streams a greedy reply whose text is exactly the server's
    non-streamed answer to the same request; tokens and speed shown from the usage."""
    page, errors = open_live(context, live)
    model = api(live, "/v1/models")["data"][0]["id"]
    page.wait_for_function("document.getElementById('model-name').textContent !== '…'")
    assert page.locator("#model-name").inner_text() == model
    set_settings(page, temperature=0, max_tokens=48)
    question = "What is the capital of France? Answer in two sentences."
    send(page, question)
    wait_idle(page, timeout=120_000)
    conv = stored(page)[0]
    assert conv["title"] == question[:47] + "…"          # titles are cut at 48 characters
    reply = conv["messages"][1]["content"]
    ref = api(live, "/v1/chat/completions", {"model": model, "temperature": 0, "max_tokens": 48,
                                             "messages": [{"role": "user", "content": question}]})
    assert reply == ref["choices"][0]["message"]["content"]
    assert "Paris" in reply
    n = ref["usage"]["completion_tokens"]
    stats = last_reply(page).locator(".stats").inner_text()
    # The page leaves the rate out when the tokens after the first came within 50 ms (chat.js):
    # a short reply on a fast machine.
    assert re.fullmatch(rf"{n} tokens( · [\d.]+ tok/s)? · first token [\d.]+ s", stats), stats
    rate = re.search(r"([\d.]+) tok/s", stats)
    assert rate is None or float(rate.group(1)) > 0
    # A second turn, longer and with code (for the screenshot): it grows on the page piece by
    # piece (~60 tokens: several animation frames even at hundreds of tokens/s).
    set_settings(page, max_tokens=96)
    page.evaluate(GROW_WATCH)
    send(page, "Write a short Python function that adds two numbers.")
    wait_idle(page, timeout=120_000)
    lengths = page.evaluate("window.__lengths")
    assert len(lengths) >= 3 and lengths == sorted(lengths), lengths
    assert stored(page)[0]["messages"][3]["content"]
    shot = screenshot(page, tmp_path, "chat-page.png")
    print(f"screenshot: {shot}")
    assert errors == []


def test_live_stop_frees_the_slot(live, context):
    """Stop ends a long reply: the partial text stays, the UI is usable again, and the single
    server slot is free for the next message at once."""
    page, errors = open_live(context, live)
    set_settings(page, temperature=0, max_tokens="")
    send(page, "Write a very long story about a dragon who learns to cook. Use many chapters.")
    page.wait_for_selector("#stop:not([hidden])")
    page.wait_for_function(
        "(document.querySelector('#messages article.assistant[aria-busy=true] .markdown')"
        "?.textContent.length || 0) > 40",
        timeout=120_000)
    # Another chat can be opened meanwhile; back in this one the reply is still streaming.
    page.click("#new-chat")
    assert page.locator("#messages article").count() == 0
    page.get_by_role("button", name=re.compile("^Write a very long story")).click()
    n = len(last_reply(page).locator(".markdown").inner_text())
    page.wait_for_function(
        f"[...document.querySelectorAll('#messages article.assistant .markdown')].at(-1).textContent.length > {n + 10}",
        timeout=60_000)
    assert api(live, "/health")["slots_busy"] == 1      # generating, until the page hangs up
    page.click("#stop")
    wait_idle(page, timeout=10_000)
    reply = last_reply(page)
    text = reply.locator(".markdown").inner_text()

    def saved_story():
        story = [c for c in stored(page) if c["title"].startswith("Write a very long story")]
        assert len(story) == 1
        return story[0]["messages"][1]["content"]

    saved = saved_story()
    page.wait_for_timeout(1000)
    assert reply.locator(".markdown").inner_text() == text       # nothing more arrives
    assert saved_story() == saved and len(saved) > 50
    assert reply.locator(".note").inner_text() == "Stopped."
    # The server cancelled on the disconnect: its only slot is idle again.
    deadline = time.monotonic() + 5
    while api(live, "/health")["slots_busy"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert api(live, "/health")["slots_busy"] == 0
    # And the page sends the next message (with the stopped reply in the history).
    set_settings(page, max_tokens=8)
    t0 = time.monotonic()
    send(page, "Now say hello.")
    wait_idle(page, timeout=60_000)
    assert time.monotonic() - t0 < 30
    assert last_reply(page).locator(".markdown").inner_text().strip()
    assert last_reply(page).locator(".note").inner_text() == "Stopped: the token limit was reached."
    assert errors == []


def test_live_history_survives_reload(live, context):
    page, errors = open_live(context, live)
    set_settings(page, temperature=0, max_tokens=12)
    send(page, "Name a colour.")
    wait_idle(page, timeout=60_000)
    first = last_reply(page).locator(".markdown").inner_text()
    page.click("#new-chat")
    send(page, "Name an animal.")
    wait_idle(page, timeout=60_000)
    second = last_reply(page).locator(".markdown").inner_text()
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    titles = page.locator("#conversations .conv-open").all_inner_texts()
    assert titles == ["Name an animal.", "Name a colour."]
    assert last_reply(page).locator(".markdown").inner_text() == second
    assert re.search(r"\d+ tokens", last_reply(page).locator(".stats").inner_text())
    page.get_by_role("button", name="Name a colour.", exact=True).click()
    assert page.locator("#messages .msg.user .msg-body").inner_text() == "Name a colour."
    assert last_reply(page).locator(".markdown").inner_text() == first
    assert errors == []


def test_live_server_errors_shown(live, context):
    """The server's own OpenAI-shaped error (prompt + max_tokens over the context) is shown."""
    page, errors = open_live(context, live)
    set_settings(page, max_tokens=100000)
    send(page, "hello")
    wait_idle(page, timeout=30_000)
    err = last_reply(page).locator(".error").inner_text()
    assert err.startswith("Server error 400: ") and len(err) > len("Server error 400: ") + 10, err
    assert [e for e in errors if "/v1/chat/completions" not in e] == []


def test_live_hostile_reply_never_runs(live, context):
    """The page served by the real server; the completion answered by the test with hostile markup."""
    page, errors = open_live(context, live)
    page.route(live + "/v1/chat/completions", hostile_route)
    send(page, "hi")
    wait_idle(page)
    assert_inert(page)
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert_inert(page)
    assert errors == []


def test_live_api_key(smollm2, context):
    """A server started with --api-key: the page says a key is needed, then works with it."""
    with _live_server()(smollm2, "--parallel", "1", "--n-ctx", "512", "--threads", "2",
                        "--api-key", "sk-page-test") as srv:
        page, errors = open_live(context, srv)
        page.wait_for_selector("#notice:not([hidden])")
        assert "API key" in page.locator("#notice").inner_text()
        set_settings(page, apiKey="sk-page-test", temperature=0, max_tokens=6)
        page.wait_for_function("document.getElementById('notice').hidden")
        assert page.locator("#model-name").inner_text() == api(srv, "/v1/models", key="sk-page-test")["data"][0]["id"]
        send(page, "Hi")
        wait_idle(page, timeout=60_000)
        assert last_reply(page).locator(".markdown").inner_text().strip()
        assert last_reply(page).locator(".error").count() == 0


def test_sse_framing_variants(fake):
    """CRLF line ends, comment lines, an event split over two data lines, no space after
    'data:', a usage-only chunk, content null, and a stream that ends without [DONE]."""
    page, server = fake
    c = content_chunks(["one", " two", " three"])
    body = (": keep-alive\r\n\r\n"
            f"data: {json.dumps(c[0])}\r\n\r\n"
            "event: message\r\nid: 1\r\n"
            f"data:{json.dumps(c[1])}\r\n\r\n"
            + "data: " + json.dumps(c[2], indent=1).replace("\n", "\ndata: ") + "\n\n"
            + f"data: {json.dumps({**c[3], 'choices': [{'index': 0, 'delta': {'content': None}}]})}\n\n"
            + f"data: {json.dumps(c[3])}\n\n"
            + f"data: {json.dumps({**c[0], 'choices': [], 'usage': {'completion_tokens': 3}})}")
    server.completion = (200, "text/event-stream", body)
    send(page, "count")
    wait_idle(page)
    reply = last_reply(page)
    assert reply.locator(".markdown").inner_text() == "one two three"
    assert reply.locator(".stats").inner_text().startswith("3 tokens")
    assert reply.get_attribute("aria-busy") == "false"
    assert reply.locator(".error").count() == 0
