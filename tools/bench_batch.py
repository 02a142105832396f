#!/usr/bin/env python3
"""Aggregate decode speed of several sequences in shared forward passes (_core.decode_batch).

Each of N sessions holds its own short prompt (different lengths, so the sequences sit at
different positions); then every step decodes one greedy token for each of them in one
decode_batch call. Reported per N: the median over rounds of the aggregate generated
tokens/s and the per-step latency, the ratio to the single-sequence rate (the
server's goal: 4 streams >= 2.5x one stream), and the process CPU time per step
(with --threads 1 the steadiest measure on a shared machine: it ignores the time
the process waits for a core). Set OPENBLAS_NUM_THREADS=1: numpy's idle BLAS
threads otherwise spin beside the engine.

    python tools/bench_batch.py [--model smollm2] [--threads 2] [--seqs 1,4,16] [--steps 32] [--rounds 3]
"""

import argparse
import statistics
import time

import numpy as np

import llm4all
from llm4all import _core

PROMPT = ("The old lighthouse keeper climbed the spiral stairs every evening, counting the steps "
          "as his father had taught him. At the top he wiped the salt from the great lens, lit "
          "the lamp and watched the beam sweep across the dark water.")


def run(model, n_seq, threads, steps, rounds, kv_type):
    ids = model.tokenize(PROMPT, add_special=True)
    rates, lat, cpu = [], [], []
    for _ in range(rounds):
        sessions = [_core.Session(model, 512, 512, threads, kv_type) for _ in range(n_seq)]
        # Prompts of 12..(12 + n_seq) tokens: every sequence at its own position.
        _core.decode_batch([(s, ids[:12 + i % (len(ids) - 12)], False) for i, s in enumerate(sessions)])
        nxt = [int(np.argmax(s.logits()[-1])) for s in sessions]
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            _core.decode_batch([(s, [t], False) for s, t in zip(sessions, nxt)])
            nxt = [int(np.argmax(s.logits()[-1])) for s in sessions]
        dt, ct = time.perf_counter() - t0, time.process_time() - c0
        rates.append(n_seq * steps / dt)
        lat.append(dt / steps * 1000)
        cpu.append(ct / steps * 1000)
    return statistics.median(rates), statistics.median(lat), statistics.median(cpu)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2", help="catalogue name or GGUF path (default smollm2)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seqs", default="1,4,16", help="comma-separated sequence counts")
    p.add_argument("--steps", type=int, default=32, help="decode steps per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--kv-type", default="f16", choices=["f16", "f32"])
    a = p.parse_args()
    path = a.model if a.model.endswith(".gguf") else str(llm4all.pull(a.model, progress=False))
    model = _core.Model(path)
    print(f"{path}, {a.threads} threads, {a.steps} steps x {a.rounds} rounds, KV {a.kv_type}")
    base = None
    for n in [int(x) for x in a.seqs.split(",")]:
        rate, ms, cpu_ms = run(model, n, a.threads, a.steps, a.rounds, a.kv_type)
        base = base or (rate if n == 1 else None)
        ratio = f"  {rate / base:.2f}x one stream" if base else ""
        print(f"{n:3d} sequences: {rate:8.1f} tok/s aggregate, {ms:7.1f} ms/step, cpu {cpu_ms:7.1f} ms/step{ratio}",
              flush=True)


if __name__ == "__main__":
    main()
