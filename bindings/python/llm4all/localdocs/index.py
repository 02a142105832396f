"""LocalDocs indexing: brings a collection's stored chunks in line with its folders.

Incremental: a file whose size and mtime match what was indexed (and whose last indexing
used the same embedding model) is not even read, so an unchanged folder re-indexes in the
time it takes to stat it. A file whose size or mtime changed is read, hashed (sha256, kept
with its row) and re-embedded; a `touch` therefore re-indexes exactly that file, the usual
way to ask for it. Files gone from the folders lose their chunks. Each file is one
transaction (store.py), so a killed run resumes with the file it was on.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from .chunk import chunk_blocks
from .embed import Embedder
from .parse import ParseError, is_supported, parse_bytes
from .store import Store

__all__ = ["IndexReport", "index_collection", "scan_folders"]


@dataclass
class IndexReport:
    files_added: int = 0
    files_updated: int = 0
    files_removed: int = 0
    files_unchanged: int = 0
    files_failed: int = 0
    chunks_embedded: int = 0
    failures: List[Tuple[str, str]] = field(default_factory=list)   # (file, reason)

    def counts(self) -> Dict[str, int]:
        """The JSON object `llm4all docs index --json` prints (exactly these fields)."""
        d = asdict(self)
        d.pop("failures")
        return d


def scan_folders(folders: List[str]) -> Iterator[Tuple[str, os.stat_result]]:
    """Supported files under the folders (hidden files and folders skipped), each once,
    as (absolute path, stat)."""
    seen = set()
    for top in folders:
        if os.path.isfile(top):
            entries = [(os.path.dirname(top), [], [os.path.basename(top)])]
        else:
            entries = os.walk(top, onerror=None, followlinks=False)
        for root, dirs, files in entries:
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith(".") or not is_supported(name):
                    continue
                path = os.path.abspath(os.path.join(root, name))
                if path in seen:
                    continue
                seen.add(path)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                if os.path.isfile(path):
                    yield path, st


def _title(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


class _Bar:
    """Progress on stderr: redrawn in place on a terminal, silent otherwise."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self.total, self.label, self.done = total, label, 0
        self.enabled = enabled and sys.stderr.isatty() and total > 0
        self.start = time.monotonic()
        self.last = 0.0

    def step(self, chunks: int) -> None:
        self.done += 1
        now = time.monotonic()
        if self.enabled and (now - self.last > 0.1 or self.done == self.total):
            self.last = now
            frac = self.done / self.total
            bar = "#" * int(frac * 30) + "-" * (30 - int(frac * 30))
            sys.stderr.write(f"\r{self.label} [{bar}] {self.done}/{self.total} files, {chunks} chunks embedded, "
                             f"{now - self.start:.0f} s")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.done:
            sys.stderr.write("\n")


def index_collection(store: Store, name: str, embedder: Embedder, progress: bool = False,
                     on_failure: Optional[Callable[[str, str], None]] = None) -> IndexReport:
    """Indexes the collection NAME with embedder; returns what changed."""
    coll = store.collection(name)
    cid = coll["id"]
    model = embedder.name
    if coll["embed_model"] != model:
        # Another model's vectors cannot be compared with this one's: every document is
        # re-embedded (document by document, so this too resumes after a crash).
        store.set_embed_model(name, model)
    report = IndexReport()
    known = store.documents(cid)
    files = list(scan_folders(store.folders(cid)))
    present = {p for p, _ in files}

    for path, row in known.items():
        if path not in present:
            store.remove_document(row["id"])
            report.files_removed += 1

    todo = []
    for path, st in files:
        row = known.get(path)
        if (row is not None and row["error"] is None and row["size"] == st.st_size
                and row["mtime_ns"] == st.st_mtime_ns and row["embed_model"] == model):
            report.files_unchanged += 1
        else:
            todo.append((path, st, row))

    bar = _Bar(len(todo), f"indexing {name}", progress)
    try:
        for path, st, row in todo:
            _index_file(store, cid, model, embedder, path, st, row, report, on_failure)
            bar.step(report.chunks_embedded)
    finally:
        bar.close()
    return report


def _index_file(store: Store, cid: int, model: str, embedder: Embedder, path: str, st: os.stat_result,
                row, report: IndexReport, on_failure) -> None:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        _fail(store, cid, model, path, st, "", row, f"cannot read: {e.strerror or e}", report, on_failure)
        return
    sha = hashlib.sha256(data).hexdigest()
    try:
        blocks = parse_bytes(data, os.path.splitext(path)[1])
    except ParseError as e:
        _fail(store, cid, model, path, st, sha, row, str(e), report, on_failure)
        return
    except Exception as e:  # a reader bug on one odd file must not stop the whole index
        _fail(store, cid, model, path, st, sha, row, f"{type(e).__name__}: {e}", report, on_failure)
        return
    chunks = chunk_blocks(blocks, _title(path))
    try:
        vectors = embedder.embed([c.embed_text() for c in chunks]) if chunks else None
    except (ValueError, RuntimeError, OSError) as e:   # e.g. the engine refusing one odd text
        _fail(store, cid, model, path, st, sha, row, f"embedding failed: {e}", report, on_failure)
        return
    store.put_document(cid, path, st.st_size, st.st_mtime_ns, sha, model, chunks, vectors)
    report.chunks_embedded += len(chunks)
    if row is None:
        report.files_added += 1
    else:
        report.files_updated += 1


def _fail(store: Store, cid: int, model: str, path: str, st: os.stat_result, sha: str, row, reason: str,
          report: IndexReport, on_failure) -> None:
    # The failure is stored (the file has no chunks, old ones are dropped) and retried next run.
    store.put_document(cid, path, st.st_size, st.st_mtime_ns, sha, model, [], None, error=reason)
    report.files_failed += 1
    report.failures.append((path, reason))
    if on_failure is not None:
        on_failure(path, reason)
