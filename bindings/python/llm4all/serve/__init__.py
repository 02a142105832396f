"""llm4all serve: the OpenAI-compatible server (engine, HTTP app, browser page).

`create_app(pool)` builds the FastAPI app over a `ModelPool` (pool.py: the models it answers
for, each with its `Engine`, loaded on demand); the `llm4all serve` command
(llm4all.commands.serve) wires them to uvicorn. Both are
imported on first use, so importing the engine alone does not load FastAPI.
"""

from typing import Any

__all__ = ["create_app", "Engine"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app
        return create_app
    if name == "Engine":
        from .engine import Engine
        return Engine
    raise AttributeError(f"module 'llm4all.serve' has no attribute {name!r}")
