"""A live `llm4all serve` for tests: `python -m llm4all serve MODEL ...` in a subprocess on a
free port, started, waited for (/health answers 200) and stopped by a context manager.

    with live_server(model_path, "--parallel", "2") as srv:
        srv            # "http://127.0.0.1:PORT" (a str)
        srv.api        # "http://127.0.0.1:PORT/v1", what OpenAI clients take as base_url
        srv.proc       # the subprocess.Popen (srv.rss_kb() reads its resident memory)
        srv.log()      # what it printed so far
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Union


class LiveServer(str):
    """The server's base URL, with the process and its log attached."""

    proc: subprocess.Popen
    port: int
    log_path: Path

    @property
    def api(self) -> str:
        return self + "/v1"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def rss_kb(self) -> int:
        """Resident memory of the server process in KiB (VmRSS)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        code = self.proc.poll()
        raise RuntimeError(f"the server process has exited (code {code})" if code is not None
                           else "no VmRSS line in /proc/PID/status")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _healthy(url: str, headers: Dict[str, str]) -> bool:
    try:
        with urllib.request.urlopen(urllib.request.Request(url + "/health", headers=headers), timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()        # uvicorn shuts down gracefully on SIGTERM
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@contextmanager
def live_server(model: Union[str, os.PathLike, None], *args: str, host: str = "127.0.0.1", timeout: float = 180.0,
                env: Optional[Dict[str, str]] = None, python: str = sys.executable,
                tries: int = 3) -> Iterator[LiveServer]:
    """Starts `llm4all serve model *args` (no MODEL when model is None: every installed model
    on demand) on a free port and yields its LiveServer; the server
    is stopped (SIGTERM, then SIGKILL) on exit. Raises RuntimeError with the server's output
    when it exits or does not become healthy within timeout seconds."""
    full_env = dict(os.environ)
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    full_env.update(env or {})
    # The app's settings (PUT /api/settings, which the page uses) go to a folder of this server's
    # own, not the user's ~/.config/llm4all, unless the caller names one.
    own_config = None
    if "LLM4ALL_CONFIG_DIR" not in full_env:
        own_config = tempfile.mkdtemp(prefix="llm4all-config-")
        full_env["LLM4ALL_CONFIG_DIR"] = own_config
    try:
        yield from _serve(model, args, host, timeout, full_env, python, tries)
    finally:
        if own_config:
            shutil.rmtree(own_config, ignore_errors=True)


def _serve(model, args, host, timeout, full_env, python, tries) -> Iterator[LiveServer]:
    for attempt in range(tries):
        port = free_port(host)
        log = tempfile.NamedTemporaryFile(prefix="llm4all-serve-", suffix=".log", delete=False)
        cmd = [python, "-m", "llm4all", "serve", *([] if model is None else [os.fspath(model)]), "--host", host,
               "--port", str(port), "--log-level", "warning", *args]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=tempfile.gettempdir())
        url = f"http://{host}:{port}"
        srv = LiveServer(url)
        srv.proc, srv.port, srv.log_path = proc, port, Path(log.name)
        log.close()
        deadline = time.monotonic() + timeout
        try:
            while not _healthy(url, {}):
                if proc.poll() is not None:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"llm4all serve did not answer /health within {timeout:.0f} s:\n{srv.log()}")
                time.sleep(0.1)
            if proc.poll() is not None:
                out = srv.log()
                if "address already in use" in out.lower() and attempt + 1 < tries:
                    continue     # someone took the port between free_port() and the bind
                raise RuntimeError(f"llm4all serve exited with status {proc.returncode}:\n{out}")
            yield srv
            return
        finally:
            _stop(proc)
            if proc.returncode is not None and not os.environ.get("LLM4ALL_KEEP_SERVER_LOGS"):
                try:
                    os.unlink(log.name)
                except OSError:
                    pass


def run_cli(*args: str, timeout: float = 60.0, python: str = sys.executable,
            env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """`python -m llm4all ARGS` to completion (for commands expected to exit, e.g. a refused bind)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([python, "-m", "llm4all", *args], capture_output=True, text=True, timeout=timeout,
                          env=full_env, cwd=tempfile.gettempdir())


__all__: Sequence[str] = ["LiveServer", "live_server", "free_port", "run_cli"]
