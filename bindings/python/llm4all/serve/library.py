"""The model library of the app API: the catalogue with what fits this machine, what is
installed and what is downloading (GET /api/catalog), the installed models (GET
/api/installed, the set /v1/models lists), and deleting one (DELETE /api/models/{id}: unloaded
from the pool first, then removed from the cache as `llm4all rm` does).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from fastapi import FastAPI

from .downloads import Downloads
from .errors import INVALID_REQUEST, NOT_FOUND, APIError
from .pool import ModelPool

__all__ = ["register", "catalog_view", "installed_view"]


def catalog_view(q: Optional[str], cache: Any, downloads: Downloads) -> Dict[str, Any]:
    from .. import catalog
    avail = catalog.available_memory()
    entries = catalog.search(q) if q and q.strip() else list(catalog.CATALOG.values())
    models = []
    for e in entries:
        ram, _ = catalog.ram_needed(e, cache)
        models.append({"id": e.name, "name": e.info.get("name", e.name), "description": e.description,
                       "type": "embedding" if "embedding" in e.info.get("use", []) else "chat",
                       "size_bytes": e.size, "ram_bytes": ram,
                       "fits": avail is None or ram <= avail,    # unknown memory: not held against it
                       "installed": catalog.is_cached(e.name, cache),
                       "downloading": downloads.running(e.name) is not None})
    return {"memory": {"available_bytes": avail or 0}, "models": models}


def _size(path: Path) -> int:
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return path.stat().st_size
    except OSError:
        return 0


# The encoder architectures the engine runs as embedding models (core/src/arch: bert.cpp,
# gemma_embedding.cpp); any other file with a pooling type is one too.
EMBEDDING_ARCHS = frozenset({"bert", "gemma-embedding"})
_FILE_TYPES: Dict[Tuple[str, int, int], str] = {}   # (path, size, mtime) -> type, so a page load reads no header twice


def _file_type(path: Path) -> str:
    """"embedding" or "chat" for a GGUF file, from its header ("chat" when it cannot be read:
    loading it will say why)."""
    try:
        st = path.stat()
    except OSError:
        return "chat"
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _FILE_TYPES:
        from .. import Error, _core
        kind = "chat"
        try:
            meta = json.loads(_core.gguf_describe(str(path), 0)).get("metadata", {})
            if meta.get("general.architecture") in EMBEDDING_ARCHS or any(k.endswith(".pooling_type") for k in meta):
                kind = "embedding"
        except (Error, ValueError, OSError):
            pass
        _FILE_TYPES[key] = kind
    return _FILE_TYPES[key]


def model_type(name: str, path: Path, pool: ModelPool) -> str:
    """A served model's kind: the catalogue's, else the loaded engine's, else its file's."""
    from .. import catalog
    entry = catalog.CATALOG.get(name)
    if entry is not None:
        return "embedding" if "embedding" in entry.info.get("use", []) else "chat"
    served = pool.loaded.get(name)
    if served is not None:
        return "embedding" if served.embedder else "chat"
    if path.is_dir():
        return "embedding"     # a checkpoint folder is served only as an embedding model
    return _file_type(path)


def installed_view(pool: ModelPool) -> Dict[str, Any]:
    names = {n: Path(p) for n, p in pool.names().items()}   # a command line's MODEL may be a str
    return {"models": [{"id": n, "file": p.name, "path": str(p), "size_bytes": _size(p), "loaded": n in pool.loaded,
                        "type": model_type(n, p, pool)}
                       for n, p in sorted(names.items())]}


def register(app: FastAPI, pool: ModelPool, downloads: Downloads, on_deleted: Callable[[List[str]], None]) -> None:
    """The routes; on_deleted(names) is told the names a deleted model answered to."""
    def loop_call(fn: Callable[..., Any], *a: Any) -> Any:
        # The cache is read (and hashed, for a file without its stamp) off the event loop.
        return asyncio.get_running_loop().run_in_executor(None, fn, *a)

    @app.get("/api/catalog")
    async def get_catalog(q: Optional[str] = None) -> Any:
        return await loop_call(catalog_view, q, pool.cache, downloads)

    @app.get("/api/installed")
    async def get_installed() -> Any:
        return await loop_call(installed_view, pool)

    @app.delete("/api/models/{model_id:path}")
    async def delete_model(model_id: str) -> Any:
        from starlette.responses import Response
        from .. import catalog

        names = {n: Path(p) for n, p in (await loop_call(pool.names)).items()}
        path = names.get(model_id)
        if path is None:
            raise APIError(404, f"the model {model_id!r} is not installed", NOT_FOUND, param="model",
                           code="model_not_found")
        if pool.is_fixed(model_id):
            raise APIError(409, f"{model_id!r} was named on the command line; stop the server to delete it",
                           INVALID_REQUEST, param="model", code="model_pinned")
        if downloads.running(model_id) is not None:
            raise APIError(409, f"{model_id!r} is downloading; cancel the download first", INVALID_REQUEST,
                           param="model", code="model_downloading")
        # Every name of that file (a .gguf answers with and without its suffix) is unloaded first.
        same = [n for n, p in names.items() if p == path]
        served: List[Any] = [pool.loaded[n] for n in same if n in pool.loaded]
        if any(s.busy() for s in served):
            raise APIError(409, f"{model_id!r} is answering a request; try again when it is done", INVALID_REQUEST,
                           param="model", code="model_busy", headers={"Retry-After": "5"})
        for s in served:
            pool.unload(s)
        target = model_id if model_id in catalog.CATALOG else path.name
        try:
            await loop_call(catalog.remove, target, pool.cache)
        except catalog.PullError as e:
            raise APIError(404, str(e), NOT_FOUND, param="model", code="model_not_found")
        on_deleted(same)
        return Response(status_code=204)
