"""The operating-system facts and locks the package needs, for Linux, macOS and Windows.

The Python side of core/src/platform: this process's resident and peak memory, the memory
available to a new allocation, and an exclusive lock on a file between processes. POSIX
reads /proc, getrusage and flock; Windows asks kernel32/psapi through ctypes and locks with
msvcrt. Every function has a fallback, so importing llm4all never fails for a missing
POSIX module (fcntl, resource), and each choice between implementations is a function of
its own that the tests drive on any system.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Tuple

__all__ = ["process_rss", "peak_rss", "available_memory", "locked", "lock_functions"]

IS_WINDOWS = sys.platform == "win32"


# ---- Windows structures (ctypes), defined everywhere so their layout can be checked ----

class MEMORYSTATUSEX(ctypes.Structure):
    """GlobalMemoryStatusEx's result (sysinfoapi.h); 64 bytes."""
    _fields_ = [("dwLength", ctypes.c_uint32), ("dwMemoryLoad", ctypes.c_uint32),
                ("ullTotalPhys", ctypes.c_uint64), ("ullAvailPhys", ctypes.c_uint64),
                ("ullTotalPageFile", ctypes.c_uint64), ("ullAvailPageFile", ctypes.c_uint64),
                ("ullTotalVirtual", ctypes.c_uint64), ("ullAvailVirtual", ctypes.c_uint64),
                ("ullAvailExtendedVirtual", ctypes.c_uint64)]


class PROCESS_MEMORY_COUNTERS(ctypes.Structure):
    """GetProcessMemoryInfo's result (psapi.h); 72 bytes on 64-bit Windows."""
    _fields_ = [("cb", ctypes.c_uint32), ("PageFaultCount", ctypes.c_uint32),
                ("PeakWorkingSetSize", ctypes.c_size_t), ("WorkingSetSize", ctypes.c_size_t),
                ("QuotaPeakPagedPoolUsage", ctypes.c_size_t), ("QuotaPagedPoolUsage", ctypes.c_size_t),
                ("QuotaPeakNonPagedPoolUsage", ctypes.c_size_t), ("QuotaNonPagedPoolUsage", ctypes.c_size_t),
                ("PagefileUsage", ctypes.c_size_t), ("PeakPagefileUsage", ctypes.c_size_t)]


def _windows_memory_counters() -> Optional[PROCESS_MEMORY_COUNTERS]:
    try:
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
        kernel32.GetCurrentProcess.restype = ctypes.c_void_p
        # K32GetProcessMemoryInfo: psapi's function, exported by kernel32 since Windows 7.
        kernel32.K32GetProcessMemoryInfo.argtypes = [ctypes.c_void_p, ctypes.POINTER(PROCESS_MEMORY_COUNTERS),
                                                     ctypes.c_uint32]
        counters = PROCESS_MEMORY_COUNTERS()
        counters.cb = ctypes.sizeof(counters)
        if kernel32.K32GetProcessMemoryInfo(kernel32.GetCurrentProcess(), ctypes.byref(counters), counters.cb):
            return counters
    except (AttributeError, OSError):
        pass
    return None


def _windows_memory_status() -> Optional[MEMORYSTATUSEX]:
    try:
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
        status = MEMORYSTATUSEX()
        status.dwLength = ctypes.sizeof(status)
        if kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
            return status
    except (AttributeError, OSError):
        pass
    return None


def _proc_status(key: bytes) -> Optional[int]:
    """A "Key:   123 kB" line of /proc/self/status in bytes (Linux), None elsewhere."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(key + b":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _rusage_peak() -> int:
    try:
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak) if sys.platform == "darwin" else int(peak) * 1024   # bytes on macOS, KiB on Linux
    except (ImportError, OSError, ValueError, AttributeError):
        return 0


def process_rss() -> int:
    """Resident memory of this process now, in bytes (0 when the system does not say)."""
    if IS_WINDOWS:
        c = _windows_memory_counters()
        return int(c.WorkingSetSize) if c else 0
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    # The peak so far: close to the current size for a process that has loaded nothing yet.
    return _rusage_peak()


def peak_rss() -> int:
    """This process's peak resident memory so far in bytes (VmHWM, ru_maxrss or the peak
    working set); 0 when the system does not say."""
    if IS_WINDOWS:
        c = _windows_memory_counters()
        return int(c.PeakWorkingSetSize) if c else 0
    hwm = _proc_status(b"VmHWM")
    return hwm if hwm is not None else _rusage_peak()


def current_rss() -> int:
    """VmRSS on Linux, the working set on Windows, 0 elsewhere."""
    if IS_WINDOWS:
        return process_rss()
    rss = _proc_status(b"VmRSS")
    return rss or 0


def available_memory() -> Optional[int]:
    """Bytes of memory available to a new process (Linux MemAvailable, free pages where
    that is missing, Windows' available physical memory); None when unknown."""
    if IS_WINDOWS:
        s = _windows_memory_status()
        return int(s.ullAvailPhys) if s else None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


# ---- an exclusive lock on a file between processes ----

LockFns = Tuple[Callable[[Any], None], Callable[[Any], None]]


def lock_functions(fcntl_module: Any = None, msvcrt_module: Any = None) -> Optional[LockFns]:
    """(lock, unlock) for an open file: flock where fcntl exists, else msvcrt.locking of the
    file's first byte, else None (no lock). The modules are looked up when not given."""
    if fcntl_module is None and msvcrt_module is None:
        try:
            import fcntl as fcntl_module  # type: ignore[no-redef]
        except ImportError:
            try:
                import msvcrt as msvcrt_module  # type: ignore[no-redef]
            except ImportError:
                return None
    if fcntl_module is not None:
        fc = fcntl_module
        return (lambda f: fc.flock(f.fileno(), fc.LOCK_EX), lambda f: fc.flock(f.fileno(), fc.LOCK_UN))
    ms = msvcrt_module

    def lock(f: Any) -> None:
        # LK_LOCK itself gives up after 10 tries a second apart: wait as long as flock does.
        while True:
            f.seek(0)
            try:
                ms.locking(f.fileno(), ms.LK_NBLCK, 1)
                return
            except OSError:
                time.sleep(0.2)

    def unlock(f: Any) -> None:
        f.seek(0)
        ms.locking(f.fileno(), ms.LK_UNLCK, 1)

    return lock, unlock


@contextlib.contextmanager
def locked(path: Path, functions: Optional[LockFns] = None) -> Iterator[None]:
    """Holds an exclusive lock on path (created if missing) between processes; without any
    locking module (neither fcntl nor msvcrt) it yields without one."""
    fns = functions if functions is not None else lock_functions()
    if fns is None:
        yield
        return
    lock, unlock = fns
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        lock(f)
        try:
            yield
        finally:
            unlock(f)
