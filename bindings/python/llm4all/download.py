"""Downloads of model files over HTTP(S) that survive flaky connections (`llm4all pull`).

A file is fetched into `<final>.part`, resumed with a Range request after a dropped
connection (in this run or a later one), retried with backoff, and taken from the next
source when one fails; its sha256 is checked before the atomic rename, so the final name
only ever holds a verified file. A lock file makes two processes pulling the same file
download it once. httpx does the HTTP (and honours HTTPS_PROXY / NO_PROXY).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence, Union

from . import oslayer

__all__ = ["PullError", "OfflineError", "ProgressFn", "is_offline", "download", "hash_file", "locked",
           "check_disk_space", "Progress"]

# progress(done_bytes, total_bytes_or_0)
ProgressFn = Callable[[int, int], None]


class PullError(RuntimeError):
    """A model could not be fetched or did not verify."""


class OfflineError(PullError):
    """Offline mode (LLM4ALL_OFFLINE=1 / --offline) and the file is not in the cache."""


def is_offline() -> bool:
    """True when LLM4ALL_OFFLINE asks that nothing touches the network."""
    return os.environ.get("LLM4ALL_OFFLINE", "").strip().lower() not in ("", "0", "false", "no", "off")


class Progress:
    """A progress bar on stderr with speed and ETA: redraws in place on a terminal and
    prints a line now and then otherwise, so logs stay readable. A callable given as
    `callback` gets (done, total) on every update instead of (or with) the bar."""

    def __init__(self, total: int, label: str, enabled: bool, callback: Optional[ProgressFn] = None) -> None:
        self.total, self.label, self.name, self.enabled = total, label, label, enabled
        self.callback = callback
        self.done = 0
        self.start = time.monotonic()
        self.start_done = 0  # bytes already there (a resumed .part) do not count in the speed
        self.last = 0.0
        self.last_line = time.monotonic()
        self.tty = enabled and sys.stderr.isatty()

    def resume_from(self, done: int) -> None:
        self.done = self.start_done = done
        self.start = time.monotonic()

    def update(self, n: int) -> None:
        self.done += n
        if self.callback is not None:
            self.callback(self.done, self.total)
        now = time.monotonic()
        if self.tty and (now - self.last > 0.2 or self.done >= self.total):
            self.last = now
            self._draw("\r")
        elif self.enabled and not self.tty and now - self.last_line > 10:
            self.last_line = now
            self._draw("", newline=True)

    def part(self, i: int, n: int) -> None:
        """Shows which part is downloading (pip is silent while it fetches)."""
        if n > 1:
            self.label = f"{self.name} {i}/{n}"
        if self.tty:
            self._draw("\r")

    def note(self, text: str) -> None:
        if self.enabled and not self.tty:
            print(f"{self.name}: {text}", file=sys.stderr, flush=True)
        elif self.tty:
            sys.stderr.write(f"\r\x1b[K{self.name}: {text}\n")
            sys.stderr.flush()

    def _draw(self, lead: str, newline: bool = False) -> None:
        frac = min(1.0, self.done / self.total) if self.total else 0.0
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        elapsed = max(1e-6, time.monotonic() - self.start)
        rate = (self.done - self.start_done) / elapsed
        if self.total and rate > 0 and self.done < self.total:
            left = (self.total - self.done) / rate
            eta = f"ETA {int(left // 3600)}:{int(left % 3600 // 60):02d}:{int(left % 60):02d}"
        else:
            eta = "ETA -:--:--" if self.done < self.total else "done"
        sys.stderr.write(f"{lead}{self.label} [{bar}] {frac * 100:5.1f}% "
                         f"{self.done / 1e6:7.1f}/{self.total / 1e6:.1f} MB {rate / 1e6:6.1f} MB/s {eta}"
                         + ("\n" if newline else ""))
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            self._draw("\r")
            sys.stderr.write("\n")
            sys.stderr.flush()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Serialises fetches of one file between processes (flock on POSIX, msvcrt.locking on
    Windows: oslayer.locked)."""
    with oslayer.locked(path):
        yield


def hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# Room kept free beyond the file itself, so a download never fills the disk to the last byte.
DISK_MARGIN = 64 << 20


def check_disk_space(folder: Path, needed: int, what: str) -> None:
    """Raises PullError before a download when folder's disk lacks needed bytes (+ a margin)."""
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if needed + DISK_MARGIN > free:
        raise PullError(f"{what}: needs {needed / 1e6:.0f} MB more on {folder} but only {free / 1e6:.0f} MB "
                        f"are free (keeping {DISK_MARGIN >> 20} MB spare); free some space or set "
                        f"LLM4ALL_CACHE to a folder on another disk")


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _already_there(final: Path, sha256: Optional[str], size: Optional[int]) -> bool:
    """True when final holds the expected file (the stamp written after verification, or a re-hash)."""
    try:
        st = final.stat()
    except OSError:
        return False
    if size is not None and st.st_size != size:
        return False
    if sha256 is None:
        return _stamp(final).exists()
    try:
        if _stamp(final).read_text().strip() == sha256:
            return True
    except OSError:
        pass
    if hash_file(final) == sha256:
        _stamp(final).write_text(sha256 + "\n")
        return True
    return False


