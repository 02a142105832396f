"""LocalDocs storage: one SQLite database per data directory holding collections, their
folders, documents (size, mtime, sha256 of what was indexed), chunks with their vectors,
and an FTS5 index over the chunks.

Crash safety: the database runs in WAL mode and every indexing step (one file's chunks and
its document row, one removal) is a single transaction, so a process killed at any moment
leaves the last committed state: it opens, answers, and the next run redoes only the file
that was in flight (its document row still says the old size/mtime/hash, or is absent).

Vectors: float32 BLOBs in the chunks table, searched exactly with numpy (see search.py).
The sqlite-vec extension (PyPI `sqlite-vec`) was evaluated and not used: its vec0 tables
also search by brute force (no approximate index), so they bring no speed over a numpy
matrix product for the tens of thousands of chunks a desktop collection holds, and loading
it needs `sqlite3.Connection.enable_load_extension`, which many Python builds leave out
(pyenv's default build and macOS's system Python among them), so it could not be the one
storage path everywhere. A plain BLOB column works with every SQLite that has FTS5.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

import numpy as np

__all__ = ["Store", "data_dir", "StoreError"]

SCHEMA_VERSION = 1

# (database, collection id, model) -> (id signature, ids, matrix): see Store.vectors.
_VECTORS: Dict[tuple, tuple] = {}
_VECTORS_LOCK = threading.Lock()


class StoreError(ValueError):
    """A request the store cannot serve (unknown collection, duplicate name...)."""


def data_dir(override: Optional[str] = None) -> Path:
    """Where LocalDocs keeps its database: override, else $LLM4ALL_DATA_DIR, else
    $XDG_DATA_HOME/llm4all or ~/.local/share/llm4all."""
    if override:
        return Path(override)
    env = os.environ.get("LLM4ALL_DATA_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_DATA_HOME")
    return Path(xdg) / "llm4all" if xdg else Path.home() / ".local" / "share" / "llm4all"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS collections(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    embed_model TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS folders(
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    PRIMARY KEY (collection_id, path)
);
CREATE TABLE IF NOT EXISTS documents(
    id INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    embed_model TEXT NOT NULL,
    error TEXT,                      -- why the file could not be read (then it has no chunks)
    n_chunks INTEGER NOT NULL DEFAULT 0,
    indexed REAL NOT NULL,
    UNIQUE (collection_id, path)
);
CREATE TABLE IF NOT EXISTS chunks(
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- ids never reused: the vector cache relies on it
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    location TEXT NOT NULL,
    line_start INTEGER NOT NULL DEFAULT 0,
    line_end INTEGER NOT NULL DEFAULT 0,
    page_start INTEGER NOT NULL DEFAULT 0,
    page_end INTEGER NOT NULL DEFAULT 0,
    embedding BLOB NOT NULL          -- float32, L2-normalised
);
CREATE INDEX IF NOT EXISTS chunks_document ON chunks(document_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    title, text, content='chunks', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2');
CREATE TRIGGER IF NOT EXISTS chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text);
END;
"""


