"""llm4all.oslayer: the OS facts and file locks, and the choice between the POSIX and the
Windows implementations, driven here on Linux (the Windows branch through stand-in
modules and the ctypes layouts the Windows SDK defines)."""

import ctypes
import multiprocessing
import os
import subprocess
import sys
import time
import types

import pytest

from llm4all import oslayer


def _hold_lock(path, ready, seconds):
    with oslayer.locked(path):
        ready.set()
        time.sleep(seconds)


@pytest.mark.skipif(sys.platform == "win32", reason="flock is the POSIX lock")
def test_locked_excludes_another_process(tmp_path):
    path = tmp_path / "sub" / "model.lock"
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=_hold_lock, args=(path, ready, 1.0))
    child.start()
    try:
        assert ready.wait(30), "the child never took the lock"
        start = time.monotonic()
        with oslayer.locked(path):
            waited = time.monotonic() - start
    finally:
        child.join(30)
    assert waited > 0.5, f"took the lock after {waited:.2f} s while another process held it for 1 s"
    assert path.exists()


class FakeMsvcrt(types.ModuleType):
    """msvcrt.locking as Windows behaves: LK_NBLCK raises while another holder has the byte."""
    LK_UNLCK, LK_LOCK, LK_NBLCK = 0, 1, 2

    def __init__(self, busy_tries):
        super().__init__("msvcrt")
        self.busy_tries = busy_tries
        self.calls = []

    def locking(self, fd, mode, nbytes):
        self.calls.append((mode, nbytes, os.lseek(fd, 0, os.SEEK_CUR)))
        if mode == self.LK_NBLCK and self.busy_tries > 0:
            self.busy_tries -= 1
            raise OSError(36, "Resource deadlock avoided")


def test_msvcrt_lock_waits_for_the_byte_and_unlocks_it(tmp_path):
    ms = FakeMsvcrt(busy_tries=2)
    fns = oslayer.lock_functions(msvcrt_module=ms)
    with oslayer.locked(tmp_path / "x.lock", fns):
        assert [c[0] for c in ms.calls] == [ms.LK_NBLCK] * 3, "retries until the byte is free"
    assert ms.calls[-1][0] == ms.LK_UNLCK
    assert all(nbytes == 1 and pos == 0 for _, nbytes, pos in ms.calls), "locks byte 0, whatever the file holds"


def test_lock_choice_follows_the_modules_present(monkeypatch, tmp_path):
    # No fcntl (Windows): msvcrt is used.
    ms = FakeMsvcrt(busy_tries=0)
    monkeypatch.setitem(sys.modules, "fcntl", None)
    monkeypatch.setitem(sys.modules, "msvcrt", ms)
    with oslayer.locked(tmp_path / "a.lock"):
        pass
    assert [c[0] for c in ms.calls] == [ms.LK_NBLCK, ms.LK_UNLCK]
    # Neither: no lock, and no error.
    monkeypatch.setitem(sys.modules, "msvcrt", None)
    assert oslayer.lock_functions() is None
    with oslayer.locked(tmp_path / "b.lock"):
        pass


def test_windows_structures_have_the_sdk_layout():
    # sysinfoapi.h / psapi.h on 64-bit Windows.
    if ctypes.sizeof(ctypes.c_void_p) != 8:
        pytest.skip("the sizes checked are those of 64-bit Windows")
    M, P = oslayer.MEMORYSTATUSEX, oslayer.PROCESS_MEMORY_COUNTERS
    assert ctypes.sizeof(M) == 64 and M.ullTotalPhys.offset == 8 and M.ullAvailPhys.offset == 16
    assert ctypes.sizeof(P) == 72 and P.PeakWorkingSetSize.offset == 8 and P.WorkingSetSize.offset == 16


def test_windows_branch_reads_the_kernel32_figures(monkeypatch):
    status = oslayer.MEMORYSTATUSEX(ullTotalPhys=16 << 30, ullAvailPhys=5 << 30)
    counters = oslayer.PROCESS_MEMORY_COUNTERS(PeakWorkingSetSize=300 << 20, WorkingSetSize=200 << 20)
    monkeypatch.setattr(oslayer, "IS_WINDOWS", True)
    monkeypatch.setattr(oslayer, "_windows_memory_status", lambda: status)
    monkeypatch.setattr(oslayer, "_windows_memory_counters", lambda: counters)
    assert oslayer.available_memory() == 5 << 30
    assert oslayer.process_rss() == 200 << 20 and oslayer.current_rss() == 200 << 20
    assert oslayer.peak_rss() == 300 << 20
    monkeypatch.setattr(oslayer, "_windows_memory_status", lambda: None)
    monkeypatch.setattr(oslayer, "_windows_memory_counters", lambda: None)
    assert oslayer.available_memory() is None and oslayer.process_rss() == 0 and oslayer.peak_rss() == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="compares with /proc")
def test_posix_figures_match_the_kernel():
    status = {l.split(":")[0]: int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.endswith("kB\n")}
    meminfo = {l.split(":")[0]: int(l.split()[1]) * 1024 for l in open("/proc/meminfo") if l.endswith("kB\n")}
    assert abs(oslayer.process_rss() - status["VmRSS"]) < 16 << 20
    assert oslayer.peak_rss() >= status["VmHWM"] - (16 << 20)
    assert 0 < oslayer.available_memory() <= meminfo["MemTotal"]


def test_import_needs_no_posix_only_module():
    # What Windows lacks: fcntl, resource. Importing the package and its modules that used
    # them must still work, and the figures fall back instead of failing.
    code = ("import sys; sys.modules['fcntl'] = None; sys.modules['resource'] = None\n"
            "import llm4all, llm4all.bench, llm4all.download, llm4all.memory, llm4all.catalog\n"
            "assert llm4all.oslayer.lock_functions() is None or 'msvcrt' in sys.modules\n"
            "print(llm4all.bench.peak_rss_bytes() >= 0, llm4all.memory.process_rss() >= 0)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]