def _env_number(name: str, default: float) -> float:
    try:
        return float(os.environ[name])
    except (KeyError, ValueError):
        return default


def _drop_unverified(final: Path) -> None:
    """Removes a file under the final name that did not verify (left by something else, or
    corrupted since), so that name never holds wrong bytes while the right ones come."""
    if final.is_file():
        final.unlink()
    _stamp(final).unlink(missing_ok=True)


class _SourceFailed(Exception):
    """This source cannot give the file (404, wrong bytes, out of retries): try the next one."""


class _Retry(Exception):
    """A transient failure (dropped connection, 429, 5xx, stall): try this source again."""

    def __init__(self, message: str, wait: Optional[float] = None) -> None:
        super().__init__(message)
        self.wait = wait


def _retry_after(value: Optional[str]) -> Optional[float]:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _attempt(client, url: str, part: Path, size: Optional[int], bar: Progress, what: str) -> int:
    """One GET of url, appended to part from its current length (Range); returns the total
    length the server announced (0 when unknown). Raises _Retry / _SourceFailed."""
    import httpx
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()  # longer than the file can be: not ours
        have = 0
    if size is not None and have == size:
        return size  # complete from an earlier run: only the hash is left
    # identity: byte ranges must count bytes of the file itself, not of a compressed transfer.
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        with client.stream("GET", url, headers=headers) as r:
            if r.status_code == 416 and have:
                # Nothing past what we have: complete if the server's length agrees, else start over.
                total = r.headers.get("content-range", "").rpartition("/")[2]
                if total.isdigit() and int(total) == have:
                    return have
                part.unlink()
                raise _Retry(f"{what}: server refused the resume range; starting over", 0)
            if r.status_code in (429, 500, 502, 503, 504):
                raise _Retry(f"{what}: HTTP {r.status_code} from {url}", _retry_after(r.headers.get("retry-after")))
            if r.status_code >= 400:
                raise _SourceFailed(f"HTTP {r.status_code} from {url}")
            total = 0
            if r.status_code == 206:
                crange = r.headers.get("content-range", "")  # bytes START-END/TOTAL
                try:
                    start = int(crange.split()[1].split("-")[0])
                    tail = crange.rpartition("/")[2]
                    total = int(tail) if tail.isdigit() else 0
                except (IndexError, ValueError):
                    raise _SourceFailed(f"bad Content-Range {crange!r} from {url}") from None
                if start != have:
                    raise _SourceFailed(f"{url} resumed at byte {start}, not {have}")
                mode = "ab"
            else:  # 200: the server sends the whole file (it ignored or did not get a Range)
                have = 0
                total = int(r.headers.get("content-length") or 0)
                mode = "wb"
            if size is not None and total and total != size:
                raise _SourceFailed(f"{url} has {total} bytes, the catalogue says {size}")
            if size is None and total:
                check_disk_space(part.parent, total - have, what)
                bar.total = total
            bar.resume_from(have)
            with open(part, mode) as f:
                try:
                    # No re-chunking: bytes buffered in a chunker would be lost on a drop.
                    for block in r.iter_bytes():
                        f.write(block)
                        bar.update(len(block))
                        if size is not None and f.tell() > size:
                            raise _SourceFailed(f"{url} sent more than {size} bytes")
                finally:
                    f.flush()
                    os.fsync(f.fileno())
            return total
    except (httpx.TransportError, httpx.DecodingError) as e:  # drops, resets, stalls (read timeout)
        raise _Retry(f"{what}: {type(e).__name__} from {url}: {e or 'connection lost'}") from None


