"""Embedding models from Python: Model.embed's implementation, the task prompts of the
models that use them, and GGUF files for the catalogue's embedding checkpoints.

The catalogue ships sentence encoders as Hugging Face folders (`minilm`, `embgemma`);
`embedding_model_path(name)` converts such a folder once into `<cache>/<name>-f16.gguf`
(F16 weights: the vectors keep cosine >= 0.9999 with sentence-transformers) and reuses it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from . import _core

__all__ = ["DEFAULT_EMBED_MODEL", "PROMPTS", "MATRYOSHKA", "embedding_model_path", "resolve_embedding_model", "embed_vectors",
           "LONG_TEXT_MODES"]

# The catalogue's embedding model (what gpt4all's Embed4All defaults to as well).
DEFAULT_EMBED_MODEL = "minilm"

LONG_TEXT_MODES = {"mean": 0, "truncate": 1, "error": 2}

# Task prompts by GGUF architecture, as the models' sentence-transformers configs give them
# (EmbeddingGemma: config_sentence_transformers.json) or their cards (nomic-bert).
PROMPTS: Dict[str, Dict[str, str]] = {
    "gemma-embedding": {
        "query": "task: search result | query: ",
        "document": "title: none | text: ",
        "BitextMining": "task: search result | query: ",
        "Clustering": "task: clustering | query: ",
        "Classification": "task: classification | query: ",
        "InstructionRetrieval": "task: code retrieval | query: ",
        "MultilabelClassification": "task: classification | query: ",
        "PairClassification": "task: sentence similarity | query: ",
        "Reranking": "task: search result | query: ",
        "Retrieval": "task: search result | query: ",
        "Retrieval-query": "task: search result | query: ",
        "Retrieval-document": "title: none | text: ",
        "STS": "task: sentence similarity | query: ",
        "Summarization": "task: summarization | query: ",
    },
    "nomic-bert": {t: f"{t}: " for t in ("search_query", "search_document", "clustering", "classification")},
}

# Architectures trained for Matryoshka truncation (gpt4all's Embed4All refuses a smaller
# dimensionality for the others; Model.embed truncates whatever the model).
MATRYOSHKA = {"gemma-embedding", "nomic-bert"}

_convert_lock = threading.Lock()


def embedding_model_path(name: str, cache: Union[str, os.PathLike, None] = None, allow_download: bool = True,
                         progress: bool = False) -> Path:
    """The GGUF file of a catalogue embedding checkpoint (a Hugging Face folder entry),
    pulled and converted on first use."""
    from .catalog import CATALOG, PullError, cached_path, is_cached, pull

    entry = CATALOG.get(name)
    if entry is None or not entry.is_folder:
        raise PullError(f"{name!r} is not a catalogue checkpoint folder")
    folder = cached_path(name, cache)
    out = folder.with_name(f"{folder.name}-f16.gguf")
    if out.exists():
        return out
    with _convert_lock:
        if out.exists():
            return out
        if not is_cached(name, cache):
            if not allow_download:
                raise PullError(f"model {name!r} is not cached; run `llm4all pull {name}` first")
            pull(name, cache, progress=progress)
        from .convert import convert   # needs the [convert] extra (gguf, safetensors, numpy)

        tmp = out.with_name(out.name + f".part{os.getpid()}")
        try:
            convert(folder, tmp, "f16", progress=progress)
            os.replace(tmp, out)
        finally:
            if tmp.exists():
                tmp.unlink()
    return out


def resolve_embedding_model(model: Union[str, os.PathLike], allow_download: bool = True,
                            cache: Union[str, os.PathLike, None] = None) -> Union[str, Path]:
    """Like catalog.resolve_model, but a catalogue checkpoint folder becomes its GGUF."""
    from .catalog import CATALOG, resolve_model

    if isinstance(model, str) and not os.path.exists(model) and model in CATALOG and CATALOG[model].is_folder:
        return embedding_model_path(model, cache, allow_download)
    return resolve_model(model, allow_download=allow_download, cache=cache)


def prompt_text(arch: str, prefix: Optional[str]) -> Optional[str]:
    """A prompt name the model knows becomes its text; anything else is literal."""
    if prefix is None:
        return None
    return PROMPTS.get(arch, {}).get(prefix, prefix)


def embed_vectors(core_model: "_core.Model", arch: str, texts: Union[str, bytes, Sequence[Any]], *,
                  normalize: bool = True, dimensionality: Optional[int] = None, prefix: Optional[str] = None,
                  long_text_mode: str = "mean", n_threads: int = 0, n_ctx: int = 0,
                  on_batch: Optional[Callable[[List[int]], bool]] = None) -> Tuple[Any, List[Any], int]:
    """(single, vectors as lists, tokens run); single is True when texts was one string
    (or one token list), so callers return vectors[0]."""
    if core_model.embedding_dim <= 0:
        raise ValueError(f"{arch!r} is not an embedding model (Model.embed needs e.g. {DEFAULT_EMBED_MODEL!r})")
    if long_text_mode not in LONG_TEXT_MODES:
        raise ValueError(f"long_text_mode must be one of {', '.join(LONG_TEXT_MODES)}, got {long_text_mode!r}")
    if dimensionality is not None:
        if isinstance(dimensionality, bool) or not isinstance(dimensionality, int) or dimensionality <= 0:
            raise ValueError(f"dimensionality must be None or a positive integer, got {dimensionality!r}")
        if dimensionality > core_model.embedding_dim:
            raise ValueError(f"dimensionality {dimensionality} exceeds the model's {core_model.embedding_dim}")
    single = isinstance(texts, (str, bytes)) or (
        isinstance(texts, Sequence) and len(texts) > 0 and all(isinstance(t, int) for t in texts))
    items = [texts] if single else list(texts)
    if not items:
        return single, [], 0
    arr, n_tokens = core_model.embed(items, n_threads=n_threads, normalize=normalize,
                                     dimensionality=dimensionality or 0, prefix=prompt_text(arch, prefix),
                                     long_text=LONG_TEXT_MODES[long_text_mode], n_ctx=n_ctx, on_batch=on_batch)
    return single, arr.tolist(), int(n_tokens)
