"""LocalDocs: chat with your own files. Collections of folders are parsed, chunked, embedded
with an llm4all embedding model and stored in one SQLite database per data directory
($LLM4ALL_DATA_DIR); search is hybrid (BM25 + vectors, reciprocal rank fusion).

    from llm4all import localdocs
    localdocs.add("notes", ["~/notes"])
    localdocs.index("notes")
    for hit in localdocs.search("notes", "when is the meeting?"):
        print(hit.file, hit.location, hit.score)

Modules: parse (files -> blocks), chunk (blocks -> chunks), store (SQLite), embed (the
embedder interface), index (incremental indexing), search (hybrid retrieval), answer
(context and citations for chat).
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Sequence

from .embed import DEFAULT_EMBED_MODEL, Embedder, load_embedder, register_embedder
from .index import IndexReport, index_collection
from .search import Hit
from .store import Store, StoreError, data_dir

__all__ = ["add", "remove", "collections", "index", "search", "Hit", "IndexReport", "Store", "StoreError",
           "Embedder", "register_embedder", "load_embedder", "DEFAULT_EMBED_MODEL", "data_dir"]


def add(name: str, folders: Sequence[str], embed_model: Optional[str] = None,
        data_dir: Optional[str] = None) -> Dict[str, object]:
    """Creates collection NAME over folders (or adds folders to it). Nothing is indexed yet."""
    paths = []
    for f in folders:
        p = os.path.abspath(os.path.expanduser(os.fspath(f)))
        if not os.path.exists(p):
            raise FileNotFoundError(f"{f}: no such file or folder")
        paths.append(p)
    with Store(data_dir) as store:
        existing = {c["name"]: c for c in store.collections()}
        model = embed_model or (existing[name]["embed_model"] if name in existing else DEFAULT_EMBED_MODEL)
        store.add_collection(name, paths, model)
        return next(c for c in store.collections() if c["name"] == name)


def remove(name: str, data_dir: Optional[str] = None) -> None:
    with Store(data_dir) as store:
        store.remove_collection(name)


def collections(data_dir: Optional[str] = None) -> List[Dict[str, object]]:
    """Every collection with its folders and counts ([] when there is no database yet)."""
    from .store import data_dir as _dir
    if not (_dir(data_dir) / "localdocs.db").exists():
        return []   # looking (e.g. the server's page) creates nothing
    with Store(data_dir) as store:
        return store.collections()


def index(name: Optional[str] = None, embed_model: Optional[str] = None, data_dir: Optional[str] = None,
          progress: bool = False, on_failure=None, on_progress=None) -> Dict[str, IndexReport]:
    """Indexes collection NAME (every collection when None); a report per collection.
    on_progress(files_done, files_total, chunks) follows each collection (index.ProgressFn)."""
    with Store(data_dir) as store:
        names = [name] if name else [c["name"] for c in store.collections()]
        out = {}
        for n in names:
            coll = store.collection(n)
            embedder = load_embedder(embed_model or coll["embed_model"])
            out[n] = index_collection(store, n, embedder, progress=progress, on_failure=on_failure,
                                      on_progress=on_progress)
        return out


def search(name: str, query: str, k: int = 5, embed_model: Optional[str] = None,
           data_dir: Optional[str] = None) -> List[Hit]:
    """The k best passages of collection NAME for query."""
    from .search import search as _search
    with Store(data_dir) as store:
        coll = store.collection(name)
        return _search(store, name, query, load_embedder(embed_model or coll["embed_model"]), k=k)
