"""Progress as server-sent events for the app API (downloads, LocalDocs indexing): the state of
a background job, sent at once on connect, again whenever it changes and at least once a
second while it runs, and the stream ends after a final state.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, AsyncIterator, Callable, Collection, Dict

from starlette.responses import StreamingResponse

POLL_S = 0.2        # how often the job's state is looked at
HEARTBEAT_S = 1.0   # the longest gap between two events while the job runs


async def _frames(snapshot: Callable[[], Dict[str, Any]], final: Collection[str]) -> AsyncIterator[bytes]:
    last, sent_at = None, 0.0
    while True:
        state = snapshot()
        now = time.monotonic()
        if state != last or now - sent_at >= HEARTBEAT_S:
            yield b"data: " + json.dumps(state, ensure_ascii=False).encode() + b"\n\n"
            last, sent_at = state, now
        if state.get("state") in final:
            return
        await asyncio.sleep(POLL_S)


def progress_stream(snapshot: Callable[[], Dict[str, Any]], final: Collection[str]) -> StreamingResponse:
    """An SSE response of snapshot() until its "state" is one of final (a client that leaves
    ends the stream; the job itself goes on)."""
    return StreamingResponse(_frames(snapshot, final), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