def download(urls: Sequence[str], final: Union[str, os.PathLike], *, sha256: Optional[str] = None,
             size: Optional[int] = None, progress: Union[bool, ProgressFn] = True, label: Optional[str] = None,
             retries: Optional[int] = None, backoff: float = 1.0, timeout: Optional[float] = None,
             force: bool = False, lock: bool = True) -> Path:
    """Fetches one file from the first of urls that gives it, into final, and returns final.

    Resumes final + ".part" when it exists; a transient failure (dropped connection, HTTP 429/5xx,
    no data for `timeout` seconds) is retried up to `retries` times in a row per source, waiting
    backoff * 2**n seconds (or the server's Retry-After, capped at 60 s); a connection that
    dropped after delivering bytes is resumed at once and does not count; a hard failure (404,
    wrong size, wrong sha256) moves on to the next source. With sha256 the file is renamed
    into place only when it matches; without it, the hash is computed and stamped. progress:
    True for a bar on stderr, False for none, or a callable(done, total). retries and timeout
    default to $LLM4ALL_DOWNLOAD_RETRIES (5) and $LLM4ALL_DOWNLOAD_TIMEOUT (30 s). Ctrl-C leaves the
    .part file for the next run to resume. lock=False: the caller already holds final's lock.
    """
    import httpx
    final = Path(final)
    what = label or final.name
    timeout = timeout if timeout is not None else _env_number("LLM4ALL_DOWNLOAD_TIMEOUT", 30.0)
    retries = retries if retries is not None else int(_env_number("LLM4ALL_DOWNLOAD_RETRIES", 5))
    sha256 = sha256.lower() if sha256 else None
    if not force and _already_there(final, sha256, size):
        return final
    if is_offline():
        raise OfflineError(f"{what}: not in the cache ({final}) and offline mode is on (LLM4ALL_OFFLINE=1 or "
                           f"--offline); it would be downloaded from {urls[0] if urls else 'nowhere'}")
    if not urls:
        raise PullError(f"{what}: no source to download it from")
    part = final.with_name(final.name + ".part")
    with (locked(final.with_name(final.name + ".lock")) if lock else contextlib.nullcontext()):
        # Another process may have finished it while we waited for the lock.
        if not force and _already_there(final, sha256, size):
            return final
        _drop_unverified(final)
        if size is not None:
            have = part.stat().st_size if part.exists() else 0
            check_disk_space(final.parent, max(0, size - have), what)
        callback = progress if callable(progress) else None
        bar = Progress(size or 0, what, bool(progress) and not callable(progress), callback)
        errors: List[str] = []
        try:
            for url in urls:
                try:
                    _from_source(client_factory=lambda: httpx.Client(timeout=httpx.Timeout(timeout),
                                                                     follow_redirects=True, trust_env=True),
                                 url=url, part=part, final=final, sha256=sha256, size=size, bar=bar,
                                 what=what, retries=retries, backoff=backoff)
                    bar.note(f"saved {final}")
                    return final
                except _SourceFailed as e:
                    errors.append(str(e))
                    bar.note(f"{e}; trying the next source" if url != urls[-1] else str(e))
        finally:
            bar.close()
    hint = ""
    if errors and all(re.search(r"\b(ConnectError|ConnectTimeout) from ", e) for e in errors):
        # Nothing answered at all: most likely no network (or a proxy it needs), not a bad source.
        hint = (" (no source could be reached: check the network connection or HTTPS_PROXY; with "
                "LLM4ALL_OFFLINE=1 only models already in the cache are used)")
    raise PullError(f"{what}: every source failed: " + "; ".join(errors) + hint)


def _from_source(*, client_factory, url: str, part: Path, final: Path, sha256: Optional[str],
                 size: Optional[int], bar: Progress, what: str, retries: int, backoff: float) -> None:
    fresh_retry_done = False
    failures = 0
    resumed = part.exists() and part.stat().st_size > 0  # a .part left by an earlier run
    def length() -> int:
        return part.stat().st_size if part.exists() else 0

    with client_factory() as client:
        while True:
            before = length()
            try:
                total = _attempt(client, url, part, size, bar, what)
            except _Retry as e:
                if length() > before and e.wait is None:
                    # The connection dropped after delivering bytes: resume at once, and only
                    # failures in a row without progress count against the retries.
                    failures = 0
                    bar.note(f"{e}; resuming at byte {length()}")
                    continue
                failures += 1
                if failures > retries:
                    raise _SourceFailed(f"{e} (gave up after {retries} retries)") from None
                wait = min(60.0, e.wait if e.wait is not None else backoff * 2 ** (failures - 1))
                bar.note(f"{e}; retrying in {wait:.1f} s ({failures}/{retries})")
                time.sleep(wait)
                continue
            have = length()
            expected = size if size is not None else (total or None)
            if expected is not None and have < expected:
                # The body ended early without an error the client saw: resume.
                if have > before:
                    failures = 0
                    continue
                failures += 1
                if failures > retries:
                    raise _SourceFailed(f"{url} stopped at {have} of {expected} bytes (gave up after "
                                        f"{retries} retries)")
                time.sleep(min(60.0, backoff * 2 ** (failures - 1)))
                continue
            digest = hash_file(part)
            if sha256 is not None and digest != sha256:
                part.unlink()
                if not fresh_retry_done and (failures or resumed):
                    # A resumed file may hold bytes from an earlier, different copy: one clean try.
                    fresh_retry_done = True
                    bar.note(f"sha256 mismatch after a resume; downloading {url} again from the start")
                    continue
                raise _SourceFailed(f"{url} gave {have} bytes with sha256 {digest}, expected {sha256}; "
                                    f"discarded")
            _stamp(final).unlink(missing_ok=True)
            os.replace(part, final)
            _stamp(final).write_text(digest + "\n")
            return