class Store:
    """The LocalDocs database (a context manager; close() when done)."""

    def __init__(self, directory: Optional[str] = None) -> None:
        self.dir = data_dir(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "localdocs.db"
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
        self.db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a killed process loses nothing committed; a power cut may lose
        # the last commits but never leaves a damaged database.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer llm4all (schema {version})")
        if version < SCHEMA_VERSION:   # a new database (readers never take the write lock)
            with self.transaction():
                for statement in _statements(_SCHEMA):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- collections --------------------------------------------------------------------

    def collection(self, name: str) -> sqlite3.Row:
        row = self.db.execute("SELECT * FROM collections WHERE name=?", (name,)).fetchone()
        if row is None:
            known = ", ".join(r["name"] for r in self.db.execute("SELECT name FROM collections ORDER BY name"))
            raise StoreError(f"no collection named {name!r}" + (f" (collections: {known})" if known else
                                                                  " (none yet: llm4all docs add NAME FOLDER)"))
        return row

    def add_collection(self, name: str, folders: Sequence[str], embed_model: str) -> sqlite3.Row:
        """Creates the collection, or adds folders to an existing one."""
        if not name or name != name.strip():
            raise StoreError("a collection name must be non-empty and not start or end with spaces")
        with self.transaction() as db:
            row = db.execute("SELECT * FROM collections WHERE name=?", (name,)).fetchone()
            if row is None:
                db.execute("INSERT INTO collections(name, embed_model, created) VALUES (?,?,?)",
                           (name, embed_model, time.time()))
            elif embed_model != row["embed_model"]:
                db.execute("UPDATE collections SET embed_model=? WHERE name=?", (embed_model, name))
            cid = db.execute("SELECT id FROM collections WHERE name=?", (name,)).fetchone()[0]
            for f in folders:
                db.execute("INSERT OR IGNORE INTO folders(collection_id, path) VALUES (?,?)", (cid, f))
        return self.collection(name)

    def set_embed_model(self, name: str, embed_model: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE collections SET embed_model=? WHERE name=?", (embed_model, name))

    def remove_collection(self, name: str) -> None:
        cid = self.collection(name)["id"]
        with self.transaction() as db:
            db.execute("DELETE FROM chunks WHERE document_id IN (SELECT id FROM documents WHERE collection_id=?)",
                       (cid,))
            db.execute("DELETE FROM documents WHERE collection_id=?", (cid,))
            db.execute("DELETE FROM folders WHERE collection_id=?", (cid,))
            db.execute("DELETE FROM collections WHERE id=?", (cid,))

    def collections(self) -> List[Dict[str, Any]]:
        """Every collection with its folders and counts."""
        out = []
        for c in self.db.execute("SELECT * FROM collections ORDER BY name").fetchall():
            folders = [r[0] for r in self.db.execute("SELECT path FROM folders WHERE collection_id=? ORDER BY path",
                                                    (c["id"],))]
            d = self.db.execute("SELECT count(*), coalesce(sum(n_chunks),0), count(error), max(indexed) "
                                "FROM documents WHERE collection_id=?", (c["id"],)).fetchone()
            out.append({"name": c["name"], "folders": folders, "embed_model": c["embed_model"],
                        "documents": d[0] - d[2], "failed": d[2], "chunks": d[1], "last_indexed": d[3]})
        return out

    def folders(self, cid: int) -> List[str]:
        return [r[0] for r in self.db.execute("SELECT path FROM folders WHERE collection_id=? ORDER BY path", (cid,))]

    # ---- documents --------------------------------------------------------------------

    def documents(self, cid: int) -> Dict[str, sqlite3.Row]:
        return {r["path"]: r for r in self.db.execute(
            "SELECT id, path, size, mtime_ns, sha256, embed_model, error, n_chunks FROM documents "
            "WHERE collection_id=?", (cid,))}

    def put_document(self, cid: int, path: str, size: int, mtime_ns: int, sha256: str, embed_model: str,
                     chunks: Sequence[Any], vectors: Optional[np.ndarray], error: Optional[str] = None) -> None:
        """Replaces a document's chunks and row in one transaction."""
        with self.transaction() as db:
            old = db.execute("SELECT id FROM documents WHERE collection_id=? AND path=?", (cid, path)).fetchone()
            if old is not None:
                db.execute("DELETE FROM chunks WHERE document_id=?", (old[0],))
                db.execute("UPDATE documents SET size=?, mtime_ns=?, sha256=?, embed_model=?, error=?, n_chunks=?, "
                           "indexed=? WHERE id=?",
                           (size, mtime_ns, sha256, embed_model, error, len(chunks), time.time(), old[0]))
                doc_id = old[0]
            else:
                doc_id = db.execute(
                    "INSERT INTO documents(collection_id, path, size, mtime_ns, sha256, embed_model, error, n_chunks, "
                    "indexed) VALUES (?,?,?,?,?,?,?,?,?)",
                    (cid, path, size, mtime_ns, sha256, embed_model, error, len(chunks), time.time())).lastrowid
            if chunks:
                vecs = np.ascontiguousarray(vectors, dtype=np.float32)
                db.executemany(
                    "INSERT INTO chunks(document_id, seq, title, text, location, line_start, line_end, page_start, "
                    "page_end, embedding) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    [(doc_id, i, c.title, c.text, c.location, c.line_start, c.line_end, c.page_start, c.page_end,
                      vecs[i].tobytes()) for i, c in enumerate(chunks)])

    def remove_document(self, doc_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM chunks WHERE document_id=?", (doc_id,))
            db.execute("DELETE FROM documents WHERE id=?", (doc_id,))

    # ---- reading chunks ------------------------------------------------------------------

    def vectors(self, cid: int, embed_model: str):
        """(chunk ids, matrix of vectors) of a collection's documents embedded with embed_model
        (after a change of model, an interrupted re-index leaves some with the old one).

        Kept in memory per process (a server answers many questions) while the set of chunk
        ids is the same: ids are never reused, so any insert or delete changes the count,
        sum or maximum of the ids."""
        where = "FROM chunks c JOIN documents d ON d.id=c.document_id WHERE d.collection_id=? AND d.embed_model=?"
        sig = tuple(self.db.execute(f"SELECT count(*), coalesce(sum(c.id), 0), coalesce(max(c.id), 0) {where}",
                                    (cid, embed_model)).fetchone())
        key = (str(self.path.resolve()), cid, embed_model)
        cached = _VECTORS.get(key)
        if cached is not None and cached[0] == sig:
            return cached[1], cached[2]
        rows = self.db.execute(f"SELECT c.id, c.embedding {where}", (cid, embed_model)).fetchall()
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        mat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        with _VECTORS_LOCK:
            _VECTORS[key] = (sig, ids, mat)
        return ids, mat

    def chunk_rows(self, ids: Sequence[int]) -> Dict[int, sqlite3.Row]:
        if not ids:
            return {}
        q = ",".join("?" * len(ids))
        return {r["id"]: r for r in self.db.execute(
            f"SELECT c.id, c.title, c.text, c.location, c.line_start, c.line_end, c.page_start, c.page_end, "
            f"d.path FROM chunks c JOIN documents d ON d.id=c.document_id WHERE c.id IN ({q})", list(ids))}

    def check(self) -> List[str]:
        """Problems found by SQLite's integrity check, the FTS5 index check and the counts
        (empty when the database is consistent)."""
        problems = [r[0] for r in self.db.execute("PRAGMA integrity_check") if r[0] != "ok"]
        try:
            self.db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
        except sqlite3.DatabaseError as e:
            problems.append(f"FTS index: {e}")
        for path, want, have in self.db.execute(
                "SELECT d.path, d.n_chunks, (SELECT count(*) FROM chunks c WHERE c.document_id=d.id) "
                "FROM documents d"):
            if want != have:
                problems.append(f"{path}: {have} chunks stored, {want} expected")
        return problems


def _statements(script: str) -> List[str]:
    # sqlite3.complete_statement splits the schema (triggers contain ';') without executescript,
    # which would COMMIT the transaction it runs in.
    out, cur = [], ""
    for line in script.splitlines(keepends=True):
        cur += line
        if sqlite3.complete_statement(cur):
            out.append(cur.strip())
            cur = ""
    return [s for s in out if s]
