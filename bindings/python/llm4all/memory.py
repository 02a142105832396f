"""How much memory a model will take before it is loaded: llm4all.estimate_memory().

The engine computes the estimate from the GGUF header alone (llm4all_gguf_estimate_memory):
weights a run touches, the KV cache at n_ctx, compute buffers, runtime tables. The same
figure is checked against the memory available when a model loads (skip_memory_check to
load anyway); this module adds what the calling process itself already holds, so that
``total`` predicts the peak resident memory of this process once the model has run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

from . import _core
from .oslayer import process_rss  # this process's resident memory (/proc, getrusage or Windows)

__all__ = ["MemoryEstimate", "estimate_memory", "process_rss"]

# llm4all.Model's default context, so that an estimate without n_ctx describes Model(name).
DEFAULT_N_CTX = 2048


@dataclass
class MemoryEstimate:
    """Bytes a model and a session at n_ctx will take. weights, kv_cache, compute and
    runtime add up to total; runtime includes ``process``, what this process held already
    (the interpreter, imported modules). ``engine`` is total less process: the engine's own
    need, which is what loading checks against ``available``."""

    weights: int
    kv_cache: int
    compute: int
    runtime: int
    total: int
    process: int
    engine: int
    n_ctx: int
    n_batch: int
    kv_type: str
    available: Optional[int]
    available_source: str
    devices: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def fits(self) -> Optional[bool]:
        """Whether loading passes the memory check now (None when available memory is unknown)."""
        return None if not self.available else self.engine <= self.available

    def as_dict(self) -> Dict[str, Any]:
        d = dict(self.__dict__)
        d["fits"] = self.fits
        return d


def estimate_memory(model: Union[str, "os.PathLike[str]"], n_ctx: int = DEFAULT_N_CTX, n_batch: int = 512,
                    kv_type: str = "f16", device: str = "auto", cache_dir: Union[str, "os.PathLike[str]", None] = None,
                    include_process: bool = True, process: Optional[int] = None) -> MemoryEstimate:
    """Estimates the memory of loading ``model`` (a .gguf path or a cached catalogue name;
    an embedding checkpoint folder is estimated as its converted GGUF) with a session of
    n_ctx tokens (0 = the model's training context, at most 4096), reading only the file's
    header. For an embedding model there is no KV cache and compute is one pass over a
    window of n_ctx tokens (at most its training context). include_process=False leaves
    out this process's own memory (then total == engine); ``process`` gives that figure
    instead of measuring it now (e.g. taken before other work grew the heap)."""
    from .embeddings import resolve_embedding_model

    path = resolve_embedding_model(model, allow_download=False, cache=cache_dir)
    if include_process and process is None:
        # Start the backend plugins first: a GPU plugin that lists its devices in this
        # process loads its driver whatever device runs (CUDA's does; Vulkan's asks a child
        # process), so that belongs to what this process holds, as the interpreter does.
        _core.devices_json()
    base = (process_rss() if process is None else int(process)) if include_process else 0
    e = _core.estimate_memory(path, int(n_ctx), int(n_batch), kv_type, device)
    return MemoryEstimate(weights=e["weights"], kv_cache=e["kv_cache"], compute=e["compute"],
                          runtime=e["runtime"] + base, total=e["total"] + base, process=base, engine=e["total"],
                          n_ctx=e["n_ctx"], n_batch=e["n_batch"], kv_type=kv_type,
                          available=e["available"] or None, available_source=e["available_source"],
                          devices=list(e["devices"]))
