"""py_catalog.py — atheris target for the model catalogue a user supplies
($LLM4ALL_CATALOG / load_catalog(user=...)): arbitrary bytes as the catalogue file. A
broken file must be reported and left out, never break the command; an entry that is
accepted must be usable (string id, a file name that stays inside the model cache, a
non-negative int size, a sha256 of 64 hex digits, its sources as strings), or `llm4all
list/pull` would fail later or write outside the cache.

Usage: python3 tests/fuzz/py_catalog.py [libFuzzer flags] [CORPUS_DIR...]
"""

import contextlib
import io
import os
import string
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    from llm4all import catalog

_DIR = tempfile.mkdtemp(prefix="llm4all_fuzz_catalog_")
_PATH = os.path.join(_DIR, "catalog.json")
_BUILTIN = set(catalog.load_catalog(user="").keys())


def one_input(data: bytes) -> None:
    with open(_PATH, "wb") as f:
        f.write(data)
    with contextlib.redirect_stderr(io.StringIO()):
        entries = catalog.load_catalog(user=_PATH)
    for name, e in entries.items():
        ok = (isinstance(name, str) and name == e.name and isinstance(e.filename, str) and
              e.filename not in ("", ".", "..") and "/" not in e.filename and "\\" not in e.filename and
              isinstance(e.size, int) and e.size >= 0 and isinstance(e.sha256, str) and len(e.sha256) == 64 and
              all(c in string.hexdigits for c in e.sha256) and all(isinstance(u, str) for u in e.urls))
        if not ok:
            raise AssertionError(f"catalogue accepted an unusable entry: {e!r}")
        e.sources  # noqa: B018  (must not raise)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
