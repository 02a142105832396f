"""Streaming: run an engine call on a worker thread and yield its pieces.

The engine runs with the GIL released and hands each piece to a queue; closing
the generator (or Ctrl-C in the consumer) asks the engine to stop through the
session's abort, so even a long prompt evaluation ends at the next batch.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator, Optional


def stream(run: Callable[[Callable[[str, int], bool]], Any], abort: Callable[[], None],
           on_done: Callable[[Any], None],
           callback: Optional[Callable[[int, str], Optional[bool]]] = None) -> Iterator[str]:
    """run(on_piece) performs the engine call (on_piece(piece, token) -> keep going);
    on_done(result) receives its return value; callback(token, piece) is GPT4All's."""
    q: "queue.Queue[tuple]" = queue.Queue()
    stop = threading.Event()

    def on_piece(piece: str, token: int) -> bool:
        if stop.is_set():
            return False
        if callback is not None and callback(token, piece) is False:
            return False
        q.put(("piece", piece))
        return True

    def work() -> None:
        try:
            on_done(run(on_piece))
            q.put(("done", None))
        except BaseException as e:  # handed to the consumer, raised there
            q.put(("error", e))

    worker = threading.Thread(target=work, name="llm4all-generate", daemon=True)

    def pieces() -> Iterator[str]:
        worker.start()
        try:
            while True:
                kind, value = q.get()
                if kind == "piece":
                    if value:
                        yield value
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            if worker.is_alive():
                stop.set()
                abort()
            worker.join()

    return pieces()


def gpt4all_callback(callback: Optional[Callable[[int, str], Optional[bool]]]):
    """GPT4All's callback(token_id, piece) as the engine's on_piece(piece, token)."""
    if callback is None:
        return None

    def cb(piece: str, token: int) -> Optional[bool]:
        return callback(token, piece)

    return cb
