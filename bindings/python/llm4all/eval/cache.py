"""The evaluation cache: one SQLite row per (model sha256, scoring settings, task, item), so
an interrupted run resumes where it stopped and a repeated run costs nothing. Rows are
committed as they arrive (WAL journal), so even a killed process loses at most the item it
was scoring. Also remembers each model file's sha256 by (path, size, mtime)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Dict, List, Optional, Union


def default_cache_path() -> Path:
    env = os.environ.get("LLM4ALL_EVAL_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "llm4all" / "eval.sqlite"


def file_sha256(path: Union[str, os.PathLike]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class ScoreCache:
    """Summed log-likelihoods per choice, keyed by model, settings, task and item."""

    def __init__(self, path: Union[str, os.PathLike, None]) -> None:
        # path None: an in-memory cache (--no-cache): the same code path, nothing kept.
        self.path = None if path is None else Path(path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(":memory:" if self.path is None else str(self.path), timeout=60)
        if self.path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS scores (model TEXT, settings TEXT, task TEXT, idx INTEGER,"
                         " digest TEXT, logliks TEXT, PRIMARY KEY (model, settings, task, idx, digest))")
        self._db.execute("CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, mtime INTEGER,"
                         " sha256 TEXT)")
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def sha256(self, path: Union[str, os.PathLike]) -> str:
        """The file's sha256, computed once per (path, size, mtime)."""
        p = os.path.abspath(os.fspath(path))
        st = os.stat(p)
        row = self._db.execute("SELECT sha256 FROM files WHERE path=? AND size=? AND mtime=?",
                               (p, st.st_size, st.st_mtime_ns)).fetchone()
        if row:
            return row[0]
        digest = file_sha256(p)
        self._db.execute("INSERT OR REPLACE INTO files VALUES (?,?,?,?)", (p, st.st_size, st.st_mtime_ns, digest))
        self._db.commit()
        return digest

    def load(self, model: str, settings: str, task: str) -> Dict[tuple, List[float]]:
        """{(index, digest): logliks} of every cached item of a task."""
        rows = self._db.execute("SELECT idx, digest, logliks FROM scores WHERE model=? AND settings=? AND task=?",
                                (model, settings, task))
        return {(i, d): json.loads(ll) for i, d, ll in rows}

    def put(self, model: str, settings: str, task: str, index: int, digest: str, logliks: List[float]) -> None:
        self._db.execute("INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?)",
                         (model, settings, task, index, digest, json.dumps([float(x) for x in logliks])))
        self._db.commit()

    def count(self, model: Optional[str] = None) -> int:
        if model is None:
            return self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM scores WHERE model=?", (model,)).fetchone()[0]
