"""Sampling arguments shared by Model.generate, Model.chat and ChatSession.send.

The defaults are not written here: they come from the C ABI's options init
(llm4all_generate_options_init), the one place they live. This module only
checks Python values so that a bad one gives a clear error naming the argument.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence, Union

from . import _core

# float32 values in C: rounded so that 0.7 reads as 0.7.
DEFAULTS: Dict[str, Any] = {k: round(v, 6) if isinstance(v, float) else v for k, v in _core.generate_defaults().items()}
_INT32 = (-(2 ** 31), 2 ** 31 - 1)


def _int(name: str, v: Any, lo: int, hi: int = _INT32[1]) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise TypeError(f"{name} must be an integer, not {type(v).__name__}")
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {v}")
    return v


def _float(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(v).__name__}")
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"{name} must be a finite number, got {v}")
    return f


def seed_arg(seed: Optional[int]) -> int:
    """None or -1: a fresh random seed per call (llama.cpp's --seed -1)."""
    if seed is None or (isinstance(seed, int) and not isinstance(seed, bool) and seed == -1):
        return _core.SEED_RANDOM
    s = _int("seed", seed, 0, 2 ** 64 - 2)
    return s


def sampling_args(max_tokens: Optional[int] = None, temp: Optional[float] = None, top_k: Optional[int] = None,
                  top_p: Optional[float] = None, min_p: Optional[float] = None,
                  repeat_penalty: Optional[float] = None, repeat_last_n: Optional[int] = None,
                  seed: Optional[int] = None, stop: Union[str, Sequence[str], None] = None,
                  presence_penalty: Optional[float] = None, frequency_penalty: Optional[float] = None) -> Dict[str, Any]:
    """Keyword arguments for the _core calls, defaults filled from the C ABI."""
    d = DEFAULTS
    out: Dict[str, Any] = {
        "max_tokens": _int("max_tokens", d["max_tokens"] if max_tokens is None else max_tokens, 0),
        "temp": _float("temp", d["temp"] if temp is None else temp),
        "top_k": _int("top_k", d["top_k"] if top_k is None else top_k, _INT32[0]),
        "top_p": _float("top_p", d["top_p"] if top_p is None else top_p),
        "min_p": _float("min_p", d["min_p"] if min_p is None else min_p),
        "repeat_penalty": _float("repeat_penalty", d["repeat_penalty"] if repeat_penalty is None else repeat_penalty),
        "repeat_last_n": _int("repeat_last_n", d["repeat_last_n"] if repeat_last_n is None else repeat_last_n, 0),
        "presence_penalty": _float("presence_penalty",
                                   d["presence_penalty"] if presence_penalty is None else presence_penalty),
        "frequency_penalty": _float("frequency_penalty",
                                    d["frequency_penalty"] if frequency_penalty is None else frequency_penalty),
        "seed": seed_arg(seed),
    }
    if out["repeat_penalty"] <= 0:
        raise ValueError(f"repeat_penalty must be > 0, got {repeat_penalty}")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else list(stop)
        for s in stops:
            if not isinstance(s, str):
                raise TypeError(f"stop strings must be str, not {type(s).__name__}")
        out["stop"] = stops
    return out
