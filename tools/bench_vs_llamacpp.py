#!/usr/bin/env python3
"""llm4all against llama.cpp on the same GGUF file, thread count and machine.

Each round starts one child process per engine, in turn (A B A B ...), so machine noise
hits both alike and each child's peak RSS belongs to one engine. The llm4all child is
llm4all.bench.run_bench (what `llm4all bench` runs); the llama.cpp child drives the prebuilt llama.cpp in
the `xllamacpp` package and reads the timings llama.cpp itself reports. Prints the
median pp/tg speed, load time and peak RSS of each engine and the ratio llm4all/llama.cpp.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

SCHEMA = "llm4all-bench-vs-llamacpp/1"


# ---- shared helpers (kept here so the llama.cpp child never imports llm4all) -----------------

def _status_bytes(key: bytes) -> int:
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    if key == b"VmHWM:":
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return 0


def _spread(xs: List[float]) -> Dict[str, Any]:
    return {"median": statistics.median(xs), "mean": statistics.fmean(xs), "min": min(xs), "max": max(xs),
            "stdev": statistics.stdev(xs) if len(xs) > 1 else 0.0, "samples": xs}


def _random_tokens(rng: random.Random, n: int, n_vocab: int, first: Optional[int]) -> List[int]:
    toks = [rng.randrange(n_vocab) for _ in range(n)]
    if first is not None and first >= 0 and toks:
        toks[0] = first
    return toks


# ---- the llama.cpp child -----------------------------------------------------------------------

def llamacpp_worker(a: argparse.Namespace) -> Dict[str, Any]:
    """Loads the model in llama.cpp's server (no HTTP involved: requests are direct calls) and
    times pp and tg with llama.cpp's own timings.

    pp: a prompt of n_prompt token ids, n_predict 1, cache_prompt false, so the prompt is
        decoded from an empty cache; rate = prompt_n / prompt_ms.
    tg: a one-token prompt and n_predict n_gen+1 with ignore_eos. The first generated token
        comes from the prompt's logits, so predicted_ms covers exactly n_gen single-token
        decodes (plus llama.cpp's greedy sampling of each); rate = n_gen / predicted_ms.
    """
    import xllamacpp as xl
    rss_before = _status_bytes(b"VmRSS:")
    p = xl.CommonParams()
    p.model.path = a.model
    p.n_ctx = a.n_ctx
    p.n_batch = a.batch_size
    p.n_ubatch = a.batch_size
    p.cpuparams.n_threads = a.threads
    p.cpuparams_batch.n_threads = a.threads
    p.n_parallel = 1
    p.warmup = False         # our own warm-up below, outside the load time
    p.cache_ram_mib = 0      # no host-RAM prompt cache: it would cost RSS and time outside the figures
    p.cache_prompt = False
    p.fit_params = False     # no trial allocations to fit memory: llama-bench does not make them either
    t0 = time.perf_counter()
    srv = xl.Server(p)
    load_ms = (time.perf_counter() - t0) * 1000.0
    rng = random.Random(a.seed)

    def request(body: Dict[str, Any]) -> Dict[str, Any]:
        body = dict(body, cache_prompt=False, temperature=0.0, stream=False)
        r = srv.handle_completions(body)
        if isinstance(r, str):
            r = json.loads(r)
        if not isinstance(r, dict) or "timings" not in r:
            raise RuntimeError(f"llama.cpp request failed: {str(r)[:500]}")
        return r["timings"]

    def pp_once() -> float:
        tm = request({"prompt": _random_tokens(rng, a.n_prompt, a.n_vocab, a.bos), "n_predict": 1})
        if tm.get("cache_n", 0) != 0 or tm["prompt_n"] != a.n_prompt:
            raise RuntimeError(f"llama.cpp did not decode the whole prompt: {tm}")
        return tm["prompt_n"] / (tm["prompt_ms"] / 1000.0)

    def tg_once(n_gen: int) -> float:
        tm = request({"prompt": [a.bos if a.bos >= 0 else 0], "n_predict": n_gen + 1, "ignore_eos": True})
        if tm["predicted_n"] != n_gen + 1:
            raise RuntimeError(f"llama.cpp generated {tm['predicted_n']} tokens, not {n_gen + 1}")
        return n_gen / (tm["predicted_ms"] / 1000.0)

    if a.n_prompt:
        pp_once()
    if a.n_gen:
        tg_once(min(a.n_gen, 8))
    tests = []
    if a.n_prompt:
        tests.append({"name": f"pp{a.n_prompt}", "n_prompt": a.n_prompt, "n_gen": 0,
                      "tokens_per_s": _spread([pp_once() for _ in range(a.runs)])})
    if a.n_gen:
        tests.append({"name": f"tg{a.n_gen}", "n_prompt": 1, "n_gen": a.n_gen,
                      "tokens_per_s": _spread([tg_once(a.n_gen) for _ in range(a.runs)])})
    return {"engine": "llama.cpp", "engine_version": f"xllamacpp {getattr(xl, '__version__', '?')}",
            "model": a.model, "threads": a.threads, "n_batch": a.batch_size, "n_ctx": a.n_ctx,
            "runs": a.runs, "system_info": xl.get_system_info().strip(), "load_ms": load_ms,
            "rss_before_load_bytes": rss_before, "peak_rss_bytes": _status_bytes(b"VmHWM:"), "tests": tests}


# ---- the parent ----------------------------------------------------------------------------------

def _resolve(model: str) -> str:
    from llm4all.catalog import resolve_model
    return os.fspath(resolve_model(model, allow_download=False))


def _vocab_facts(path: str) -> Dict[str, int]:
    from llm4all import _core
    m = _core.Model(path)
    return {"n_vocab": m.n_vocab, "bos": m.bos}


def cpu_pressure() -> Optional[float]:
    """Share of the last 10 s in which some runnable task waited for a CPU (Linux PSI), as a
    percentage: a record of how busy the machine was while a child ran."""
    try:
        with open("/proc/pressure/cpu", encoding="ascii") as f:
            for part in f.readline().split():
                if part.startswith("avg10="):
                    return float(part[6:])
    except (OSError, ValueError):
        pass
    return None


def _child(cmd: List[str], timeout: float) -> Dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.json")
        proc = subprocess.run(cmd + ["--out", out], capture_output=True, timeout=timeout)
        if proc.returncode != 0 or not os.path.exists(out):
            err = proc.stderr.decode("utf-8", "replace")[-3000:]
            raise RuntimeError(f"{' '.join(cmd[:4])} ... failed (exit {proc.returncode}):\n{err}")
        with open(out, encoding="utf-8") as f:
            return json.load(f)


def compare(path: str, a: argparse.Namespace) -> Dict[str, Any]:
    facts = _vocab_facts(path)
    n_ctx = a.n_prompt + a.n_gen + 2
    # Both engines get the same KV cache size: room for the pp prompt plus one token, or
    # for the one-token tg prompt, n_gen decodes and the last sampled token.
    common = ["-t", str(a.threads), "-r", str(a.reps_per_child), "-p", str(a.n_prompt), "-n", str(a.n_gen),
              "-b", str(a.batch_size), "--n-ctx", str(n_ctx)]
    engines = {
        "llm4all": [sys.executable, os.path.abspath(__file__), "--worker", "llm4all", path, *common],
        "llama.cpp": [sys.executable, os.path.abspath(__file__), "--worker", "llama.cpp", path, *common,
                      "--n-vocab", str(facts["n_vocab"]), "--bos", str(facts["bos"])],
    }
    reports: Dict[str, List[Dict[str, Any]]] = {k: [] for k in engines}
    for rnd in range(a.runs):
        for name, cmd in engines.items():
            seed = ["--seed", str(a.seed + rnd)]
            rep = _child(cmd + seed, a.timeout)
            rep["cpu_pressure_avg10_after"] = cpu_pressure()
            reports[name].append(rep)
            if not a.quiet:  # progress goes to stderr, never into the --json output
                figs = ", ".join(f"{t['name']} {t['tokens_per_s']['median']:.1f} t/s" for t in rep["tests"])
                print(f"  round {rnd + 1}/{a.runs} {name:<9}: {figs}, load {rep['load_ms']:.0f} ms, "
                      f"peak RSS {rep['peak_rss_bytes'] / 2**20:.0f} MiB, CPU pressure "
                      f"{rep['cpu_pressure_avg10_after']}%", file=sys.stderr, flush=True)

    result: Dict[str, Any] = {"model": path, "threads": a.threads, "rounds": a.runs,
                              "reps_per_child": a.reps_per_child, "engines": {}, "ratio_llm4all_over_llamacpp": {}}
    for name, reps in reports.items():
        figs: Dict[str, Any] = {}
        for t in reps[0]["tests"]:
            samples = [s for r in reps for tt in r["tests"] if tt["name"] == t["name"]
                       for s in tt["tokens_per_s"]["samples"]]
            figs[t["name"]] = _spread(samples)
        figs["load_ms"] = _spread([r["load_ms"] for r in reps])
        figs["peak_rss_bytes"] = _spread([float(r["peak_rss_bytes"]) for r in reps])
        figs["rss_before_load_bytes"] = _spread([float(r.get("rss_before_load_bytes", 0)) for r in reps])
        extra = {k: reps[0].get(k) for k in ("backend", "system_info", "engine_version") if reps[0].get(k)}
        extra["cpu_pressure_avg10"] = [r.get("cpu_pressure_avg10_after") for r in reps]
        result["engines"][name] = {**figs, **extra}
    mine, theirs = result["engines"]["llm4all"], result["engines"]["llama.cpp"]
    for key in mine:
        if isinstance(mine[key], dict) and key in theirs and theirs[key]["median"]:
            result["ratio_llm4all_over_llamacpp"][key] = mine[key]["median"] / theirs[key]["median"]
    return result


def format_result(r: Dict[str, Any]) -> str:
    mine, theirs, ratio = r["engines"]["llm4all"], r["engines"]["llama.cpp"], r["ratio_llm4all_over_llamacpp"]
    lines = [f"{r['model']}: {r['threads']} threads, {r['rounds']} interleaved rounds x {r['reps_per_child']} "
             f"runs per child (median, min..max)",
             f"{'figure':<16}{'llm4all':>26}{'llama.cpp':>26}{'llm4all/llama.cpp':>20}"]

    def cell(s: Dict[str, Any], scale: float, fmt: str) -> str:
        return f"{s['median'] / scale:{fmt}} ({s['min'] / scale:{fmt}}..{s['max'] / scale:{fmt}})"

    for key, label, scale, fmt in [(k, f"{k} t/s", 1.0, ".1f") for k in mine if k.startswith(("pp", "tg"))] + [
            ("load_ms", "load ms", 1.0, ".0f"), ("peak_rss_bytes", "peak RSS MiB", 2**20, ".0f")]:
        if key in mine and key in theirs:
            lines.append(f"{label:<16}{cell(mine[key], scale, fmt):>26}{cell(theirs[key], scale, fmt):>26}"
                         f"{ratio.get(key, float('nan')):>20.3f}")
    lines.append("(speed ratios above 1 mean llm4all is faster; load and RSS ratios below 1 mean it is lighter)")
    press = [x for e in r["engines"].values() for x in e.get("cpu_pressure_avg10", []) if x is not None]
    if press:
        lines.append(f"CPU pressure (PSI some avg10) after each child: {min(press):.0f}..{max(press):.0f}% "
                     "- above a few % the machine was shared and the figures are noisy")
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["smollm2"], help="catalogue names or .gguf paths")
    ap.add_argument("-t", "--threads", type=int, default=None, help="threads for both engines (default: all CPUs)")
    ap.add_argument("-r", "--runs", type=int, default=5, help="interleaved rounds, one child per engine each")
    ap.add_argument("--reps-per-child", type=int, default=1, help="pp and tg runs inside each child (default 1)")
    ap.add_argument("-p", "--n-prompt", type=int, default=512)
    ap.add_argument("-n", "--n-gen", type=int, default=128)
    ap.add_argument("-b", "--batch-size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per child")
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    ap.add_argument("-q", "--quiet", action="store_true", help="no per-round progress on stderr")
    # Internal: run one engine once and write its report to --out.
    ap.add_argument("--worker", choices=["llm4all", "llama.cpp"], help=argparse.SUPPRESS)
    ap.add_argument("model", nargs="?", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--n-vocab", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--bos", type=int, default=-1, help=argparse.SUPPRESS)
    ap.add_argument("--n-ctx", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.threads is None:
        a.threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if a.runs < 1 or a.reps_per_child < 1 or a.threads < 1:
        ap.error("--runs, --reps-per-child and --threads must be at least 1")

    if a.worker:
        # In a child, --runs is the number of pp and tg runs it makes (the parent's --reps-per-child).
        if a.worker == "llama.cpp":
            rep = llamacpp_worker(a)
        else:
            from llm4all.bench import run_bench
            rep = run_bench(a.model, a.threads, runs=a.runs, n_prompt=a.n_prompt, n_gen=a.n_gen,
                            n_batch=a.batch_size, seed=a.seed, n_ctx=a.n_ctx)
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump(rep, f)
        return 0

    results = []
    for m in a.models:
        path = _resolve(m)
        if not os.path.isfile(path):
            ap.error(f"{m}: no such model file")
        results.append(compare(path, a))
        if not a.json:
            print(format_result(results[-1]))
    if a.json:
        print(json.dumps({"schema": SCHEMA, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
