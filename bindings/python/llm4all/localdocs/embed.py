"""LocalDocs embedders: the one small interface the indexer and search use to turn texts
into unit vectors, and its implementation on the engine (llm4all.Model.embed).

An embedding model is named as everywhere in llm4all: a .gguf path or a catalogue name
(Model converts the catalogue's Hugging Face checkpoints to GGUF once, on first use). Other
embedders (e.g. a remote service) plug in with register_embedder(name, factory).
"""

from __future__ import annotations

import threading
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from ..embeddings import DEFAULT_EMBED_MODEL

__all__ = ["Embedder", "EngineEmbedder", "DEFAULT_EMBED_MODEL", "load_embedder", "register_embedder"]

BATCH = 64   # texts per Model.embed call (the engine batches them into forward passes itself)


class Embedder:
    """Texts -> float32 L2-normalised vectors, one row per text. ``query`` says the texts
    are search queries rather than passages (models trained with task prompts differ)."""

    name: str = ""

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        raise NotImplementedError


def _normalise(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    if v.ndim == 1:
        v = v[None, :]
    n = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.maximum(n, 1e-12)


class EngineEmbedder(Embedder):
    """Embeddings from llm4all's own engine (Model.embed)."""

    def __init__(self, model: str = DEFAULT_EMBED_MODEL, n_threads: Optional[int] = None, device: str = "auto"):
        from ..model import Model
        self.name = model
        self.model = Model(model, n_threads=n_threads, device=device)
        if not self.model.is_embedding:
            raise ValueError(f"{model} is not an embedding model (LocalDocs needs one, e.g. {DEFAULT_EMBED_MODEL})")
        # Retrieval models trained with task prompts get theirs ("query" / "document").
        prompts = self.model.embedding_prompts
        self.query_prefix = "query" if "query" in prompts else None
        self.doc_prefix = "document" if "document" in prompts else None
        self._lock = threading.Lock()   # one Model serves one call at a time

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        prefix = self.query_prefix if query else self.doc_prefix
        rows: List[List[float]] = []
        with self._lock:
            for i in range(0, len(texts), BATCH):
                rows.extend(self.model.embed(list(texts[i:i + BATCH]), normalize=True, prefix=prefix))
        return _normalise(np.array(rows, dtype=np.float32)) if rows else np.zeros((0, 0), np.float32)


_FACTORIES: Dict[str, Callable[[], Embedder]] = {}
_LOADED: Dict[str, Embedder] = {}
_LOAD_LOCK = threading.Lock()


def register_embedder(name: str, factory: Callable[[], Embedder]) -> None:
    """Makes NAME (as given to --embed-model or embed_model=) build its embedder with factory()."""
    _FACTORIES[name] = factory
    _LOADED.pop(name, None)


def load_embedder(name: Optional[str] = None) -> Embedder:
    """The embedder for a model name (default: the catalogue's embedding model), loaded once
    per process."""
    name = name or DEFAULT_EMBED_MODEL
    with _LOAD_LOCK:
        if name not in _LOADED:
            factory = _FACTORIES.get(name)
            _LOADED[name] = factory() if factory else EngineEmbedder(name)
            _LOADED[name].name = name
        return _LOADED[name]
