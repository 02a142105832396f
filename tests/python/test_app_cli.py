"""`llm4all app`: starts the on-demand server on a free loopback port, prints
"llm4all app: http://127.0.0.1:PORT/" once it answers, and opens that address in the browser
(Python's webbrowser, which runs $BROWSER here: a script that writes down what it was given)
unless --no-browser.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import pytest

pytest.importorskip("fastapi")

LINE = re.compile(r"llm4all app: (http://127\.0\.0\.1:(\d+)/)$")


def _start(tmp_path, *args, env=None):
    full = dict(os.environ, LLM4ALL_CACHE=str(tmp_path / "cache"), LLM4ALL_CONFIG_DIR=str(tmp_path / "cfg"),
                LLM4ALL_DATA_DIR=str(tmp_path / "data"), PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.Popen([sys.executable, "-m", "llm4all", "app", "--log-level", "warning", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=full,
                            cwd=tempfile.gettempdir())


def _address(proc, timeout=60.0):
    """The address the app printed (read on a thread, so a silent app fails the test in time)."""
    lines = []
    found = []

    def read():
        for line in proc.stdout:
            lines.append(line)
            m = LINE.match(line.strip())
            if m:
                found.append(m.group(1))
                return

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(timeout)
    assert found, f"no address line within {timeout:.0f} s; output:\n{''.join(lines)}"
    return found[0]


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def test_app_prints_its_address_and_serves(tmp_path):
    proc = _start(tmp_path, "--no-browser", "--port", "0")
    try:
        url = _address(proc)
        with urllib.request.urlopen(url + "health", timeout=10) as r:
            assert r.status == 200
        with urllib.request.urlopen(url + "api/settings", timeout=10) as r:
            assert r.status == 200
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200 and "text/html" in r.headers["content-type"]
    finally:
        _stop(proc)


def test_app_opens_the_browser_at_its_address(tmp_path):
    seen = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f"#!/bin/sh\necho \"$1\" >> '{seen}'\n")
    browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
    proc = _start(tmp_path, env={"BROWSER": f"{browser} %s", "DISPLAY": ""})
    try:
        url = _address(proc)
        deadline = time.monotonic() + 20
        while not seen.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert seen.read_text().split() == [url]
    finally:
        _stop(proc)


def test_app_refuses_a_model_argument(tmp_path):
    r = subprocess.run([sys.executable, "-m", "llm4all", "app", "model.gguf"], capture_output=True, text=True,
                       timeout=60, cwd=tempfile.gettempdir())
    assert r.returncode == 2 and "unrecognized arguments: model.gguf" in r.stderr
