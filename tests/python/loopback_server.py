"""A misbehaving HTTP file server on 127.0.0.1 for the download tests (test_download.py,
test_catalog_file.py): serves byte strings with Range support and, per request, can drop the
connection after N bytes, send wrong bytes, answer 404/500/429, or stall. It counts the body
bytes it sends, and shuts itself down after a time limit even if a test forgets to."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional


class LoopbackServer:
    """files: {path: bytes}. plan: {path: [action, ...]}, one action per request in order
    (the last one repeats; none = serve normally). An action is a dict with any of:
    status (int, answered with no body), retry_after (str), drop_after (bytes of body, then
    the connection is closed), stall (seconds of silence after stall_after bytes), body
    (bytes served instead of the file), ignore_range (answer 200 with the whole file),
    chunk_delay (seconds between 16 KiB chunks)."""

    def __init__(self, lifetime: float = 120.0) -> None:
        self.files: Dict[str, bytes] = {}
        self.plan: Dict[str, List[dict]] = {}
        self.sent: Dict[str, int] = {}       # body bytes written, per path
        self.requests: List[tuple] = []      # (path, Range header or None, status)
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30  # a client that vanishes does not hold a thread forever

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                owner._serve(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.timer = threading.Timer(lifetime, self.stop)
        self.timer.daemon = True
        self.timer.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "LoopbackServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _action(self, path: str) -> dict:
        with self.lock:
            steps = self.plan.get(path) or [{}]
            act = steps[0]
            if len(steps) > 1:
                steps.pop(0)
            return act

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?")[0]
        act = self._action(path)
        rng = h.headers.get("Range")
        data: Optional[bytes] = self.files.get(path)
        status = act.get("status") or (404 if data is None else 200)
        if status != 200:
            with self.lock:
                self.requests.append((path, rng, status))
            h.send_response(status)
            if "retry_after" in act:
                h.send_header("Retry-After", act["retry_after"])
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        body = act.get("body", data)
        start = 0
        if rng and not act.get("ignore_range") and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(body):
                with self.lock:
                    self.requests.append((path, rng, 416))
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{len(body)}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            status = 206
        else:
            h.send_response(200)
        with self.lock:
            self.requests.append((path, rng, status))
        h.send_header("Content-Length", str(len(body) - start))
        h.send_header("Accept-Ranges", "bytes")
        h.end_headers()
        chunk = body[start:]
        limit = act.get("drop_after")
        stall_at = act.get("stall_after", 0) if "stall" in act else None
        pos = 0
        try:
            while pos < len(chunk):
                if stall_at is not None and pos >= stall_at:
                    time.sleep(act["stall"])
                    stall_at = None
                    return  # the client has given up by now; close
                n = 16384
                if limit is not None:
                    n = min(n, limit - pos)
                    if n <= 0:
                        break
                if stall_at is not None:
                    n = min(n, max(1, stall_at - pos))
                piece = chunk[pos:pos + n]
                h.wfile.write(piece)
                h.wfile.flush()
                pos += len(piece)
                with self.lock:
                    self.sent[path] = self.sent.get(path, 0) + len(piece)
                if act.get("chunk_delay"):
                    time.sleep(act["chunk_delay"])
        except (BrokenPipeError, ConnectionResetError):
            pass
        if limit is not None and pos < len(chunk):
            h.close_connection = True  # the rest never comes: a dropped connection
