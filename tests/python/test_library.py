"""The model library commands (`llm4all list [--installed]`, `llm4all rm`, `llm4all search`)
and their Python side (llm4all.catalog.installed/remove/search), on a private cache filled
from a loopback server through a user catalogue (LLM4ALL_CATALOG)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from llm4all import catalog
from loopback_server import LoopbackServer

PAYLOAD = bytes(range(253)) * 1500
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def lib(tmp_path):
    """Runs the CLI with a user catalogue adding 'tinylib' (served on loopback) and a private cache."""
    with LoopbackServer(lifetime=90) as server:
        server.files["/tinylib.gguf"] = PAYLOAD
        server.files["/direct.gguf"] = PAYLOAD[::-1]
        user = {"version": 1, "models": [{
            "id": "tinylib", "name": "Tiny Library Model", "description": "a zebra-striped test entry",
            "architecture": "llama", "parameters": 1000, "quant": "F32", "format": "gguf",
            "filename": "tinylib.gguf", "size": len(PAYLOAD), "sha256": SHA, "ram": 5 * 10**15,
            "context_length": 64, "license": "mit", "use": ["code"],
            "sources": [{"type": "url", "url": server.url("/tinylib.gguf")}]}]}
        (tmp_path / "user.json").write_text(json.dumps(user))
        env = dict(os.environ, LLM4ALL_CATALOG=str(tmp_path / "user.json"), LLM4ALL_CACHE=str(tmp_path / "cache"),
                   NO_PROXY="127.0.0.1,localhost")
        env.pop("LLM4ALL_OFFLINE", None)

        def run(*args, ok=True):
            out = subprocess.run([sys.executable, "-m", "llm4all", *args], env=env, capture_output=True,
                                 text=True, timeout=60)
            if ok:
                assert out.returncode == 0, out.stderr
            return out

        run.server, run.cache = server, tmp_path / "cache"
        yield run


def test_list_pull_rm_cycle(lib):
    rows = {r["name"]: r for r in json.loads(lib("list", "--json").stdout)}
    assert {"smollm2", "qwen15", "tinylib"} <= set(rows)
    tiny = rows["tinylib"]
    assert not tiny["installed"] and tiny["ram"] == 5 * 10**15 and tiny["ram_exact"]
    assert tiny["fits"] is False  # 5 PB: no machine running this test has it
    assert rows["smollm2"]["ram_exact"] is True and rows["smollm2"]["ram"] == catalog.CATALOG["smollm2"].info["ram"]
    # An entry without a RAM figure shows its size as a lower bound.
    for name in [n for n, e in catalog.CATALOG.items() if not e.info.get("ram")][:1]:
        assert rows[name]["ram_exact"] is False and rows[name]["ram"] == catalog.CATALOG[name].size
    assert json.loads(lib("list", "--installed", "--json").stdout) == []

    lib("pull", "tinylib", "-q")
    lib("pull", lib.server.url("/direct.gguf"), "-q")
    assert json.loads(lib("list", "--json").stdout)[-1]["installed"] is True
    inst = {r["name"]: r for r in json.loads(lib("list", "--installed", "--json").stdout)}
    assert set(inst) == {"tinylib", "direct.gguf"}
    assert inst["tinylib"]["size"] == len(PAYLOAD) and inst["tinylib"]["path"] == str(lib.cache / "tinylib.gguf")
    table = lib("list").stdout
    assert "tinylib" in table and "NO" in table  # the table marks what does not fit

    out = lib("rm", "tinylib")
    assert out.stdout.splitlines() == [f"removed {lib.cache / 'tinylib.gguf'}",
                                       f"removed {lib.cache / 'tinylib.gguf.sha256'}"]
    assert not (lib.cache / "tinylib.gguf").exists() and not (lib.cache / "tinylib.gguf.sha256").exists()
    lib("rm", "direct.gguf")
    assert json.loads(lib("list", "--installed", "--json").stdout) == []
    out = lib("rm", "tinylib", ok=False)
    assert out.returncode == 1 and "not in the cache" in out.stderr
    out = lib("rm", "../etc", ok=False)
    assert out.returncode == 1


def test_rm_removes_unfinished_download(lib):
    lib.server.plan["/tinylib.gguf"] = [{"drop_after": 1000}, {"status": 404}]
    out = lib("pull", "tinylib", "-q", ok=False)
    assert out.returncode == 1 and "HTTP 404" in out.stderr
    part = lib.cache / "tinylib.gguf.part"
    assert part.stat().st_size == 1000 and not (lib.cache / "tinylib.gguf").exists()
    assert json.loads(lib("list", "--installed", "--json").stdout) == []
    # A later pull resumes it ...
    lib.server.plan["/tinylib.gguf"] = [{"drop_after": 5000}, {"status": 404}]
    lib("pull", "tinylib", "-q", ok=False)
    assert part.stat().st_size == 6000 and lib.server.requests[-2][1] == "bytes=1000-"
    # ... and rm deletes it.
    assert lib("rm", "tinylib").stdout.strip() == f"removed {part}"
    assert not part.exists()


def test_search(lib):
    hits = [r["name"] for r in json.loads(lib("search", "zebra", "--json").stdout)]
    assert hits == ["tinylib"]
    hits = [r["name"] for r in json.loads(lib("search", "Qwen", "CODE", "--json").stdout)]
    assert hits == ["qwen05", "qwen15", "qwen2.5-coder-7b"]
    assert [e.name for e in catalog.search("embedding")] == ["embgemma", "bge-small", "minilm"]
    assert [e.name for e in catalog.search(["gemma"])] == ["embgemma", "gemma3", "gemma3-1b", "gemma3-1b-q8", "gemma3-4b"]
    out = lib("search", "no-such-words-anywhere", ok=False)
    assert out.returncode == 1 and "no catalogue model matches" in out.stdout


def test_python_remove_and_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM4ALL_CACHE", str(tmp_path))
    (tmp_path / "other.gguf").write_bytes(b"GGUF")
    assert [n for n, _, _ in catalog.installed()] == ["other.gguf"]
    assert catalog.remove("other.gguf") == [tmp_path / "other.gguf"]
    with pytest.raises(catalog.PullError, match="not in the cache"):
        catalog.remove("smollm2")
