"""Catalogue downloads started from the app (/api/downloads): each runs `llm4all pull`'s fetcher
(catalog.pull: resume, retries, sha256 check before the file takes its name) in a background
thread, with a progress callback that records the bytes received and, once a cancel is asked
for, raises to stop the transfer at the next block; the partial file stays for a later resume.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any, Dict, List, Optional

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse

from .errors import INVALID_REQUEST, NOT_FOUND, APIError
from .events import progress_stream

__all__ = ["Download", "Downloads", "register"]

FINAL = ("done", "error", "cancelled")
CANCEL_WAIT_S = 5.0    # how long DELETE waits for the transfer to stop before answering


class Cancelled(Exception):
    """Raised from the progress callback: the download was cancelled."""


class Download:
    """One download: its state as the API shows it, and the thread doing it."""

    def __init__(self, model: str, total: int) -> None:
        self.id = f"dl-{uuid.uuid4().hex[:12]}"
        self.model = model
        self.state = "running"
        self.received = 0
        self.total = total
        self.error: Optional[str] = None
        self.started = time.time()
        self.finished: Optional[float] = None
        self.cancel_asked = threading.Event()
        self.thread: Optional[threading.Thread] = None

    def progress(self, done: int, total: int) -> None:
        if self.cancel_asked.is_set():
            raise Cancelled()
        self.received = done
        if total:
            self.total = total

    def view(self) -> Dict[str, Any]:
        pct = 100.0 if self.state == "done" else (min(100.0, 100.0 * self.received / self.total) if self.total else 0.0)
        out: Dict[str, Any] = {"id": self.id, "model": self.model, "state": self.state, "received": self.received,
                               "total": self.total, "percent": round(pct, 2), "started": self.started,
                               "finished": self.finished}
        if self.state == "error":
            out["error"] = self.error or "unknown error"
        return out


class Downloads:
    """The downloads of this server run, by id."""

    def __init__(self, cache: Any = None) -> None:
        self.cache = cache
        self.items: Dict[str, Download] = {}
        self._lock = threading.Lock()

    def running(self, model: str) -> Optional[Download]:
        return next((d for d in self.items.values() if d.model == model and d.state == "running"), None)

    def start(self, model: str) -> Download:
        from .. import catalog
        entry = catalog.CATALOG.get(model)
        if entry is None:
            raise APIError(404, f"{model!r} is not in the catalogue (GET /api/catalog lists it)", NOT_FOUND,
                           param="model", code="model_not_found")
        with self._lock:
            busy = self.running(model)
            if busy is not None:
                raise _Conflict(f"{model!r} is already downloading (download {busy.id})", "already_downloading", busy)
            if catalog.is_cached(model, self.cache):
                raise _Conflict(f"{model!r} is already installed", "already_installed", None)
            d = Download(model, entry.size)
            self.items[d.id] = d
        d.thread = threading.Thread(target=self._run, args=(d,), name=f"llm4all-download-{model}", daemon=True)
        d.thread.start()
        return d

    def _run(self, d: Download) -> None:
        from .. import catalog
        try:
            catalog.pull(d.model, cache_dir=self.cache, progress=d.progress)
            d.received = d.total
            d.state = "done"
        except Cancelled:
            d.state = "cancelled"
        except Exception as e:   # shown to the user as the download's error
            d.error = str(e) or type(e).__name__
            d.state = "cancelled" if d.cancel_asked.is_set() else "error"
        finally:
            d.finished = time.time()

    def get(self, did: str) -> Download:
        d = self.items.get(did)
        if d is None:
            raise APIError(404, f"no download {did!r} in this server run", NOT_FOUND, param="id",
                           code="download_not_found")
        return d

    def cancel(self, did: str) -> Download:
        """Asks the download to stop and waits (a little) until it has; a finished one stays as it is."""
        d = self.get(did)
        if d.state == "running":
            d.cancel_asked.set()
            if d.thread is not None:
                d.thread.join(CANCEL_WAIT_S)
            if d.state == "running":
                # No block arrived meanwhile (a silent connection): it ends at the next one or
                # at the download timeout, and keeps its partial file either way.
                d.state = "cancelled"
                d.finished = time.time()
        return d


class _Conflict(APIError):
    def __init__(self, message: str, code: str, running: Optional[Download]) -> None:
        super().__init__(409, message, INVALID_REQUEST, param="model", code=code)
        self.running = running

    def response(self) -> JSONResponse:
        body = self.body()
        if self.running is not None:
            body["download"] = self.running.view()   # the running download, so a page can follow it
        return JSONResponse(body, status_code=409)


def register(app: FastAPI, downloads: Downloads) -> None:
    @app.post("/api/downloads")
    async def start_download(request: Request) -> Any:
        from .api import json_body
        body = await json_body(request)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise APIError(422, "model: name a catalogue id", INVALID_REQUEST, param="model", code="invalid_value")
        d = await asyncio.get_running_loop().run_in_executor(None, downloads.start, model)
        return JSONResponse(d.view(), status_code=202)

    @app.get("/api/downloads")
    async def list_downloads() -> Any:
        items: List[Download] = sorted(downloads.items.values(), key=lambda d: d.started)
        return {"downloads": [d.view() for d in items]}

    @app.get("/api/downloads/{did}")
    async def get_download(did: str) -> Any:
        return downloads.get(did).view()

    @app.get("/api/downloads/{did}/events")
    async def download_events(did: str) -> Any:
        d = downloads.get(did)
        return progress_stream(d.view, FINAL)

    @app.delete("/api/downloads/{did}")
    async def cancel_download(did: str) -> Any:
        d = await asyncio.get_running_loop().run_in_executor(None, downloads.cancel, did)
        return d.view()
