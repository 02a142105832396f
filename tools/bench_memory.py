#!/usr/bin/env python3
"""Peak RSS of llm4all against llama.cpp (llama-cpp-python) on the same GGUF files, in one run.

The workload is the one people run: load the model with n_ctx 4096 (n_batch 512), decode a
512-token prompt, generate 128 tokens greedily. Each engine runs in its own child process,
A B A B ..., so each peak (VmHWM) belongs to one engine; both map the file. The llama.cpp
child uses llama-cpp-python's low-level C API (llama_decode, logits read in place), so no
Python-side logits buffer is counted against it. Prints, per model, the peak RSS of each
engine, the ratio llm4all/llama.cpp, and where each engine's memory was at each stage.

    tools/bench_memory.py --models smollm2 gemma3 qwen05 qwen15 -t 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
from typing import Any, Dict, List, Optional

from bench_vs_llamacpp import _child  # runs one engine's child process, reads its JSON report

SCHEMA = "llm4all-bench-memory/1"
STATUS_KEYS = (b"VmRSS:", b"VmHWM:", b"RssAnon:", b"RssFile:")


def _status() -> Dict[str, int]:
    """This process's memory figures from /proc/self/status, in bytes."""
    out: Dict[str, int] = {}
    with open("/proc/self/status", "rb") as f:
        for line in f:
            if line.startswith(STATUS_KEYS):
                k, v = line.split(b":", 1)
                out[k.decode()] = int(v.split()[0]) * 1024
    return out


def _prompt(a: argparse.Namespace) -> List[int]:
    """The same prompt for both engines: random ids from the parent's vocabulary facts."""
    rng = random.Random(a.seed)
    toks = [rng.randrange(a.n_vocab) for _ in range(a.n_prompt)]
    if a.bos >= 0:
        toks[0] = a.bos
    return toks


# ---- children: one engine each ---------------------------------------------------------------

def llm4all_worker(a: argparse.Namespace) -> Dict[str, Any]:
    from llm4all import _core
    stages = {"start": _status()}
    model = _core.Model(a.model, a.device)
    session = _core.Session(model, a.n_ctx, a.batch_size, a.threads)
    stages["loaded"] = _status()
    session.decode(_prompt(a))
    stages["prompt"] = _status()
    out = []
    for _ in range(a.n_gen):
        tok = int(session.logits()[-1].argmax())
        out.append(tok)
        session.decode([tok])
    stages["generated"] = _status()
    return {"engine": "llm4all", "device": a.device, "stages": stages, "generated": len(out)}


def llamacpp_worker(a: argparse.Namespace) -> Dict[str, Any]:
    import llama_cpp as L
    import numpy as np
    stages = {"start": _status()}
    L.llama_backend_init()
    mp = L.llama_model_default_params()
    model = L.llama_model_load_from_file(a.model.encode(), mp)
    if not model:
        raise RuntimeError(f"llama.cpp could not load {a.model}")
    cp = L.llama_context_default_params()
    cp.n_ctx = a.n_ctx
    cp.n_batch = cp.n_ubatch = a.batch_size
    cp.n_threads = cp.n_threads_batch = a.threads
    ctx = L.llama_init_from_model(model, cp)
    if not ctx:
        raise RuntimeError("llama.cpp could not create a context")
    vocab = L.llama_model_get_vocab(model)
    n_vocab = L.llama_vocab_n_tokens(vocab)
    stages["loaded"] = _status()

    def decode(toks: List[int]) -> None:
        for i in range(0, len(toks), a.batch_size):
            part = toks[i:i + a.batch_size]
            arr = (L.llama_token * len(part))(*part)
            if L.llama_decode(ctx, L.llama_batch_get_one(arr, len(part))) != 0:
                raise RuntimeError("llama_decode failed")

    decode(_prompt(a))
    stages["prompt"] = _status()
    out = []
    for _ in range(a.n_gen):
        logits = np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
        tok = int(logits.argmax())
        out.append(tok)
        decode([tok])
    stages["generated"] = _status()
    return {"engine": "llama.cpp", "engine_version": f"llama-cpp-python {L.__version__}", "stages": stages,
            "generated": len(out)}


# ---- the parent ------------------------------------------------------------------------------

def _vocab_facts(path: str) -> List[str]:
    from llm4all import _core
    m = _core.Model(path, "cpu")
    return ["--n-vocab", str(m.n_vocab), "--bos", str(m.bos)]


