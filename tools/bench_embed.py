#!/usr/bin/env python3
"""Embedding throughput: llm4all against sentence-transformers (torch, CPU) and llama.cpp
(llama-cpp-python, embedding=True) on the same sentences, machine and thread count.

The sentences are the first N (default 1,000) of WikiText-2's test split (shared testdata
ppl/wiki.test.raw), 20-300 characters each. llm4all and llama.cpp read the same GGUF file
(the catalogue checkpoint converted by `llm4all convert`, F16 by default);
sentence-transformers reads the Hugging Face folder in float32. Each engine runs in a child
process of its own (no thread pool outlives its turn), embeds a warm-up batch, then all the
sentences in one call, timed. Prints texts/s per engine, the ratios, and the cosine of each
engine's vectors with sentence-transformers' (a fast wrong answer does not count).

    python tools/bench_embed.py [--model minilm|embgemma] [-t 2] [-n 1000] [--outtype f16]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
DEFAULT_WIKI = HERE.parent.parent / "shared" / "testdata" / "ppl" / "wiki.test.raw"


def sentences(path: Path, n: int) -> List[str]:
    """Sentences of WikiText's raw text with its tokenisation spaces undone."""
    out: List[str] = []
    for line in path.read_text(encoding="utf-8").replace("\r\n", "\n").split("\n"):
        line = line.strip()
        if not line or line.startswith("="):
            continue
        for s in re.split(r"(?<=[.!?]) (?=[A-Z])", line):
            for a, b in ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."), (" , ", ", "), (" .", "."), (" 's", "'s"),
                         (" ;", ";"), (" :", ":"), ("( ", "("), (" )", ")")):
                s = s.replace(a, b)
            if 20 <= len(s) <= 300:
                out.append(s)
                if len(out) == n:
                    return out
    return out


# ---- children: each prints one JSON line {"seconds": ..., "vectors": path} -------------------

def child_llm4all(gguf: str, texts: List[str], threads: int) -> Any:
    import llm4all
    m = llm4all.Model(gguf, n_threads=threads)
    m.embed(texts[:32])
    t0 = time.perf_counter()
    v = m.embed(texts)
    return time.perf_counter() - t0, v


def child_st(folder: str, texts: List[str], threads: int) -> Any:
    import torch
    torch.set_num_threads(threads)
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(folder, device="cpu")
    st.encode(texts[:32])
    t0 = time.perf_counter()
    v = st.encode(texts, batch_size=32, convert_to_numpy=True)
    return time.perf_counter() - t0, v.tolist()


def child_llamacpp(gguf: str, texts: List[str], threads: int) -> Any:
    from llama_cpp import Llama
    # 512-token batches (its default): faster than bigger ones here, since llama.cpp attends
    # over the whole batch with a mask.
    llm = Llama(model_path=gguf, embedding=True, n_threads=threads, n_threads_batch=threads, n_ctx=512,
                n_batch=512, n_ubatch=512, verbose=False)
    llm.embed(texts[:32])
    t0 = time.perf_counter()
    v = llm.embed(texts, normalize=True)
    return time.perf_counter() - t0, v


CHILDREN = {"llm4all": child_llm4all, "sentence-transformers": child_st, "llama.cpp": child_llamacpp}


def run_child(engine: str, source: str, texts_file: str, threads: int) -> Dict[str, Any]:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false")
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        out_path = out.name
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", engine, source, texts_file, str(threads), out_path],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
        with open(out_path) as f:
            return json.load(f)
    finally:
        os.unlink(out_path)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        engine, source, texts_file, threads, out_path = sys.argv[2:7]
        with open(texts_file) as f:
            texts = json.load(f)
        seconds, vecs = CHILDREN[engine](source, texts, int(threads))
        with open(out_path, "w") as f:
            json.dump({"seconds": seconds, "vectors": vecs}, f)
        return 0

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="minilm", help="catalogue checkpoint folder (minilm, embgemma)")
    ap.add_argument("--gguf", default=None, help="GGUF file to use (default: convert the folder)")
    ap.add_argument("--outtype", default="f16", choices=["f32", "f16", "q8_0"])
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-n", "--n-texts", type=int, default=1000)
    ap.add_argument("--wiki", default=str(DEFAULT_WIKI))
    ap.add_argument("--engines", default="llm4all,sentence-transformers,llama.cpp")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    args = ap.parse_args()

    import numpy as np
    from llm4all.catalog import cached_path, is_cached, pull

    if not is_cached(args.model):
        pull(args.model)
    folder = str(cached_path(args.model))
    texts = sentences(Path(args.wiki), args.n_texts)
    with tempfile.TemporaryDirectory() as tmp:
        gguf = args.gguf
        if gguf is None:
            from llm4all.convert import convert
            gguf = str(convert(folder, Path(tmp) / f"{args.model}-{args.outtype}.gguf", args.outtype, progress=False))
        texts_file = str(Path(tmp) / "texts.json")
        with open(texts_file, "w") as f:
            json.dump(texts, f)
        results: Dict[str, Dict[str, Any]] = {}
        for engine in args.engines.split(","):
            results[engine] = run_child(engine, folder if engine == "sentence-transformers" else gguf,
                                        texts_file, args.threads)

    ref = results.get("sentence-transformers", {}).get("vectors")
    print(f"{len(texts)} sentences (mean {sum(map(len, texts)) / len(texts):.0f} chars), model {args.model} "
          f"(Hugging Face float32 for sentence-transformers, {Path(gguf).name} for the others), "
          f"{args.threads} threads")
    summary: Dict[str, Any] = {"model": args.model, "n_texts": len(texts), "threads": args.threads,
                               "gguf": Path(gguf).name, "engines": {}}
    for engine, r in results.items():
        if "error" in r:
            print(f"  {engine:22s} failed: {r['error']}")
            summary["engines"][engine] = {"error": r["error"]}
            continue
        rate = len(texts) / r["seconds"]
        line = f"  {engine:22s} {rate:8.1f} texts/s  ({r['seconds']:.2f} s)"
        entry: Dict[str, Any] = {"texts_per_s": rate, "seconds": r["seconds"]}
        if ref is not None and engine != "sentence-transformers":
            a, b = np.array(r["vectors"], dtype=np.float64), np.array(ref, dtype=np.float64)
            cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
            line += f"  min cosine vs sentence-transformers {cos.min():.6f}"
            entry["min_cosine"] = float(cos.min())
        print(line)
        summary["engines"][engine] = entry
    ours = summary["engines"].get("llm4all", {}).get("texts_per_s")
    for engine, e in summary["engines"].items():
        if engine != "llm4all" and ours and "texts_per_s" in e:
            print(f"  llm4all / {engine}: {ours / e['texts_per_s']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
