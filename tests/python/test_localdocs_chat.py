"""Answers from LocalDocs: Model.chat(..., docs=[NAME]) and `llm4all chat MODEL --docs NAME`
(SmolLM2) put the collection's best passages in the prompt and end the reply with numbered
citations; `llm4all serve` takes "localdocs": [NAME] in a chat request and returns the passages
as "sources" (also in the first chunk of a stream); the chat page (headless Chromium through
Playwright) offers the collections in a picker and lists the sources under the reply (kept
after a reload, like the picker's choice).
The collection: four WikiText articles as Markdown files, indexed with the catalogue's
embedding model.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from browser import launch as browser_launch

sys.path.insert(0, os.path.dirname(__file__))
import localdocs_corpus as corpus  # noqa: E402

QUESTION_OF = "Who directed the 2011 film Mercenaries in which Robert Boulter starred?"


def _docs(data: Path, *args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "llm4all", "docs", *args], capture_output=True, text=True,
                       timeout=900, env=dict(os.environ, LLM4ALL_DATA_DIR=str(data)), cwd=tempfile.gettempdir())
    assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    try:
        from llm4all import Model
        from llm4all.localdocs import DEFAULT_EMBED_MODEL
        assert Model(DEFAULT_EMBED_MODEL).is_embedding
    except Exception as e:
        print(f"SKIP reason: the embedding model is not available: {e}")
        pytest.skip(f"the catalogue's embedding model is not available ({e}); run `llm4all pull minilm`")
    root = tmp_path_factory.mktemp("ldchat")
    folder, data = root / "docs", root / "data"
    files = corpus.build_folder(folder, 4, kinds=(".md",), max_paragraphs=6)
    _docs(data, "add", "wiki", str(folder))
    _docs(data, "index", "wiki", "-q")
    top = json.loads(_docs(data, "search", "wiki", QUESTION_OF, "-k", "4", "--json").stdout)
    assert Path(top[0]["file"]).name.startswith("000_Robert_Boulter")
    return {"data": data, "folder": folder, "files": files, "top": top}


@pytest.fixture
def data_env(collection, monkeypatch):
    monkeypatch.setenv("LLM4ALL_DATA_DIR", str(collection["data"]))
    return collection


def _citations(reply: str):
    """[(n, file, location)] of the reply's closing "Sources:" block."""
    assert "\n\nSources:\n" in reply, reply
    block = reply.rsplit("\n\nSources:\n", 1)[1]
    out = []
    for line in block.splitlines():
        m = re.fullmatch(r"\[(\d+)\] (.+?), ((?:lines?|pages?|paragraphs?) [\d-]+)", line)
        assert m, line
        out.append((int(m.group(1)), m.group(2), m.group(3)))
    return out


def test_context_holds_the_passages(data_env):
    from llm4all.localdocs.answer import prepare
    messages, hits = prepare([{"role": "system", "content": "Be brief."},
                              {"role": "user", "content": QUESTION_OF}], ["wiki"])
    assert messages[0] == {"role": "system", "content": "Be brief."}
    prompt = messages[-1]["content"]
    assert prompt.endswith("Question: " + QUESTION_OF)
    assert hits and all(h.text in prompt for h in hits)
    assert [h.file for h in hits] == [h["file"] for h in data_env["top"][:len(hits)]]


def test_model_chat_with_docs_ends_with_citations(data_env, smollm2):
    from llm4all import Model
    m = Model(smollm2, n_ctx=2048)
    reply = m.chat([{"role": "user", "content": QUESTION_OF}], docs=["wiki"], max_tokens=16, temp=0)
    cites = _citations(reply)
    assert [n for n, _, _ in cites] == list(range(1, len(cites) + 1))
    assert [(f, loc) for _, f, loc in cites] == [(s["file"], s["location"]) for s in m.last_sources]
    assert cites[0][1] == data_env["top"][0]["file"]
    streamed = "".join(m.chat([{"role": "user", "content": QUESTION_OF}], docs=["wiki"], max_tokens=16, temp=0,
                              streaming=True))
    assert streamed == reply
    with pytest.raises(Exception, match="no collection named 'nope'"):
        m.chat([{"role": "user", "content": "hi"}], docs=["nope"], max_tokens=4)


