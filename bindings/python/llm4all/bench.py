"""`llm4all bench MODEL`: prompt and generation speed measured the way llama-bench does.

pp512 decodes a 512-token prompt into an empty KV cache (n_batch 512); tg128 makes 128
single-token decodes after a one-token prompt. Both drive the C ABI directly
(Session.decode/truncate) with random valid token ids from a fixed seed, so neither
sampling nor Python per-token work shows in the figures. Reports the median and spread
of several runs, load time, peak RSS, model size and parameter count, as text or JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

from . import oslayer

SCHEMA = "llm4all-bench/1"


def default_threads() -> int:
    """CPUs this process may run on (what llama-bench's default amounts to on
    machines without SMT; explicit, so it can be reported)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far (VmHWM; ru_maxrss or Windows' peak
    working set as fallback)."""
    return oslayer.peak_rss()


def current_rss_bytes() -> int:
    return oslayer.current_rss()


def summarize_samples(samples: Sequence[float]) -> Dict[str, Any]:
    """Median and spread of tokens/s samples (stdev is 0 for a single sample)."""
    xs = [float(x) for x in samples]
    return {
        "median": statistics.median(xs),
        "mean": statistics.fmean(xs),
        "min": min(xs),
        "max": max(xs),
        "stdev": statistics.stdev(xs) if len(xs) > 1 else 0.0,
        "samples": xs,
    }


def model_facts(path: str) -> Dict[str, Any]:
    """File size, tensor bytes and parameter count, from the GGUF description."""
    from . import _core
    from .cli import summarize
    desc = json.loads(_core.gguf_describe(path, 0))
    info = summarize(desc, path)
    return {
        "name": info.get("name"),
        "architecture": info.get("architecture"),
        "file_size": info.get("file_size"),
        "params": info.get("parameters"),
        "tensor_types": info.get("tensor_types"),
    }


def _random_tokens(rng: random.Random, n: int, n_vocab: int, first: Optional[int]) -> List[int]:
    # llama-bench feeds uniformly random ids; BOS first, as a real prompt would start.
    toks = [rng.randrange(n_vocab) for _ in range(n)]
    if first is not None and first >= 0 and toks:
        toks[0] = first
    return toks


def run_bench(path: str, n_threads: int, runs: int = 5, n_prompt: int = 512, n_gen: int = 128,
              n_batch: int = 512, seed: int = 42, device: str = "auto", warmup: bool = True,
              n_ctx: Optional[int] = None, on_sample=None, skip_memory_check: bool = False) -> Dict[str, Any]:
    """Loads the model, then times `runs` pp and tg tests; returns the report dict."""
    from . import _core
    if runs < 1:
        raise ValueError("runs must be at least 1")
    if n_prompt < 0 or n_gen < 0 or (n_prompt == 0 and n_gen == 0):
        raise ValueError("need a positive prompt length or generation length")
    if n_batch < 1 or n_threads < 1:
        raise ValueError("n_batch and threads must be at least 1")
    rss_before = current_rss_bytes()
    need = max(n_prompt, n_gen + 1)
    n_ctx = need if n_ctx is None else n_ctx
    if n_ctx < need:
        raise ValueError(f"n_ctx {n_ctx} is smaller than the {need} tokens the tests need")
    t0 = time.perf_counter()
    model = _core.Model(path, device, skip_memory_check=skip_memory_check)
    session = _core.Session(model, n_ctx, n_batch, n_threads)
    load_s = time.perf_counter() - t0
    rng = random.Random(seed)
    n_vocab = model.n_vocab
    bos = model.bos

    def pp_once() -> float:
        toks = _random_tokens(rng, n_prompt, n_vocab, bos)
        session.truncate(0)
        t = time.perf_counter()
        session.decode(toks)
        return time.perf_counter() - t

    def tg_once() -> float:
        toks = _random_tokens(rng, n_gen, n_vocab, None)
        session.truncate(0)
        session.decode([bos if bos >= 0 else toks[0]])   # the short prompt, untimed
        decode = session.decode
        t = time.perf_counter()
        for tok in toks:
            decode([tok])
        return time.perf_counter() - t

    if warmup:
        # First touches of the mapped weights and buffer allocations belong to neither test.
        if n_prompt:
            pp_once()
        if n_gen:
            session.truncate(0)
            session.decode([bos if bos >= 0 else 0])
            for tok in _random_tokens(rng, min(n_gen, 8), n_vocab, None):
                session.decode([tok])

    tests: List[Dict[str, Any]] = []
    for name, n, once in ((f"pp{n_prompt}", n_prompt, pp_once), (f"tg{n_gen}", n_gen, tg_once)):
        if n == 0:
            continue
        rates = []
        for _ in range(runs):
            dt = once()
            rates.append(n / dt if dt > 0 else math.inf)
            if on_sample:
                on_sample(name, rates[-1])
        tests.append({"name": name, "n_prompt": n if name.startswith("pp") else 1,
                      "n_gen": 0 if name.startswith("pp") else n, "tokens_per_s": summarize_samples(rates)})

    # Read before the report's own bookkeeping (describing the file builds a JSON copy of
    # its metadata): the figure is the engine's, as in the llama.cpp child.
    peak_rss = peak_rss_bytes()
    backend = None
    try:
        backend = json.loads(model.info_json()).get("backend")
    except Exception:  # the figures matter more than this label
        pass
    from . import __version__
    return {
        "schema": SCHEMA,
        "engine": "llm4all",
        "engine_version": __version__,
        "model": os.fsdecode(path),
        **{f"model_{k}": v for k, v in model_facts(os.fsdecode(path)).items()},
        "backend": backend,
        "threads": n_threads,
        "n_batch": n_batch,
        "n_ctx": n_ctx,
        "runs": runs,
        "seed": seed,
        "load_ms": load_s * 1000.0,
        "rss_before_load_bytes": rss_before,
        "peak_rss_bytes": peak_rss,
        "tests": tests,
    }


def format_table(rep: Dict[str, Any]) -> str:
    """llama-bench-like table: one row per test, median ± stdev (min..max)."""
    size = rep.get("model_file_size") or 0
    params = rep.get("model_params") or 0
    head = (f"model: {rep['model']}\n"
            f"  {rep.get('model_architecture')}, {size / 2**20:.1f} MiB, {params / 1e6:.1f} M params, "
            f"backend {rep.get('backend') or '?'}, {rep['threads']} threads, n_batch {rep['n_batch']}, "
            f"{rep['runs']} runs\n"
            f"  load {rep['load_ms']:.0f} ms, peak RSS {rep['peak_rss_bytes'] / 2**20:.1f} MiB\n")
    rows = [f"{'test':>8} | {'t/s (median)':>12} | {'stdev':>8} | {'min':>9} | {'max':>9}"]
    rows.append("-" * len(rows[0]))
    for t in rep["tests"]:
        s = t["tokens_per_s"]
        rows.append(f"{t['name']:>8} | {s['median']:>12.2f} | {s['stdev']:>8.2f} | {s['min']:>9.2f} | {s['max']:>9.2f}")
    return head + "\n".join(rows) + "\n"


def add_parser(sub: Any) -> None:
    """Registers `bench` on the CLI's subparsers."""
    p = sub.add_parser("bench", help="prompt (pp) and generation (tg) speed, like llama-bench")
    p.add_argument("model", help="a .gguf file or a catalogue name")
    p.add_argument("-t", "--threads", type=int, default=None,
                   help=f"CPU threads (default: all CPUs available, here {default_threads()})")
    p.add_argument("-r", "--runs", type=int, default=5, help="repetitions of each test (default 5)")
    p.add_argument("-p", "--n-prompt", type=int, default=512, help="prompt tokens for pp (default 512; 0 skips)")
    p.add_argument("-n", "--n-gen", type=int, default=128, help="generated tokens for tg (default 128; 0 skips)")
    p.add_argument("-b", "--batch-size", type=int, default=512, help="prompt tokens per decode step (default 512)")
    p.add_argument("-c", "--ctx-size", type=int, default=None,
                   help="KV cache size (default: just what the tests need)")
    p.add_argument("--seed", type=int, default=42, help="seed of the random token ids (default 42)")
    p.add_argument("--device", default="auto", help='"auto", "cpu", ... (default auto)')
    p.add_argument("--no-warmup", action="store_true", help="time the first run too")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    from .cli import skip_memory_check_arg
    skip_memory_check_arg(p)
    p.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from .catalog import resolve_model
    path = os.fspath(resolve_model(args.model, allow_download=False))
    threads = args.threads if args.threads is not None else default_threads()

    def progress(name: str, rate: float) -> None:
        if not args.json:
            print(f"  {name}: {rate:.2f} t/s", file=sys.stderr, flush=True)

    rep = run_bench(path, threads, runs=args.runs, n_prompt=args.n_prompt, n_gen=args.n_gen,
                    n_batch=args.batch_size, seed=args.seed, device=args.device,
                    warmup=not args.no_warmup, n_ctx=args.ctx_size, on_sample=progress,
                    skip_memory_check=args.skip_memory_check)
    out = json.dumps(rep, indent=1) + "\n" if args.json else format_table(rep)
    sys.stdout.buffer.write(out.encode("utf-8"))
    sys.stdout.buffer.flush()
    return 0
