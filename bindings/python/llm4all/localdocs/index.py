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

__all__ = ["IndexReport", "index_collection", "scan_folders", "ProgressFn"]


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


# Folders of tools, not of documents: dependency trees and caches can hold many thousands of files.
SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__", "site-packages", "venv", "target"})


def scan_folders(folders: List[str]) -> Iterator[Tuple[str, os.stat_result]]:
    """Supported files under the folders (hidden files and folders, and SKIPPED_FOLDERS,
    left out), each once, as (absolute path, stat)."""
    seen = set()
    for top in folders:
        if os.path.isfile(top):
            entries = [(os.path.dirname(top), [], [os.path.basename(top)])]
        else:
            entries = os.walk(top, onerror=None, followlinks=False)
        for root, dirs, files in entries:
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_FOLDERS)
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
        self.on_step: Optional[Callable[[int, int], None]] = None   # (files done, chunks): index_collection's on_progress

    def step(self, chunks: int) -> None:
        self.done += 1
        if self.on_step is not None:
            self.on_step(self.done, chunks)
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


# on_progress(files_done, files_total, chunks_embedded): unchanged files count as done from
# the start; it is called once before the first file and after each file. It may raise to stop
# the run (what was committed stays; the next run goes on from there).
ProgressFn = Callable[[int, int, int], None]


def index_collection(store: Store, name: str, embedder: Embedder, progress: bool = False,
                     on_failure: Optional[Callable[[str, str], None]] = None,
                     on_progress: Optional[ProgressFn] = None) -> IndexReport:
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
    if on_progress is not None:
        skipped, total = report.files_unchanged, len(files)
        bar.on_step = lambda done, chunks: on_progress(skipped + done, total, chunks)
        on_progress(skipped, total, 0)
    job = _Job(store, cid, model, embedder, report, on_failure, bar)
    try:
        for path, st, row in todo:
            job.add(path, st, row)
        job.flush()
    finally:
        bar.close()
    return report


# Small files are embedded together (the engine runs many texts per forward pass) and then
# committed one file per transaction, so batching changes the speed, not the crash safety.
BATCH_CHUNKS = 64


class _Job:
    def __init__(self, store: Store, cid: int, model: str, embedder: Embedder, report: IndexReport,
                 on_failure, bar: _Bar) -> None:
        self.store, self.cid, self.model, self.embedder = store, cid, model, embedder
        self.report, self.on_failure, self.bar = report, on_failure, bar
        self.pending: List[tuple] = []   # (path, st, row, sha, chunks)
        self.n_chunks = 0

    def fail(self, path: str, st: os.stat_result, sha: str, row, reason: str) -> None:
        _fail(self.store, self.cid, self.model, path, st, sha, row, reason, self.report, self.on_failure)
        self.bar.step(self.report.chunks_embedded)

    def add(self, path: str, st: os.stat_result, row) -> None:
        """Reads, hashes, parses and chunks one file; queues it for embedding."""
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            self.fail(path, st, "", row, f"cannot read: {e.strerror or e}")
            return
        sha = hashlib.sha256(data).hexdigest()
        try:
            blocks = parse_bytes(data, os.path.splitext(path)[1])
        except ParseError as e:
            self.fail(path, st, sha, row, str(e))
            return
        except Exception as e:  # a reader bug on one odd file must not stop the whole index
            self.fail(path, st, sha, row, f"{type(e).__name__}: {e}")
            return
        chunks = chunk_blocks(blocks, _title(path))
        self.pending.append((path, st, row, sha, chunks))
        self.n_chunks += len(chunks)
        if self.n_chunks >= BATCH_CHUNKS:
            self.flush()

    def flush(self) -> None:
        pending, self.pending, self.n_chunks = self.pending, [], 0
        texts = [c.embed_text() for item in pending for c in item[4]]
        try:
            vectors = self.embedder.embed(texts) if texts else None
        except (ValueError, RuntimeError, OSError) as e:   # e.g. the engine refusing one odd text
            if len(pending) > 1:   # find the file it was: one at a time
                for item in pending:
                    self.pending, self.n_chunks = [item], len(item[4])
                    self.flush()
                return
            path, st, row, sha, _ = pending[0]
            self.fail(path, st, sha, row, f"embedding failed: {e}")
            return
        at = 0
        for path, st, row, sha, chunks in pending:
            vecs = vectors[at:at + len(chunks)] if chunks else None
            at += len(chunks)
            self.store.put_document(self.cid, path, st.st_size, st.st_mtime_ns, sha, self.model, chunks, vecs)
            self.report.chunks_embedded += len(chunks)
            if row is None:
                self.report.files_added += 1
            else:
                self.report.files_updated += 1
            self.bar.step(self.report.chunks_embedded)


def _fail(store: Store, cid: int, model: str, path: str, st: os.stat_result, sha: str, row, reason: str,
          report: IndexReport, on_failure) -> None:
    # The failure is stored (the file has no chunks, old ones are dropped) and retried next run.
    store.put_document(cid, path, st.st_size, st.st_mtime_ns, sha, model, [], None, error=reason)
    report.files_failed += 1
    report.failures.append((path, reason))
    if on_failure is not None:
        on_failure(path, reason)
