"""LocalDocs in the app API: POST /api/localdocs adds a folder as a collection and indexes it in
a background thread (llm4all.localdocs.index with a progress callback), GET
/api/localdocs/{name}/events follows the indexing over SSE, DELETE /api/localdocs/{name}
removes the collection (stopping its indexing first). GET /v1/localdocs lists collections.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any, Dict, Optional

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .errors import INVALID_REQUEST, NOT_FOUND, APIError
from .events import progress_stream

__all__ = ["IndexJob", "DocsJobs", "register"]

FINAL = ("done", "error")
STOP_WAIT_S = 30.0    # DELETE waits this long for an indexing run to reach its next file


class Stopped(Exception):
    """Raised from the progress callback: the collection is being deleted."""


class IndexJob:
    """One indexing run of a collection, as the API shows it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.state = "indexing"
        self.files_done = 0
        self.files_total: Optional[int] = None
        self.chunks = 0
        self.error: Optional[str] = None
        self.stop = threading.Event()
        self.thread: Optional[threading.Thread] = None

    def progress(self, done: int, total: int, chunks: int) -> None:
        if self.stop.is_set():
            raise Stopped()
        self.files_done, self.files_total, self.chunks = done, total, chunks

    def view(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"name": self.name, "state": self.state, "files_done": self.files_done,
                               "files_total": self.files_total, "chunks": self.chunks}
        if self.state == "error":
            out["error"] = self.error or "unknown error"
        return out


def _collection(name: str) -> Optional[Dict[str, Any]]:
    from ..localdocs import collections
    return next((c for c in collections() if c["name"] == name), None)


class DocsJobs:
    """The indexing runs started in this server run, by collection name."""

    def __init__(self) -> None:
        self.jobs: Dict[str, IndexJob] = {}
        self._lock = threading.Lock()

    def start(self, name: Any, path: Any) -> IndexJob:
        from .. import localdocs
        if not isinstance(name, str) or not name.strip() or name != name.strip() or len(name) > 200 or "/" in name:
            raise APIError(400, "name: give the collection a name (not empty, no '/', no spaces at either end)",
                           INVALID_REQUEST, param="name", code="invalid_value")
        if not isinstance(path, str) or not path.strip():
            raise APIError(400, "path: type the folder's path", INVALID_REQUEST, param="path", code="invalid_value")
        folder = os.path.abspath(os.path.expanduser(path.strip()))
        if not os.path.exists(folder):
            problem = "does not exist"
        elif not os.path.isdir(folder):
            problem = "is not a folder"
        elif not os.access(folder, os.R_OK | os.X_OK):
            problem = "cannot be read (no permission)"
        else:
            problem = None
        if problem:
            raise APIError(400, f"path: {folder} {problem}", INVALID_REQUEST, param="path", code="invalid_folder")
        with self._lock:
            running = self.jobs.get(name)
            if running is not None and running.state == "indexing":
                raise APIError(409, f"the collection {name!r} is already being indexed", INVALID_REQUEST,
                               param="name", code="already_indexing")
            localdocs.add(name, [folder])
            job = IndexJob(name)
            self.jobs[name] = job
        job.thread = threading.Thread(target=self._run, args=(job,), name=f"llm4all-index-{name}", daemon=True)
        job.thread.start()
        return job

    def _run(self, job: IndexJob) -> None:
        from .. import localdocs
        try:
            report = localdocs.index(job.name, on_progress=job.progress)[job.name]
            coll = _collection(job.name)
            job.chunks = coll["chunks"] if coll else report.chunks_embedded
            if job.files_total is not None:
                job.files_done = job.files_total
            job.state = "done"
        except Stopped:
            job.state = "error"
            job.error = "stopped: the collection was deleted"
        except Exception as e:   # e.g. the embedding model is not installed
            job.error = str(e) or type(e).__name__
            job.state = "error"

    def job_or_collection(self, name: str) -> IndexJob:
        """This run's job for name, else a finished view of the stored collection (404 if none)."""
        job = self.jobs.get(name)
        if job is not None:
            return job
        coll = _collection(name)
        if coll is None:
            raise APIError(404, f"no collection named {name!r}", NOT_FOUND, param="name", code="collection_not_found")
        done = IndexJob(name)
        done.state, done.files_done, done.files_total, done.chunks = "done", coll["documents"], coll["documents"], \
            coll["chunks"]
        return done

    def delete(self, name: str) -> None:
        from .. import localdocs
        job = self.jobs.get(name)
        if job is not None and job.thread is not None and job.thread.is_alive():
            job.stop.set()
            job.thread.join(STOP_WAIT_S)
            if job.thread.is_alive():
                raise APIError(409, f"the collection {name!r} is still finishing a file; try again shortly",
                               INVALID_REQUEST, param="name", code="collection_busy", headers={"Retry-After": "5"})
        if _collection(name) is None:
            raise APIError(404, f"no collection named {name!r}", NOT_FOUND, param="name", code="collection_not_found")
        localdocs.remove(name)
        self.jobs.pop(name, None)


def register(app: FastAPI, jobs: DocsJobs) -> None:
    def run(fn: Any, *a: Any) -> Any:
        return asyncio.get_running_loop().run_in_executor(None, fn, *a)

    @app.post("/api/localdocs")
    async def add_folder(request: Request) -> Any:
        from .api import json_body
        body = await json_body(request)
        job = await run(jobs.start, body.get("name"), body.get("path"))
        view = job.view()
        view.update(state="indexing", files_done=0, chunks=0)   # as it was asked for (the run may be ahead)
        return JSONResponse(view, status_code=202)

    @app.get("/api/localdocs/{name}/events")
    async def index_events(name: str) -> Any:
        job = await run(jobs.job_or_collection, name)
        return progress_stream(job.view, FINAL)

    @app.delete("/api/localdocs/{name}")
    async def delete_collection(name: str) -> Any:
        await run(jobs.delete, name)
        return Response(status_code=204)
