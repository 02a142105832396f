"""LocalDocs answers: the top passages of the user's collections go into the prompt (in the
last user message, which every chat template accepts, unlike system messages), and the reply
ends with numbered citations (file and location) of those passages.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from .search import Hit

__all__ = ["retrieve", "with_context", "citations", "last_user_text", "append_citations", "DOCS_K"]

DOCS_K = 4   # passages put in the prompt: enough to answer, few enough for small context windows


def retrieve(names: Sequence[str], query: str, k: int = DOCS_K, data_dir: Optional[str] = None,
             embed_model: Optional[str] = None) -> List[Hit]:
    """The k best passages over the collections NAMES (fused scores are comparable: each
    is a reciprocal rank fusion of the same two kinds of ranking)."""
    from .. import localdocs
    hits: List[Hit] = []
    for name in dict.fromkeys(names):
        hits.extend(localdocs.search(name, query, k=k, data_dir=data_dir, embed_model=embed_model))
    hits.sort(key=lambda h: -h.score)
    return hits[:k]


def last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return c
            if isinstance(c, list):   # OpenAI content parts
                return " ".join(p.get("text", "") for p in c if isinstance(p, dict))
            return ""
    return ""


def _cite(hit: Hit) -> str:
    return f"{hit.file}, {hit.location}" if hit.location else hit.file


def with_context(messages: Sequence[Mapping[str, Any]], hits: Sequence[Hit]) -> List[Dict[str, Any]]:
    """messages with the passages placed before the last user message's question."""
    out = [dict(m) for m in messages]
    if not hits:
        return out
    excerpts = "\n\n".join(f"[{i}] {os.path.basename(h.file)} ({h.location or 'whole file'}):\n{h.text}"
                           for i, h in enumerate(hits, 1))
    for m in reversed(out):
        if m.get("role") == "user":
            question = last_user_text([m])
            m["content"] = ("Answer the question using these excerpts from my documents; cite them by number, "
                            f"like [1].\n\n{excerpts}\n\nQuestion: {question}")
            break
    return out


def citations(hits: Sequence[Hit]) -> str:
    """The block the reply ends with: "Sources:" then "[n] file, location" lines."""
    if not hits:
        return ""
    return "\n\nSources:\n" + "\n".join(f"[{i}] {_cite(h)}" for i, h in enumerate(hits, 1))


def append_citations(reply, hits: Sequence[Hit]):
    """reply (a string or an iterator of pieces) followed by the citations."""
    tail = citations(hits)
    if isinstance(reply, str):
        return reply + tail
    return _stream_then(reply, tail)


def _stream_then(pieces: Iterator[str], tail: str) -> Iterator[str]:
    try:
        for p in pieces:
            yield p
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()
    if tail:
        yield tail


def sources(hits: Sequence[Hit]) -> List[Dict[str, Any]]:
    """Citations as data (the server's "sources" field): index, file, location, score, text."""
    return [{"index": i, **h.as_dict()} for i, h in enumerate(hits, 1)]


def prepare(messages: Sequence[Mapping[str, Any]], names: Sequence[str], k: int = DOCS_K,
            data_dir: Optional[str] = None) -> Tuple[List[Dict[str, Any]], List[Hit]]:
    """(messages with the context, the passages used) for a chat over collections NAMES."""
    hits = retrieve(names, last_user_text(messages), k=k, data_dir=data_dir) if names else []
    return with_context(messages, hits), hits
