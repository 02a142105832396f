"""The app API under /api/ (the page's Models, LocalDocs and Settings views), next to OpenAI's
/v1: register_api adds the routes of library.py (catalogue, installed, delete), downloads.py,
settings.py and docs_api.py to the server's app, and wires the settings to the pool (loading
options and the default model for models loaded from then on).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List, Optional

from fastapi import FastAPI
from starlette.requests import Request

from .errors import INVALID_REQUEST, APIError
from .pool import ModelPool
from .settings import Settings

__all__ = ["register_api", "json_body"]


async def json_body(request: Request) -> Dict[str, Any]:
    """The request's JSON object, or a 400 saying what is wrong with it."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else None
    except (ValueError, RecursionError) as e:
        raise APIError(400, f"the request body is not valid JSON: {e}", INVALID_REQUEST, code="invalid_json")
    if not isinstance(body, dict):
        raise APIError(400, "the request body must be a JSON object", INVALID_REQUEST, code="invalid_json")
    return body


def apply_settings(pool: ModelPool, values: Dict[str, Any], default_changed: bool = True) -> None:
    """Loading options for the next loads, and the default model: at start the command line's
    MODEL wins over a stored default (which may name a model this server does not serve); a
    change of default_model through the API wins over MODEL."""
    pool.load_options = {k: values[k] for k in ("threads", "device", "gpu_layers", "n_ctx")}
    if default_changed:
        pool.default = values.get("default_model") or pool.fixed_default()
    else:
        pool.default = pool.fixed_default() or values.get("default_model")


def register_api(app: FastAPI, pool: ModelPool, settings: Optional[Settings] = None) -> None:
    from . import docs_api, downloads as downloads_mod, library

    settings = settings if settings is not None else Settings()
    apply_settings(pool, settings.get(), default_changed=False)
    downloads = downloads_mod.Downloads(pool.cache)
    docs = docs_api.DocsJobs()
    app.state.settings, app.state.downloads, app.state.docs_jobs = settings, downloads, docs

    def forget(names: List[str]) -> None:
        # A deleted default model is no longer the default.
        if settings.get()["default_model"] in names:
            apply_settings(pool, settings.update({"default_model": None}, lambda: []))

    library.register(app, pool, downloads, forget)
    downloads_mod.register(app, downloads)
    docs_api.register(app, docs)

    @app.get("/api/settings")
    async def get_settings() -> Any:
        return settings.get()

    @app.put("/api/settings")
    async def put_settings(request: Request) -> Any:
        body = await json_body(request)
        values = await asyncio.get_running_loop().run_in_executor(None, settings.update, body, pool.names)
        apply_settings(pool, values, default_changed="default_model" in body)
        return values
