"""A one-line progress bar with rate and ETA on stderr (redrawn at most a few times a second;
on a non-terminal, one line every few seconds so logs stay short)."""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


def _clock(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    def __init__(self, total: int, label: str, stream: Optional[TextIO] = None, enabled: bool = True) -> None:
        self.total = total
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.done = 0
        self.cached = 0
        self.t0 = time.perf_counter()
        self._shown = 0.0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, n: int = 1, cached: bool = False) -> None:
        self.done += n
        if cached:
            self.cached += n
        now = time.perf_counter()
        if self.enabled and (now - self._shown >= (0.2 if self._tty else 5.0) or self.done == self.total):
            self._shown = now
            self._draw(now)

    def rate(self) -> float:
        """Items scored per second (cached items do not count)."""
        dt = time.perf_counter() - self.t0
        return (self.done - self.cached) / dt if dt > 0 else 0.0

    def _draw(self, now: float) -> None:
        width = 24
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        rate = self.rate()
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        cached = f", {self.cached} cached" if self.cached else ""
        line = (f"{self.label} [{bar}] {self.done}/{self.total}{cached} {rate:.1f} it/s "
                f"elapsed {_clock(now - self.t0)} ETA {_clock(left)}")
        self.stream.write(("\r" + line + "\x1b[K") if self._tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._tty:
            self.stream.write("\n")
            self.stream.flush()
