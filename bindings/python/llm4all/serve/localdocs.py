"""LocalDocs in `llm4all serve`: a chat request with "localdocs": ["NAME", ...] gets the
collections' best passages for its last user message put into that message, and the response
carries them as "sources" (index, file, location, score, text): a field of the completion, or
of the first chunk of a stream. GET /v1/localdocs lists the collections (the page's picker).
Collections live in the server's data directory ($LLM4ALL_DATA_DIR).
"""

from __future__ import annotations

import json
from typing import Any, AsyncIterator, Dict, List

from .errors import bad_request

__all__ = ["list_collections", "apply_localdocs", "sources_first"]


def list_collections() -> Dict[str, Any]:
    from ..localdocs import collections
    return {"object": "list", "data": [{"name": c["name"], "documents": c["documents"], "chunks": c["chunks"],
                                        "embed_model": c["embed_model"]} for c in collections()]}


def apply_localdocs(req: Any) -> List[Dict[str, Any]]:
    """Rewrites req.messages' last user message with the passages; returns the sources."""
    from ..localdocs import StoreError
    from ..localdocs.answer import prepare, sources
    names = req.localdocs or []
    if not all(isinstance(n, str) and n for n in names):
        raise bad_request("localdocs must be a list of collection names", param="localdocs")
    messages = [{"role": m.role, "content": _text(m.content)} for m in req.messages]
    try:
        augmented, hits = prepare(messages, names)
    except StoreError as e:
        raise bad_request(str(e), param="localdocs")
    for m, a in zip(req.messages, augmented):
        if m.role == "user" and a["content"] != _text(m.content):
            m.content = a["content"]
    return sources(hits)


def _text(content: Any) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(p.text or "" for p in content if getattr(p, "type", "") == "text")


async def sources_first(frames: AsyncIterator[bytes], sources: List[Dict[str, Any]]) -> AsyncIterator[bytes]:
    """A chat stream whose first chunk also carries "sources"."""
    first = True
    async for frame in frames:
        if first and frame.startswith(b"data: {"):
            first = False
            obj = json.loads(frame[6:])
            obj["sources"] = sources
            frame = b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"
        yield frame
