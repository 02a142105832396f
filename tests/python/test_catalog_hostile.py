"""A user catalogue ($LLM4ALL_CATALOG) is untrusted input: entries that break the schema's
rules the cache relies on (a file name leaving the model cache, a sha256 that is not 64 hex
digits, a size that is not a non-negative integer, a url that is not http(s)) are refused
and the file is left out with a note, never half-accepted. The crash inputs the catalogue
fuzz target found (tests/fuzz/regressions/py_catalog) are replayed here too."""

import json
from pathlib import Path

import pytest

from llm4all import catalog

REGRESSIONS = Path(__file__).resolve().parents[1] / "fuzz" / "regressions" / "py_catalog"
GOOD = {"id": "tiny", "filename": "tiny.gguf", "size": 10, "sha256": "ab" * 32,
        "sources": [{"type": "url", "url": "https://example.invalid/tiny.gguf"}]}


def _load(tmp_path, records):
    p = tmp_path / "cat.json"
    p.write_text(json.dumps({"models": records}))
    return catalog.load_catalog(user=str(p))


def test_good_entry_is_added(tmp_path):
    assert _load(tmp_path, [GOOD])["tiny"].filename == "tiny.gguf"


@pytest.mark.parametrize("field,value", [
    ("filename", "../outside.gguf"), ("filename", "a/b.gguf"), ("filename", ".."), ("filename", ""),
    ("filename", 7), ("id", "../x"), ("id", 3), ("size", -1), ("size", "10"), ("size", True),
    ("sha256", "ab" * 31 + "a]"), ("sha256", "ab" * 30), ("sources", []),
    ("sources", [{"type": "url", "url": "file:///etc/passwd"}]), ("check", "../../x"),
])
def test_bad_entry_is_refused(tmp_path, capsys, field, value):
    entries = _load(tmp_path, [dict(GOOD, **{field: value})])
    assert "tiny" not in entries and "../x" not in entries
    assert "ignored" in capsys.readouterr().err


@pytest.mark.parametrize("path", sorted(REGRESSIONS.glob("*")), ids=lambda p: p.name)
def test_fuzz_regressions(tmp_path, path):
    p = tmp_path / "cat.json"
    p.write_bytes(path.read_bytes())
    builtin = set(catalog.load_catalog(user=""))
    assert set(catalog.load_catalog(user=str(p))) == builtin
