"""The app API of `llm4all serve` (/api/, llm4all/serve/api.py and its modules), against a live
server: a catalogue model downloaded through /api/downloads from a loopback source (progress
over SSE, sha256 verified) is then installed, listed by /v1/models and answers by name; a
cancelled download keeps its partial file and a later one resumes it with a Range request;
settings are validated field by field (422 naming the field), stored atomically and kept across
a restart, and used by the next load; a LocalDocs folder is indexed with progress and a chat
over it cites its file; deleting a model unloads it and removes its file.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

import llm4all  # noqa: E402

from live_server import live_server  # noqa: E402
from loopback_server import LoopbackServer  # noqa: E402

PROMPT = "Once upon a time"


def _entry(mid: str, data: bytes, url: str) -> dict:
    return {"id": mid, "name": f"Test {mid}", "description": "stories260K from a loopback source",
            "architecture": "llama", "parameters": 260000, "quant": "F32", "format": "gguf",
            "filename": f"{mid}.gguf", "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "context_length": 512, "license": "mit", "use": ["chat"], "sources": [{"type": "url", "url": url}],
            # stories260K has no template of its own: the catalogue's is used when it loads by name
            "chat_template": "{% for m in messages %}{{ m.content }}\n{% endfor %}"}


def _events(url: str, timeout: float = 120.0):
    """The JSON objects of an SSE stream, until it ends."""
    with httpx.stream("GET", url, timeout=timeout) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream"), r.read()
        for line in r.iter_lines():
            if line.startswith("data: "):
                yield json.loads(line[6:])


def _link_embedder(cache: Path) -> bool:
    """Puts the catalogue's embedding model (minilm, with the GGUF made from it) into cache."""
    real = llm4all.catalog.cache_dir(None)
    names = ["minilm", "minilm.sha256", "minilm-f16.gguf"]
    if not all((real / n).exists() for n in names):
        return False
    for n in names:
        os.symlink(real / n, cache / n)
    return True


@pytest.fixture(scope="module")
def world(tmp_path_factory, stories260k):
    root = tmp_path_factory.mktemp("app")
    cache, config, data = root / "cache", root / "config", root / "data"
    cache.mkdir()
    os.symlink(stories260k, cache / "stories.gguf")
    payload = stories260k.read_bytes()
    with LoopbackServer(lifetime=600) as src:
        src.files["/tiny.gguf"] = payload
        src.files["/tiny2.gguf"] = payload
        # chatty: installed from the start (the file with its verified stamp), with the entry's chat template.
        chatty = _entry("chatty", payload, src.url("/chatty.gguf"))
        os.symlink(stories260k, cache / "chatty.gguf")
        (cache / "chatty.gguf.sha256").write_text(chatty["sha256"] + "\n")
        (root / "catalog.json").write_text(json.dumps({"version": 1, "models": [
            _entry("tiny", payload, src.url("/tiny.gguf")), _entry("tiny2", payload, src.url("/tiny2.gguf")), chatty]}))
        env = {"LLM4ALL_CATALOG": str(root / "catalog.json"), "LLM4ALL_CACHE": str(cache),
               "LLM4ALL_CONFIG_DIR": str(config), "LLM4ALL_DATA_DIR": str(data), "LLM4ALL_OFFLINE": "0",
               "NO_PROXY": "127.0.0.1,localhost"}
        with live_server(None, "--parallel", "1", "--n-ctx", "512", env=env) as srv:
            yield {"srv": srv, "src": src, "cache": cache, "config": config, "root": root, "payload": payload,
                   "env": env, "embedder": _link_embedder(cache)}


def _download(srv, model: str):
    r = httpx.post(srv + "/api/downloads", json={"model": model}, timeout=30)
    assert r.status_code == 202, r.text
    return r.json()


