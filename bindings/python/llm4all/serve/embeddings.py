"""Embeddings in the server: POST /v1/embeddings (OpenAI shape) over the core's batched
llm4all_embed, and the stand-in engine a server started with an embedding model runs
(it has no generation slots: the chat and completion endpoints answer 400).
"""

from __future__ import annotations

import base64
from typing import Any, Dict, List, Union

from .errors import APIError, bad_request
from .schemas import EmbeddingData, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage

# Inputs per request: OpenAI's limit.
MAX_INPUTS = 2048


class EmbeddingEngine:
    """What the server needs from an engine, for an embedding model: the model, its window,
    and stats; submit() refuses generation."""

    n_parallel = 0

    def __init__(self, model: Any, n_threads: int = 0) -> None:
        self.model = model
        self.n_threads = n_threads
        self.n_ctx = model.n_ctx_train

    def stats(self) -> Dict[str, int]:
        return {"slots_busy": 0, "queued": 0, "n_parallel": 0, "n_ctx": self.n_ctx}

    def submit(self, gen: Any) -> Any:
        raise not_a_generator()

    def close(self) -> None:
        pass


def not_a_generator() -> APIError:
    return bad_request("this model is an embedding model: it answers /v1/embeddings, not chat or completions "
                       "(name a chat model)", param="model", code="model_not_supported")


def not_an_embedder() -> APIError:
    return bad_request("this model is not an embedding model: /v1/embeddings needs one (e.g. `minilm`, "
                       "fetched with `llm4all pull minilm`)", param="model", code="model_not_supported")


def _inputs(req: EmbeddingRequest) -> List[Union[str, List[int]]]:
    x = req.input
    if isinstance(x, str):
        items: List[Union[str, List[int]]] = [x]
    elif x and all(isinstance(t, int) for t in x):
        items = [list(x)]   # type: ignore[arg-type]
    else:
        items = list(x)   # type: ignore[arg-type]
    if not items:
        raise bad_request("input must not be empty", param="input")
    if len(items) > MAX_INPUTS:
        raise bad_request(f"input has {len(items)} items; at most {MAX_INPUTS} per request", param="input")
    return items


def embed_request(model: Any, n_threads: int, model_name: str, req: EmbeddingRequest) -> EmbeddingResponse:
    """Runs the request (blocking: call it off the event loop)."""
    from .. import _core

    dim = model.embedding_dim
    if dim <= 0:
        raise not_an_embedder()
    if req.dimensions is not None and req.dimensions > dim:
        raise bad_request(f"dimensions {req.dimensions} exceeds the model's {dim}", param="dimensions")
    items = _inputs(req)
    n_vocab = model.n_vocab
    for i, it in enumerate(items):
        if isinstance(it, list) and (not it or not all(0 <= t < n_vocab for t in it)):
            raise bad_request(f"input[{i}]: token ids must be in 0..{n_vocab - 1} and not empty", param="input")
    if any(isinstance(it, list) for it in items) and not all(isinstance(it, list) for it in items):
        raise bad_request("input mixes strings and token lists", param="input")
    try:
        arr, n_tokens = model.embed(items, n_threads=n_threads, dimensionality=req.dimensions or 0,
                                    long_text=0 if isinstance(items[0], str) else 1)
    except _core.Error as e:
        raise bad_request(str(e), param="input")
    data = []
    for i, row in enumerate(arr):
        if req.encoding_format == "base64":
            vec: Union[List[float], str] = base64.b64encode(row.astype("<f4").tobytes()).decode()
        else:
            vec = row.tolist()
        data.append(EmbeddingData(index=i, embedding=vec))
    return EmbeddingResponse(data=data, model=model_name,
                             usage=EmbeddingUsage(prompt_tokens=int(n_tokens), total_tokens=int(n_tokens)))
