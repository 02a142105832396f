"""Models on demand for `llm4all serve`: every installed model answers by its name, loaded on
first use and kept while it is used and memory allows.

A request names its model; `ModelPool.acquire` returns the loaded `Served` model (loading it
in a worker thread first, so requests to other loaded models go on meanwhile; concurrent first
requests share one load). At most `max_loaded` models stay loaded: before a load the least
recently used idle ones are unloaded, as are any needed to leave room for the new one in the
memory available, and a model idle for `idle_timeout_s` is unloaded by `reap`. A model with a
request in flight (pinned, or with busy slots or a queue) is never unloaded.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from .errors import NOT_FOUND, OVERLOADED, APIError

BUSY_WAIT_S = 120.0     # how long a load waits for a busy model to go idle before answering 503


@dataclass
class Served:
    """One loaded model: its engine (generation slots, or embeddings), prompt builder and name."""

    name: str
    engine: Any
    prompts: Any = None
    created: int = field(default_factory=lambda: int(time.time()))
    scorer: Any = None      # the prompt scorer of /v1/completions echo logprobs, made on first use
    pins: int = 0
    last_used: float = field(default_factory=time.monotonic)

    @property
    def model(self) -> Any:
        return self.engine.model

    @property
    def embedder(self) -> bool:
        return self.engine.model.embedding_dim > 0

    def busy(self) -> bool:
        s = self.engine.stats()
        return self.pins > 0 or s["slots_busy"] > 0 or s["queued"] > 0

    def close(self) -> None:
        self.engine.close()


def installed_models(cache: Any = None) -> Dict[str, Path]:
    """Name -> path of what the model cache holds: catalogue ids (an embedding checkpoint as
    its folder, converted to GGUF on load), and other .gguf files under their file name, with
    and without .gguf (the GGUF made from a checkpoint folder is that folder's model)."""
    from ..catalog import CATALOG, installed

    made = {f"{CATALOG[n].filename}-f16.gguf" for n in CATALOG if CATALOG[n].is_folder}
    out: Dict[str, Path] = {}
    for name, path, _ in installed(cache):
        if name in made:
            continue
        out[name] = path
        if name.endswith(".gguf"):
            out.setdefault(name[:-5], path)
    return out


def _memory_need(path: Path, n_ctx: int, n_parallel: int) -> int:
    """Bytes a load of this file takes in the server: the core's estimate for one session at
    n_ctx plus the KV cache of the other slots; for a checkpoint folder (converted on load)
    or a file the core cannot read, its size plus a quarter."""
    if path.suffix == ".gguf":
        from .. import Error
        from ..memory import estimate_memory
        try:
            e = estimate_memory(str(path), n_ctx=n_ctx or 2048, include_process=False)
            return e.engine + (max(n_parallel, 1) - 1) * e.kv_cache
        except Error:
            pass   # a file the core cannot read: the load itself will say why
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    return size + size // 4


class ModelPool:
    """The models a server answers for. `pinned` models (named on the command line) are loaded
    at start and never unloaded; with `on_demand`, every installed model answers too."""

    def __init__(self, load: Callable[[str, Path], Served], *, on_demand: bool = True, max_loaded: int = 2,
                 idle_timeout_s: float = 300.0, cache: Any = None, n_ctx: int = 0, n_parallel: int = 1) -> None:
        if max_loaded < 1:
            raise ValueError(f"--max-loaded must be at least 1, got {max_loaded}")
        self._load = load
        self.on_demand = on_demand
        self.max_loaded = max_loaded
        self.idle_timeout_s = idle_timeout_s
        self._cache = cache
        self._n_ctx, self._n_parallel = n_ctx, n_parallel   # each generating model's slots, for its memory need
        self._fixed: Dict[str, Path] = {}
        self._keep: set = set()
        self.loaded: Dict[str, Served] = {}
        self._loading: Dict[str, asyncio.Future] = {}
        self.default: Optional[str] = None
        # threads, device, gpu_layers, n_ctx from the app's settings (serve/settings.py), read by
        # the load function for each load from then on; empty: the command line's.
        self.load_options: Dict[str, Any] = {}

    @classmethod
    def single(cls, served: Served, path: Any = None) -> "ModelPool":
        """A pool of one model loaded by the caller, and nothing on demand."""
        pool = cls(lambda name, p: served, on_demand=False, max_loaded=1)
        pool.add(served, Path(path or served.name))
        return pool

    # ---- what is served ---------------------------------------------------------------------

    def add(self, served: Served, path: Path, keep: bool = True) -> None:
        """A model loaded before the server starts (the command line's MODEL)."""
        self._fixed[served.name] = path
        self.loaded[served.name] = served
        if keep:
            self._keep.add(served.name)
        self.default = self.default or served.name

    @property
    def cache(self) -> Any:
        """The model cache on-demand models come from (None: llm4all's default)."""
        return self._cache

    def is_fixed(self, name: str) -> bool:
        """True for a model named on the command line (never unloaded or deleted by the app)."""
        return name in self._fixed

    def fixed_default(self) -> Optional[str]:
        """The default model of the command line (its MODEL), if any."""
        return next(iter(self._fixed), None)

    def names(self) -> Dict[str, Path]:
        out = dict(self._fixed)
        if self.on_demand:
            for name, path in installed_models(self._cache).items():
                out.setdefault(name, path)
        return out

    def _path(self, name: str) -> Path:
        if name in self._fixed:
            return self._fixed[name]
        if self.on_demand:
            found = installed_models(self._cache).get(name)
            if found is not None:
                return found
        served = ", ".join(sorted(self.names())) or "none"
        hint = (f"; fetch it with `llm4all pull {name}` (this server serves the installed models: {served})"
                if self.on_demand else f": this server serves {served}")
        raise APIError(404, f"the model {name!r} is not installed{hint}", NOT_FOUND, param="model",
                       code="model_not_found")

    # ---- acquire / release -----------------------------------------------------------------

    async def acquire(self, name: Optional[str]) -> Served:
        """The loaded model `name` (the default one when None), pinned until release()."""
        if name is None or name == "":
            if self.default is None:
                raise APIError(400, "name a model: this server has no default model", "invalid_request_error",
                               param="model", code="model_required")
            name = self.default
        while True:
            served = self.loaded.get(name)
            if served is not None:
                served.pins += 1
                served.last_used = time.monotonic()
                return served
            pending = self._loading.get(name)
            if pending is None:
                path = self._path(name)
                pending = asyncio.get_running_loop().create_future()
                self._loading[name] = pending
                asyncio.ensure_future(self._load_into(name, path, pending))
            await asyncio.shield(pending)   # raises the load's error, or loops to pin the model

    def release(self, served: Served) -> None:
        served.pins = max(0, served.pins - 1)
        served.last_used = time.monotonic()

    async def _load_into(self, name: str, path: Path, done: asyncio.Future) -> None:
        try:
            await self._make_room(path)
            served = await asyncio.get_running_loop().run_in_executor(None, self._load, name, path)
            self.loaded[name] = served
            done.set_result(None)
        except BaseException as e:   # every waiter gets the same error
            if isinstance(e, APIError):
                done.set_exception(e)
            else:
                done.set_exception(APIError(500, f"could not load the model {name!r}: {e}", "server_error",
                                            param="model", code="model_load_failed"))
            done.exception()   # marks it retrieved when nobody waits any more
        finally:
            self._loading.pop(name, None)

    def _evictable(self) -> List[Served]:
        idle = [s for n, s in self.loaded.items() if n not in self._keep and not s.busy()]
        return sorted(idle, key=lambda s: s.last_used)

    def unload(self, served: Served) -> None:
        self.loaded.pop(served.name, None)
        served.close()
        del served
        gc.collect()   # the core model goes with its last reference: its mapping and buffers
        _trim()

    async def _make_room(self, path: Path) -> None:
        from ..catalog import available_memory

        n_ctx = self.load_options.get("n_ctx") or self._n_ctx
        need = await asyncio.get_running_loop().run_in_executor(None, _memory_need, path, n_ctx, self._n_parallel)
        deadline = time.monotonic() + BUSY_WAIT_S
        while True:
            avail = available_memory()
            short = avail is not None and avail < need
            if len(self.loaded) < self.max_loaded and not short:
                return
            idle = self._evictable()
            if idle:
                self.unload(idle[0])
                continue
            if len(self.loaded) < self.max_loaded:
                return   # short of memory with nothing to unload: the core's own check decides
            if time.monotonic() > deadline:
                raise APIError(503, f"every loaded model is busy ({', '.join(self.loaded)}) and --max-loaded is "
                               f"{self.max_loaded}; try again shortly", OVERLOADED, code="server_busy",
                               headers={"Retry-After": "5"})
            await asyncio.sleep(0.2)

    async def reap(self, every_s: float = 5.0) -> None:
        """Unloads models idle for idle_timeout_s (run as a background task while serving)."""
        while True:
            await asyncio.sleep(every_s)
            if self.idle_timeout_s <= 0:
                continue
            now = time.monotonic()
            for served in self._evictable():
                if now - served.last_used >= self.idle_timeout_s:
                    self.unload(served)

    def close(self) -> None:
        for served in list(self.loaded.values()):
            served.close()
        self.loaded.clear()


def _trim() -> None:
    """Hands freed heap pages back to the OS at once, so an unload shows in the RSS."""
    if os.name != "posix":
        return
    try:
        import ctypes
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass
