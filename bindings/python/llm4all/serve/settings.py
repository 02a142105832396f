"""The app's settings (GET/PUT /api/settings): threads, device, GPU layers, context length,
the default model and per-model chat settings, validated field by field and stored in
settings.json in the llm4all config dir, written atomically (a temp file renamed over it) so
a crash never leaves half a file. Loading settings go to the pool for models loaded later.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from .errors import INVALID_REQUEST, APIError

__all__ = ["config_dir", "Settings", "DEFAULTS", "MODEL_DEFAULTS"]

DEFAULTS: Dict[str, Any] = {"threads": None, "device": "auto", "gpu_layers": -1, "n_ctx": None,
                            "default_model": None, "models": {}}
# A model's chat settings until the page changes them (the engine's own sampling defaults,
# with room for a real answer; the page sends them with each request).
MODEL_DEFAULTS: Dict[str, Any] = {"system_prompt": "", "temperature": 0.7, "top_p": 0.9, "top_k": 40,
                                  "max_tokens": 1024}
LOAD_KEYS = ("threads", "device", "gpu_layers", "n_ctx")
_DEVICE = re.compile(r"(auto|cpu|gpu|vulkan|cuda|metal)|[a-z][a-z0-9_-]*:\d+")


def config_dir() -> Path:
    """$LLM4ALL_CONFIG_DIR, else $XDG_CONFIG_HOME/llm4all, else ~/.config/llm4all."""
    env = os.environ.get("LLM4ALL_CONFIG_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return Path(xdg) / "llm4all" if xdg else Path.home() / ".config" / "llm4all"


def _bad(field: str, message: str) -> APIError:
    return APIError(422, f"{field}: {message}", INVALID_REQUEST, param=field, code="invalid_setting")


def _int(field: str, v: Any, lo: int, hi: int, nullable: bool = False) -> Optional[int]:
    if v is None and nullable:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise _bad(field, f"must be an integer from {lo} to {hi}{' or null' if nullable else ''}, got {v!r}")
    if not lo <= v <= hi:
        raise _bad(field, f"must be from {lo} to {hi}, got {v}")
    return v


def _float(field: str, v: Any, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise _bad(field, f"must be a number from {lo:g} to {hi:g}, got {v!r}")
    return float(v)


def _model_settings(mid: str, patch: Any, old: Dict[str, Any]) -> Dict[str, Any]:
    where = f"models.{mid}"
    if not isinstance(patch, dict):
        raise _bad(where, "must be an object (or null to forget the model's settings)")
    out = dict(MODEL_DEFAULTS, **old)
    for key, v in patch.items():
        f = f"{where}.{key}"
        if key == "system_prompt":
            if not isinstance(v, str) or len(v) > 100_000:
                raise _bad(f, "must be a string of at most 100000 characters")
            out[key] = v
        elif key == "temperature":
            out[key] = _float(f, v, 0.0, 2.0)
        elif key == "top_p":
            out[key] = _float(f, v, 0.0, 1.0)
        elif key == "top_k":
            out[key] = _int(f, v, 0, 1_000_000)
        elif key == "max_tokens":
            out[key] = _int(f, v, 1, 1_048_576)
        else:
            raise _bad(f, f"unknown setting (known: {', '.join(MODEL_DEFAULTS)})")
    return out


def validate(current: Dict[str, Any], patch: Any, installed: Callable[[], Any]) -> Dict[str, Any]:
    """current with patch applied, or an APIError (422) naming the first bad field.
    installed() gives the names default_model may take (asked only when it is set)."""
    if not isinstance(patch, dict):
        raise APIError(422, "the body must be a JSON object of settings", INVALID_REQUEST, code="invalid_setting")
    out = copy.deepcopy(current)
    for key, v in patch.items():
        if key == "threads":
            out[key] = _int(key, v, 1, 1024, nullable=True)
        elif key == "device":
            if not isinstance(v, str) or not _DEVICE.fullmatch(v):
                raise _bad(key, f"must be auto, cpu, gpu, vulkan, cuda, metal or KIND:N, got {v!r}")
            out[key] = v
        elif key == "gpu_layers":
            out[key] = _int(key, v, -1, 100_000)
        elif key == "n_ctx":
            out[key] = _int(key, v, 64, 1_048_576, nullable=True)
        elif key == "default_model":
            if v is not None and (not isinstance(v, str) or v not in installed()):
                raise _bad(key, f"{v!r} is not an installed model (null for none)")
            out[key] = v
        elif key == "models":
            if not isinstance(v, dict):
                raise _bad(key, "must be an object of model id -> settings")
            for mid, mp in v.items():
                if not mid:
                    raise _bad(key, "a model id must not be empty")
                if mp is None:
                    out["models"].pop(mid, None)
                else:
                    out["models"][mid] = _model_settings(mid, mp, out["models"].get(mid, {}))
        else:
            raise _bad(key, f"unknown setting (known: {', '.join(DEFAULTS)})")
    return out


def write_atomic(path: Path, text: str) -> None:
    """path holds text, or its old content if anything fails: a temp file in the same folder,
    flushed to disk, then renamed over it (rename is atomic within a file system)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


class Settings:
    """The settings of one server, read from settings.json at start (a missing file gives the
    defaults; a damaged one is reported and set aside as settings.json.bad)."""

    def __init__(self, directory: Optional[Path] = None) -> None:
        self.path = (directory or config_dir()) / "settings.json"
        self._lock = threading.Lock()
        self.values = self._read()

    def _read(self) -> Dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return copy.deepcopy(DEFAULTS)
        except OSError as e:
            print(f"llm4all: cannot read {self.path} ({e.strerror}); using the default settings", file=sys.stderr)
            return copy.deepcopy(DEFAULTS)
        try:
            # Stored values are checked as a PUT would be, except that the default model may
            # have been deleted since (a request for it then gets the 404 naming llm4all pull).
            stored = json.loads(text)
            return validate(DEFAULTS, stored, lambda: [stored.get("default_model")])
        except (ValueError, APIError) as e:
            bad = self.path.with_name(self.path.name + ".bad")
            print(f"llm4all: {self.path} is not valid ({getattr(e, 'message', e)}); moved to {bad}, using the "
                  "default settings", file=sys.stderr)
            _unlink_quietly(str(bad))
            try:
                os.replace(self.path, bad)
            except OSError:
                pass
            return copy.deepcopy(DEFAULTS)

    def get(self) -> Dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.values)

    def update(self, patch: Any, installed: Callable[[], Any]) -> Dict[str, Any]:
        """Validates and applies patch, stores the result; returns the full settings."""
        with self._lock:
            values = validate(self.values, patch, installed)
            write_atomic(self.path, json.dumps(values, indent=1, sort_keys=True) + "\n")
            self.values = values
            return copy.deepcopy(values)

    def load_options(self) -> Dict[str, Any]:
        """threads, device, gpu_layers, n_ctx (None / "auto" / -1: automatic)."""
        with self._lock:
            return {k: self.values[k] for k in LOAD_KEYS}