def compare(path: str, a: argparse.Namespace) -> Dict[str, Any]:
    common = [sys.executable, os.path.abspath(__file__), path, "-t", str(a.threads), "--n-ctx", str(a.n_ctx),
              "-b", str(a.batch_size), "-p", str(a.n_prompt), "-n", str(a.n_gen), "--seed", str(a.seed),
              *_vocab_facts(path)]
    cmds = {"llm4all": common + ["--worker", "llm4all", "--device", a.device],
            "llama.cpp": common + ["--worker", "llama.cpp"]}
    reps: Dict[str, List[Dict[str, Any]]] = {k: [] for k in cmds}
    for rnd in range(a.runs):
        for name, cmd in cmds.items():
            rep = _child(cmd, a.timeout)
            reps[name].append(rep)
            if not a.quiet:
                print(f"  {os.path.basename(path)} round {rnd + 1}/{a.runs} {name:<9}: peak RSS "
                      f"{rep['stages']['generated']['VmHWM'] / 2**20:.0f} MiB", file=sys.stderr, flush=True)
    res: Dict[str, Any] = {"model": path, "n_ctx": a.n_ctx, "n_batch": a.batch_size, "n_prompt": a.n_prompt,
                           "n_gen": a.n_gen, "threads": a.threads, "device": a.device, "engines": {}}
    for name, rs in reps.items():
        peaks = [float(r["stages"]["generated"]["VmHWM"]) for r in rs]
        stages = {s: {k: statistics.median(r["stages"][s][k] for r in rs) for k in rs[0]["stages"][s]}
                  for s in rs[0]["stages"]}
        res["engines"][name] = {"peak_rss_bytes": {"median": statistics.median(peaks), "min": min(peaks),
                                                   "max": max(peaks), "samples": peaks},
                                "stages": stages,
                                **({"engine_version": rs[0]["engine_version"]} if "engine_version" in rs[0] else {})}
    mine, theirs = res["engines"]["llm4all"], res["engines"]["llama.cpp"]
    res["ratio_llm4all_over_llamacpp"] = mine["peak_rss_bytes"]["median"] / theirs["peak_rss_bytes"]["median"]
    return res


def format_result(r: Dict[str, Any]) -> str:
    mib = 2**20
    lines = [f"{os.path.basename(r['model'])}: n_ctx {r['n_ctx']}, {r['n_prompt']}-token prompt + {r['n_gen']} "
             f"generated, {r['threads']} threads, llm4all device {r['device']}",
             f"  {'MiB (median)':<22}{'llm4all':>10}{'llama.cpp':>11}"]
    mine, theirs = r["engines"]["llm4all"], r["engines"]["llama.cpp"]
    for stage in ("start", "loaded", "prompt", "generated"):
        for key in ("VmRSS", "RssAnon", "RssFile"):
            lines.append(f"  {stage + ' ' + key:<22}{mine['stages'][stage][key] / mib:>10.0f}"
                         f"{theirs['stages'][stage][key] / mib:>11.0f}")
    lines.append(f"  {'peak RSS (VmHWM)':<22}{mine['peak_rss_bytes']['median'] / mib:>10.0f}"
                 f"{theirs['peak_rss_bytes']['median'] / mib:>11.0f}   ratio {r['ratio_llm4all_over_llamacpp']:.3f}")
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["smollm2", "gemma3", "qwen05", "qwen15"],
                    help="catalogue names or .gguf paths")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-r", "--runs", type=int, default=2, help="interleaved rounds, one child per engine each")
    ap.add_argument("--n-ctx", type=int, default=4096)
    ap.add_argument("-b", "--batch-size", type=int, default=512)
    ap.add_argument("-p", "--n-prompt", type=int, default=512)
    ap.add_argument("-n", "--n-gen", type=int, default=128)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--device", default="auto", help="llm4all's device (default: auto, what users get)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per child")
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    ap.add_argument("-q", "--quiet", action="store_true", help="no per-round progress on stderr")
    ap.add_argument("--worker", choices=["llm4all", "llama.cpp"], help=argparse.SUPPRESS)
    ap.add_argument("model", nargs="?", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--n-vocab", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--bos", type=int, default=-1, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.n_prompt + a.n_gen > a.n_ctx:
        ap.error("--n-prompt plus --n-gen must fit in --n-ctx")
    if a.worker:
        rep = llamacpp_worker(a) if a.worker == "llama.cpp" else llm4all_worker(a)
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump(rep, f)
        return 0
    from llm4all.catalog import resolve_model
    results = []
    for m in a.models:
        path = os.fspath(resolve_model(m, allow_download=False))
        if not os.path.isfile(path):
            ap.error(f"{m}: no such model file")
        results.append(compare(path, a))
        if not a.json:
            print(format_result(results[-1]), flush=True)
    if a.json:
        print(json.dumps({"schema": SCHEMA, "results": results}, indent=1))
    else:
        print("model               llm4all MiB  llama.cpp MiB  ratio")
        for r in results:
            print(f"{os.path.basename(r['model'])[:20]:<20}{r['engines']['llm4all']['peak_rss_bytes']['median'] / 2**20:>11.0f}"
                  f"{r['engines']['llama.cpp']['peak_rss_bytes']['median'] / 2**20:>15.0f}"
                  f"{r['ratio_llm4all_over_llamacpp']:>7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