def test_download_from_the_catalogue_then_chat_by_name_then_delete(world, stories260k):
    srv, cache = world["srv"], world["cache"]
    cat = httpx.get(srv + "/api/catalog", params={"q": "tiny"}, timeout=30).json()
    tiny = next(m for m in cat["models"] if m["id"] == "tiny")
    assert tiny["size_bytes"] == len(world["payload"]) and not tiny["installed"] and not tiny["downloading"]
    assert tiny["type"] == "chat" and tiny["fits"] is True and cat["memory"]["available_bytes"] > 0
    assert httpx.post(srv + "/api/downloads", json={"model": "no-such-model"}).status_code == 404

    d = _download(srv, "tiny")
    assert d["state"] == "running" and d["model"] == "tiny" and d["total"] == len(world["payload"])
    seen = list(_events(f"{srv}/api/downloads/{d['id']}/events"))
    assert seen and seen[-1]["state"] == "done" and seen[-1]["percent"] == 100.0, seen
    assert all(e["id"] == d["id"] for e in seen)
    # The file is the catalogue's bytes, verified and stamped by the fetcher.
    want = hashlib.sha256(world["payload"]).hexdigest()
    assert hashlib.sha256((cache / "tiny.gguf").read_bytes()).hexdigest() == want
    assert (cache / "tiny.gguf.sha256").read_text().strip() == want
    assert httpx.get(f"{srv}/api/downloads/{d['id']}").json()["state"] == "done"
    assert d["id"] in [x["id"] for x in httpx.get(srv + "/api/downloads").json()["downloads"]]
    again = httpx.post(srv + "/api/downloads", json={"model": "tiny"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_installed"

    installed = {m["id"]: m for m in httpx.get(srv + "/api/installed").json()["models"]}
    assert installed["tiny"]["size_bytes"] == len(world["payload"]) and not installed["tiny"]["loaded"]
    assert installed["tiny"]["type"] == installed["stories"]["type"] == "chat"    # catalogue; file header
    if world["embedder"]:
        assert installed["minilm"]["type"] == "embedding"
    assert "tiny" in [m["id"] for m in httpx.get(srv + "/v1/models").json()["data"]]
    assert next(m for m in httpx.get(srv + "/api/catalog").json()["models"] if m["id"] == "tiny")["installed"]

    ref = llm4all.Model(str(stories260k)).generate(PROMPT, max_tokens=12, temp=0)
    r = httpx.post(srv + "/v1/completions", json={"model": "tiny", "prompt": PROMPT, "max_tokens": 12,
                                                 "temperature": 0}, timeout=60)
    assert r.status_code == 200 and r.json()["choices"][0]["text"] == ref and r.json()["model"] == "tiny"
    r = httpx.post(srv + "/v1/chat/completions", json={"model": "tiny", "max_tokens": 8,
                                                      "messages": [{"role": "user", "content": "Hello"}]}, timeout=60)
    assert r.status_code == 200 and r.json()["model"] == "tiny", r.text
    assert "tiny" in httpx.get(srv + "/health").json()["loaded"]
    assert {m["id"]: m for m in httpx.get(srv + "/api/installed").json()["models"]}["tiny"]["loaded"]

    r = httpx.delete(srv + "/api/models/tiny", timeout=30)
    assert r.status_code == 204, r.text
    assert "tiny" not in httpx.get(srv + "/health").json()["loaded"]
    assert "tiny" not in [m["id"] for m in httpx.get(srv + "/api/installed").json()["models"]]
    assert not (cache / "tiny.gguf").exists() and not (cache / "tiny.gguf.sha256").exists()
    r = httpx.delete(srv + "/api/models/tiny")
    assert r.status_code == 404 and r.json()["error"]["param"] == "model"
    r = httpx.post(srv + "/v1/completions", json={"model": "tiny", "prompt": PROMPT, "max_tokens": 2})
    assert r.status_code == 404 and "llm4all pull tiny" in r.json()["error"]["message"]


def test_cancel_keeps_the_partial_file_and_a_later_download_resumes(world):
    srv, src, cache = world["srv"], world["src"], world["cache"]
    total = len(world["payload"])
    src.plan["/tiny2.gguf"] = [{"chunk_delay": 0.1}]   # 16 KiB per 0.1 s: about 7 s for the file
    d = _download(srv, "tiny2")
    busy = httpx.post(srv + "/api/downloads", json={"model": "tiny2"})
    assert busy.status_code == 409 and busy.json()["download"]["id"] == d["id"]
    assert next(m for m in httpx.get(srv + "/api/catalog").json()["models"] if m["id"] == "tiny2")["downloading"]
    # Events come at once on connect, then at least once a second while it runs.
    t, gaps = time.monotonic(), []
    for e in _events(f"{srv}/api/downloads/{d['id']}/events", timeout=30):
        gaps.append(time.monotonic() - t)
        t = time.monotonic()
        assert e["state"] == "running" and 0 <= e["percent"] < 100
        if e["received"] >= 3 * 16384:
            break
    assert gaps[0] < 1.0 and max(gaps) < 1.5, gaps
    t0 = time.monotonic()
    r = httpx.delete(f"{srv}/api/downloads/{d['id']}", timeout=30)
    assert r.status_code == 200 and r.json()["state"] == "cancelled", r.text
    assert time.monotonic() - t0 < 3.0   # stops at the next block, not at the end of the file
    final = list(_events(f"{srv}/api/downloads/{d['id']}/events"))
    assert [e["state"] for e in final] == ["cancelled"]
    sent = src.sent["/tiny2.gguf"]
    time.sleep(1.0)
    assert src.sent["/tiny2.gguf"] - sent <= 2 * 16384 and src.sent["/tiny2.gguf"] < total
    part = cache / "tiny2.gguf.part"
    kept = part.stat().st_size
    assert 3 * 16384 <= kept < total and not (cache / "tiny2.gguf").exists()

    src.plan["/tiny2.gguf"] = [{}]
    d2 = _download(srv, "tiny2")
    assert d2["id"] != d["id"]
    assert list(_events(f"{srv}/api/downloads/{d2['id']}/events"))[-1]["state"] == "done"
    assert (cache / "tiny2.gguf").read_bytes() == world["payload"] and not part.exists()
    ranged = [(rng, st) for p, rng, st in src.requests if p == "/tiny2.gguf"][-1]
    assert ranged == (f"bytes={kept}-", 206)      # resumed where the cancelled one stopped
    assert src.sent["/tiny2.gguf"] < 2 * total


def test_settings_validated_stored_atomically_and_kept_across_a_restart(world, tmp_path):
    env = dict(world["env"], LLM4ALL_CONFIG_DIR=str(tmp_path / "cfg"))
    with live_server(None, "--parallel", "1", env=env) as srv:
        got = httpx.get(srv + "/api/settings").json()
        assert got == {"threads": None, "device": "auto", "gpu_layers": -1, "n_ctx": None, "default_model": None,
                       "models": {}}
        for body, field in [({"threads": 0}, "threads"), ({"threads": "4"}, "threads"), ({"device": "floppy"}, "device"),
                            ({"gpu_layers": -2}, "gpu_layers"), ({"n_ctx": 10}, "n_ctx"),
                            ({"default_model": "nope"}, "default_model"), ({"colour": "blue"}, "colour"),
                            ({"models": {"stories": {"temperature": 5}}}, "models.stories.temperature"),
                            ({"models": {"stories": {"top_p": 1.5}}}, "models.stories.top_p"),
                            ({"models": {"stories": {"max_tokens": 0}}}, "models.stories.max_tokens")]:
            r = httpx.put(srv + "/api/settings", json=body)
            assert r.status_code == 422 and r.json()["error"]["param"] == field, (body, r.text)
            assert field.split(".")[-1] in r.json()["error"]["message"]
        assert not (tmp_path / "cfg" / "settings.json").exists()   # nothing bad was stored
        change = {"threads": 2, "device": "cpu", "gpu_layers": 0, "n_ctx": 128, "default_model": "stories",
                  "models": {"stories": {"system_prompt": "Be brief.", "temperature": 0.2}}}
        r = httpx.put(srv + "/api/settings", json=change)
        assert r.status_code == 200, r.text
        want = dict(change, models={"stories": {"system_prompt": "Be brief.", "temperature": 0.2, "top_p": 0.9,
                                                "top_k": 40, "max_tokens": 1024}})
        assert r.json() == want
        # Used by the next load: the default model answers a request that names none, at n_ctx 128.
        r = httpx.post(srv + "/v1/completions", json={"prompt": PROMPT, "max_tokens": 4}, timeout=60)
        assert r.status_code == 200 and r.json()["model"] == "stories", r.text
        card = next(m for m in httpx.get(srv + "/v1/models").json()["data"] if m["id"] == "stories")
        assert card["context_length"] == 128
        assert httpx.put(srv + "/api/settings", json={"models": {"stories": {"top_k": 5}}}).json()["models"] == \
            {"stories": dict(want["models"]["stories"], top_k=5)}
        # The device setting reaches the next load: a device that is not there fails it, by name.
        assert httpx.put(srv + "/api/settings", json={"device": "vulkan:7"}).status_code == 200
        r = httpx.post(srv + "/v1/completions", json={"model": "stories.gguf", "prompt": PROMPT, "max_tokens": 2},
                       timeout=60)
        assert r.status_code == 500 and "vulkan:7" in r.json()["error"]["message"], r.text
        assert httpx.put(srv + "/api/settings", json={"device": "cpu"}).status_code == 200
    stored = tmp_path / "cfg" / "settings.json"
    assert json.loads(stored.read_text())["n_ctx"] == 128
    assert sorted(p.name for p in stored.parent.iterdir()) == ["settings.json"]   # no temp file left
    with live_server(None, "--parallel", "1", env=env) as srv:
        assert httpx.get(srv + "/api/settings").json() == dict(want, models={"stories": dict(
            want["models"]["stories"], top_k=5)})
        assert httpx.get(srv + "/health").json()["model"] == "stories"


def test_settings_write_is_atomic(tmp_path, monkeypatch):
    from llm4all.serve import settings as st
    s = st.Settings(tmp_path)
    s.update({"threads": 3}, lambda: [])
    before = (tmp_path / "settings.json").read_text()

    def crash(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(st.os, "replace", crash)
    with pytest.raises(OSError):
        s.update({"threads": 5}, lambda: [])
    assert (tmp_path / "settings.json").read_text() == before and s.get()["threads"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]
    monkeypatch.undo()
    (tmp_path / "settings.json").write_text('{"threads": "many"')    # damaged: set aside, defaults used
    assert st.Settings(tmp_path).get()["threads"] is None
    assert (tmp_path / "settings.json.bad").exists() and not (tmp_path / "settings.json").exists()


def test_localdocs_folder_indexed_with_progress_and_cited(world, tmp_path):
    if not world["embedder"]:
        print("SKIP reason: the catalogue's embedding model (minilm) is not in the model cache")
        pytest.skip("the catalogue's embedding model is not installed; run `llm4all pull minilm`")
    srv = world["srv"]
    docs = tmp_path / "notes"
    docs.mkdir()
    (docs / "lighthouse.md").write_text("# The lighthouse\n\nThe keeper of the Varnhold lighthouse is a retired "
                                        "sailor named Okonkwo Brightwater, who paints the tower green each spring.\n")
    (docs / "bakery.md").write_text("# The bakery\n\nThe bakery on Elm Street sells rye bread and opens at six "
                                    "in the morning, except on Sundays.\n")
    (docs / "garden.txt").write_text("The community garden grows tomatoes, beans and sunflowers along the river.\n")
    r = httpx.post(srv + "/api/localdocs", json={"name": "notes", "path": str(tmp_path / "missing")})
    assert r.status_code == 400 and r.json()["error"]["param"] == "path" and "does not exist" in r.text
    r = httpx.post(srv + "/api/localdocs", json={"name": "notes", "path": str(docs / "bakery.md")})
    assert r.status_code == 400 and "not a folder" in r.text
    for bad in ["", " notes", "a/b", 7]:
        r = httpx.post(srv + "/api/localdocs", json={"name": bad, "path": str(docs)})
        assert r.status_code == 400 and r.json()["error"]["param"] == "name", (bad, r.text)
    r = httpx.post(srv + "/api/localdocs", json={"name": "notes", "path": str(docs)})
    assert r.status_code == 202, r.text
    assert r.json()["name"] == "notes" and r.json()["state"] == "indexing"
    seen = list(_events(f"{srv}/api/localdocs/notes/events", timeout=300))
    last = seen[-1]
    assert last["state"] == "done" and last["chunks"] > 0 and last["files_done"] == last["files_total"] == 3, seen
    listed = httpx.get(srv + "/v1/localdocs").json()["data"]
    assert [(c["name"], c["documents"]) for c in listed] == [("notes", 3)]

    r = httpx.post(srv + "/v1/chat/completions", timeout=120, json={
        "model": "chatty", "max_tokens": 8, "localdocs": ["notes"],
        "messages": [{"role": "user", "content": "Who keeps the Varnhold lighthouse?"}]})
    assert r.status_code == 200, r.text
    sources = r.json()["sources"]
    assert sources and Path(sources[0]["file"]).name == "lighthouse.md", sources

    assert httpx.delete(srv + "/api/localdocs/notes").status_code == 204
    assert httpx.get(srv + "/v1/localdocs").json()["data"] == []
    assert httpx.delete(srv + "/api/localdocs/notes").status_code == 404
    assert httpx.get(srv + "/api/localdocs/notes/events").status_code == 404


def test_api_needs_the_key_when_the_server_has_one(tmp_path):
    from starlette.testclient import TestClient
    from llm4all.serve.app import create_app
    from llm4all.serve.pool import ModelPool
    from llm4all.serve.settings import Settings

    pool = ModelPool(lambda name, path: None, cache=tmp_path)
    client = TestClient(create_app(pool, api_key="sesame", settings=Settings(tmp_path)))
    for method, path in [("GET", "/api/settings"), ("PUT", "/api/settings"), ("GET", "/api/installed"),
                         ("POST", "/api/downloads"), ("DELETE", "/api/models/x"), ("POST", "/api/localdocs")]:
        r = client.request(method, path, json={})
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key", (method, path)
    r = client.get("/api/settings", headers={"Authorization": "Bearer sesame"})
    assert r.status_code == 200 and r.json()["device"] == "auto"
    assert client.get("/health").status_code == 200


def test_command_line_model_stays_the_default_over_a_stored_one(tmp_path, stories260k):
    from types import SimpleNamespace
    from starlette.testclient import TestClient
    from llm4all.serve.app import create_app
    from llm4all.serve.pool import ModelPool, Served
    from llm4all.serve.settings import Settings

    (tmp_path / "settings.json").write_text(json.dumps({"default_model": "elsewhere", "threads": 3}))
    stats = {"slots_busy": 0, "queued": 0, "n_parallel": 1, "n_ctx": 64}
    engine = SimpleNamespace(stats=lambda: stats, n_ctx=64, close=lambda: None,
                             model=SimpleNamespace(embedding_dim=0))
    pool = ModelPool(lambda name, path: None, on_demand=False)
    pool.add(Served("mine", engine), str(stories260k))     # as `serve MODEL` adds it: a str path
    client = TestClient(create_app(pool, settings=Settings(tmp_path)))
    assert client.get("/health").json()["model"] == "mine" and pool.load_options["threads"] == 3
    assert client.get("/api/installed").json() == {"models": [{
        "id": "mine", "file": "stories260K.gguf", "path": str(stories260k), "size_bytes": stories260k.stat().st_size,
        "loaded": True, "type": "chat"}]}
    r = client.delete("/api/models/mine")
    assert r.status_code == 409 and r.json()["error"]["code"] == "model_pinned" and stories260k.exists()
    r = client.put("/api/settings", json={"default_model": "elsewhere"})
    assert r.status_code == 422 and r.json()["error"]["param"] == "default_model"   # not served here
    assert client.put("/api/settings", json={"default_model": None}).status_code == 200
    assert client.get("/health").json()["model"] == "mine"