def test_cli_chat_docs(data_env, smollm2):
    env = dict(os.environ, LLM4ALL_DATA_DIR=str(data_env["data"]))
    cmd = [sys.executable, "-m", "llm4all", "chat", str(smollm2), "--docs", "wiki", "-n", "12", "--temp", "0"]
    r = subprocess.run(cmd, input=QUESTION_OF + "\n", capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    cites = _citations(r.stdout.rstrip("\n"))
    assert cites[0][1] == data_env["top"][0]["file"]
    r = subprocess.run(cmd[:5] + ["--docs", "nope"], input="hi\n", capture_output=True, text=True, timeout=300,
                       env=env)
    assert r.returncode == 1 and "no collection named 'nope'" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------------ the server and its page

@pytest.fixture(scope="module")
def live(collection, smollm2):
    from live_server import live_server
    with live_server(smollm2, "--parallel", "1", "--n-ctx", "2048", "--threads", "2",
                     env={"LLM4ALL_DATA_DIR": str(collection["data"])}) as srv:
        yield srv


def _post(srv, body):
    req = urllib.request.Request(srv + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        return r.read()


def test_server_localdocs_sources(live, collection):
    with urllib.request.urlopen(live + "/v1/localdocs", timeout=60) as r:
        assert [c["name"] for c in json.loads(r.read())["data"]] == ["wiki"]
    body = {"messages": [{"role": "user", "content": QUESTION_OF}], "max_tokens": 8, "temperature": 0}
    plain = json.loads(_post(live, body))
    assert "sources" not in plain
    out = json.loads(_post(live, {**body, "localdocs": ["wiki"]}))
    src = out["sources"]
    assert src and [s["index"] for s in src] == list(range(1, len(src) + 1))
    assert all(set(s) == {"index", "file", "location", "score", "text"} for s in src)
    assert src[0]["file"] == collection["top"][0]["file"] and src[0]["text"] == collection["top"][0]["text"]
    assert out["choices"][0]["message"]["content"]
    # the passages changed the prompt: more prompt tokens than the bare question
    assert out["usage"]["prompt_tokens"] > plain["usage"]["prompt_tokens"] + 100

    raw = _post(live, {**body, "localdocs": ["wiki"], "stream": True}).decode()
    frames = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: {")]
    assert frames[0]["sources"] == src and all("sources" not in f for f in frames[1:])

    with pytest.raises(urllib.error.HTTPError) as e:
        _post(live, {**body, "localdocs": ["nope"]})
    assert e.value.code == 400
    err = json.loads(e.value.read())["error"]
    assert "no collection named 'nope'" in err["message"] and err["param"] == "localdocs"


def test_page_picker_and_sources(live, collection, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (PyPI) is not installed")
    with sync_api.sync_playwright() as p:
        browser = browser_launch(p)
        try:
            ctx = browser.new_context(viewport={"width": 1100, "height": 760}, bypass_csp=True)
            page = ctx.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            bodies = []
            page.on("request", lambda r: bodies.append(r.post_data) if r.url.endswith("/chat/completions") else None)
            page.goto(live + "/")
            page.wait_for_selector("body[data-ready='1']")
            page.wait_for_selector("#docs-picker:not([hidden]) option[value='wiki']", state="attached")
            page.select_option("#docs-picker", "wiki")
            page.click("#open-settings")
            page.fill("#set-temperature", "0")
            page.fill("#set-max_tokens", "8")
            page.click("#settings button[type=submit]")
            page.fill("#prompt", QUESTION_OF)
            page.press("#prompt", "Enter")
            page.wait_for_selector("#send:not([hidden])", timeout=300_000)
            reply = page.locator("#messages article.msg.assistant").last
            reply.locator(".sources .source").first.wait_for()
            items = reply.locator(".sources .source").all_inner_texts()
            page.screenshot(path=str(tmp_path / "localdocs.png"), full_page=True)
            # after a reload: the stored reply still lists its sources, the picker keeps its choice
            page.reload()
            page.wait_for_selector("body[data-ready='1']")
            page.wait_for_selector("#docs-picker:not([hidden]) option[value='wiki']", state="attached")
            page.wait_for_function("document.getElementById('docs-picker').value === 'wiki'")
            again = page.locator("#messages article.msg.assistant").last.locator(".sources .source").all_inner_texts()
        finally:
            browser.close()
    sent = json.loads(bodies[-1])
    assert sent["localdocs"] == ["wiki"]
    top = collection["top"]
    assert len(items) == len(top)
    assert items[0] == f"{Path(top[0]['file']).name}, {top[0]['location']}"
    assert again == items
    assert errors == []
