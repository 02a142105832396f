#!/usr/bin/env python3
"""`llm4all serve` against llama.cpp's server (the `xllamacpp` package) under concurrent streams.

Both servers load the same GGUF file with the same threads, parallel slots, KV cache per slot
and batch size, and get the same streamed requests (greedy, fixed seed, same prompts and
max_tokens) over HTTP. Rounds are interleaved (ours, theirs, ours, theirs ...) so machine noise
hits both alike; a warm-up pass per server is excluded. Reports medians over rounds of the
aggregate generated tokens/s (all streams' tokens, as the servers' usage counts them, over the
wall time of the burst) and of the median time to the first content chunk (TTFT; with more
streams than slots it includes the wait for a slot), each server's peak RSS, and the ratios
issue 12 sets goals for: ours(4)/ours(1) >= 2.5, ours/llama.cpp >= 1.

The llama.cpp server inherits this process's environment: the xllamacpp wheel is an OpenMP
build whose threads spin while waiting, which on a busy machine costs it most of its speed;
`OMP_WAIT_POLICY=passive python3 tools/bench_server.py ...` measures it with sleeping threads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

SCHEMA = "llm4all-bench-server/1"
OURS, THEIRS = "llm4all", "llama.cpp"

# Open-ended requests that a small instruct model answers at length, so few streams reach
# end-of-generation before max_tokens (the tokens each stream really produced are counted anyway).
PROMPTS = [
    "Write a long story about a lighthouse keeper who finds a message in a bottle.",
    "Explain in detail how a steam engine works, step by step.",
    "Describe a day in the life of a medieval blacksmith, from dawn to night.",
    "Write a detailed travel guide for a week in a city by the sea.",
    "Tell a long fairy tale about a fox, a crow and a stolen cheese.",
    "Explain how the water cycle works and why it matters for farming.",
    "Write a long letter from a sailor to his family about his first voyage.",
    "Describe how to bake bread at home, with every step explained.",
    "Write a story about two robots who learn to paint.",
    "Explain the history of the printing press and what it changed.",
    "Write a long diary entry of an astronaut on her first day in orbit.",
    "Describe the life cycle of a butterfly in detail.",
    "Write a story about a village that wakes up to find the river gone.",
    "Explain how a computer runs a program, from the keyboard to the screen.",
    "Write a long adventure story about a girl who builds a boat.",
    "Describe the four seasons in a mountain forest and the animals in each.",
]


# ---- the llama.cpp server child --------------------------------------------------------------

def llamacpp_child(a: argparse.Namespace) -> int:
    """Starts llama.cpp's HTTP server in this process, prints its address, and serves until
    stdin closes (the parent closes it to stop us)."""
    import xllamacpp as xl
    p = xl.CommonParams()
    p.model.path = a.model
    p.n_parallel = a.parallel
    # llama.cpp splits n_ctx evenly between the slots unless the KV cache is unified; ours
    # gives each slot its own n_ctx, so this is the same cache per sequence.
    p.kv_unified = False
    p.n_ctx = a.n_ctx * a.parallel
    p.n_batch = a.batch_size
    p.n_ubatch = a.batch_size
    p.cpuparams.n_threads = a.threads
    p.cpuparams_batch.n_threads = a.threads
    if a.llamacpp_poll is not None:   # how long its threads spin-wait for work (0-100; llama.cpp's default 50)
        p.cpuparams.poll = a.llamacpp_poll
        p.cpuparams_batch.poll = a.llamacpp_poll
    p.cont_batching = True
    # No host-RAM prompt cache (ours has none beyond the slots' own KV caches): it would only add RSS.
    p.cache_ram_mib = 0
    p.hostnames = ["127.0.0.1"]
    p.port = a.port
    srv = xl.Server(p)
    print(f"READY {srv.listening_address} xllamacpp {getattr(xl, '__version__', '?')}", flush=True)
    sys.stdin.read()   # until the parent closes our stdin
    del srv
    return 0


# ---- servers -----------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc_status(pid: int, key: str) -> int:
    """A /proc/PID/status figure in bytes (VmRSS, VmHWM), 0 when unreadable."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_pressure() -> Optional[float]:
    """Linux PSI: share of the last 10 s in which a runnable task waited for a CPU (percent)."""
    try:
        with open("/proc/pressure/cpu", encoding="ascii") as f:
            for part in f.readline().split():
                if part.startswith("avg10="):
                    return float(part[6:])
    except (OSError, ValueError):
        pass
    return None


def loadavg() -> Optional[float]:
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError):
        return None


@dataclass
class Server:
    name: str
    cmd: List[str]
    url: str = ""
    proc: Optional[subprocess.Popen] = None
    log_path: str = ""
    version: str = ""
    model_id: str = "bench"      # the id the server lists at /v1/models (ours checks it)
    load_s: float = 0.0
    rss_after_warmup: int = 0
    cpu_busy_s: float = 0.0      # CPU time while its own requests ran
    cpu_idle_s: float = 0.0      # CPU time while the other server was measured (should be ~0)
    idle_wall_s: float = 0.0

    def start(self, logdir: str, timeout: float) -> None:
        self.log_path = os.path.join(logdir, self.name + ".log")
        log = open(self.log_path, "wb")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        log.close()
        if self.name == THEIRS:
            line = self.proc.stdout.readline().decode("utf-8", "replace")   # "READY url version"
            if not line.startswith("READY "):
                self.fail(f"did not start (exit {self.proc.poll()})")
            _, self.url, self.version = line.strip().split(" ", 2)
        else:
            self._wait_health(timeout)
        self.load_s = time.perf_counter() - t0

    def _wait_health(self, timeout: float) -> None:
        import httpx
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.fail(f"exited with {self.proc.returncode} while starting")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.fail(f"not healthy after {timeout:.0f} s")

    def fail(self, why: str) -> None:
        tail = ""
        try:
            with open(self.log_path, "rb") as f:
                tail = f.read()[-3000:].decode("utf-8", "replace")
        except OSError:
            pass
        self.stop()
        raise RuntimeError(f"{self.name} server {why}; its log ends:\n{tail}")

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    def stop(self) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            self.proc.stdin.close()          # the llama.cpp child exits on EOF
        except OSError:
            pass
        if self.name == OURS:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ---- streamed requests -----------------------------------------------------------------------

@dataclass
class StreamResult:
    ttft_s: float = float("nan")
    latency_s: float = 0.0
    tokens: int = 0              # from usage when the server sent it, else content chunks
    prompt_tokens: int = 0       # from usage (0 when absent): both servers should see the same prompt
    chunks: int = 0
    error: str = ""


def _model_id(base_url: str, timeout: float) -> str:
    import httpx
    r = httpx.get(base_url + "/v1/models", timeout=timeout)
    r.raise_for_status()
    return r.json()["data"][0]["id"]


def _body(a: argparse.Namespace, model: str, prompt: str, max_tokens: int) -> Dict[str, Any]:
    body: Dict[str, Any] = {"model": model, "max_tokens": max_tokens, "temperature": 0.0, "seed": a.seed,
                            "stream": True, "stream_options": {"include_usage": True}}
    if a.endpoint == "chat":
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    if a.ignore_eos:
        body["ignore_eos"] = True    # a llama.cpp extension; only sent when asked for
    return body


async def _one_stream(client, url: str, body: Dict[str, Any]) -> StreamResult:
    res = StreamResult()
    t0 = time.perf_counter()
    usage_tokens = None
    try:
        async with client.stream("POST", url, json=body) as r:
            if r.status_code != 200:
                res.error = f"HTTP {r.status_code}: {(await r.aread())[:300]!r}"
                return res
            async for line in r.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if "error" in chunk:
                    res.error = str(chunk["error"])[:300]
                    break
                if chunk.get("usage"):
                    usage_tokens = chunk["usage"].get("completion_tokens")
                    res.prompt_tokens = chunk["usage"].get("prompt_tokens") or 0
                for ch in chunk.get("choices") or []:
                    text = (ch.get("delta") or {}).get("content") if "delta" in ch else ch.get("text")
                    if text:
                        if res.chunks == 0:
                            res.ttft_s = time.perf_counter() - t0
                        res.chunks += 1
    except Exception as e:  # noqa: BLE001 - a failed stream is reported, not fatal
        res.error = f"{type(e).__name__}: {e}"
    res.latency_s = time.perf_counter() - t0
    res.tokens = usage_tokens if usage_tokens is not None else res.chunks
    return res


async def _burst(base_url: str, bodies: List[Dict[str, Any]], timeout: float) -> Dict[str, Any]:
    """Sends all bodies at once as separate streams; aggregate rate = tokens / wall time."""
    import httpx
    path = "/v1/chat/completions" if "messages" in bodies[0] else "/v1/completions"
    limits = httpx.Limits(max_connections=len(bodies) + 4, max_keepalive_connections=len(bodies) + 4)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        t0 = time.perf_counter()
        results = await asyncio.gather(*(_one_stream(client, base_url + path, b) for b in bodies))
        wall = time.perf_counter() - t0
    errors = [r.error for r in results if r.error]
    tokens = sum(r.tokens for r in results)
    ttfts = [r.ttft_s for r in results if not r.error and r.chunks]
    return {"wall_s": wall, "tokens": tokens, "tokens_per_s": tokens / wall if wall > 0 else 0.0,
            "ttft_median_s": statistics.median(ttfts) if ttfts else float("nan"),
            "ttft_max_s": max(ttfts) if ttfts else float("nan"),
            "latency_median_s": statistics.median(r.latency_s for r in results),
            "tokens_per_stream": [r.tokens for r in results],
            "prompt_tokens_per_stream": [r.prompt_tokens for r in results], "errors": errors}


# ---- the benchmark -----------------------------------------------------------------------------

def _our_version(python: str) -> str:
    try:
        out = subprocess.run([python, "-c", "import llm4all; print(llm4all.__version__)"], capture_output=True,
                             text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    return f"llm4all {out or '?'}"


def _resolve(model: str) -> str:
    if os.path.isfile(model):
        return os.path.abspath(model)
    from llm4all.catalog import resolve_model
    return os.fspath(resolve_model(model, allow_download=False))


def _spread(xs: List[float]) -> Dict[str, Any]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "samples": xs}


def _progress(a: argparse.Namespace, msg: str) -> None:
    if not a.quiet:   # progress goes to stderr, never into the --json output
        print(msg, file=sys.stderr, flush=True)


def run(a: argparse.Namespace) -> Dict[str, Any]:
    path = _resolve(a.model)
    if not os.path.isfile(path):
        raise SystemExit(f"{a.model}: no such model file")
    me = os.path.abspath(__file__)
    servers: Dict[str, Server] = {}
    if OURS in a.engines:
        port = _free_port()
        cmd = [a.python, "-m", "llm4all", "serve", path, "--host", "127.0.0.1", "--port", str(port),
               "--parallel", str(a.parallel), "--n-ctx", str(a.n_ctx), "--threads", str(a.threads),
               "--log-level", "warning"]   # no access-log line per request
        servers[OURS] = Server(OURS, cmd, url=a.ours_url or f"http://127.0.0.1:{port}")
    if THEIRS in a.engines:
        cmd = [sys.executable, me, "--llamacpp-child", "--model", path, "-t", str(a.threads),
               "--parallel", str(a.parallel), "--n-ctx", str(a.n_ctx), "--batch-size", str(a.batch_size),
               "--port", str(_free_port())]
        if a.llamacpp_poll is not None:
            cmd += ["--llamacpp-poll", str(a.llamacpp_poll)]
        servers[THEIRS] = Server(THEIRS, cmd)

    results: Dict[str, Dict[int, List[Dict[str, Any]]]] = {n: {c: [] for c in a.concurrency} for n in servers}
    pressures: List[Optional[float]] = []
    load_start = loadavg()
    with tempfile.TemporaryDirectory(prefix="bench_server_") as logdir:
        try:
            for s in servers.values():
                if s.name == OURS and a.ours_url:
                    s.version = "external server"
                    continue
                if s.name == OURS:
                    s.version = _our_version(a.python)
                _progress(a, f"starting {s.name} server ...")
                s.start(logdir, a.timeout)
                _progress(a, f"  {s.name} at {s.url} ({s.load_s:.1f} s, RSS "
                             f"{_proc_status(s.pid, 'VmRSS') / 2**20:.0f} MiB)")
            for s in servers.values():   # warm-up, excluded: every slot once, short replies
                s.model_id = _model_id(s.url, a.timeout)
                n = max(a.parallel, 1)
                bodies = [_body(a, s.model_id, f"(warm-up {i}) " + PROMPTS[i % len(PROMPTS)], 16) for i in range(n)]
                w = asyncio.run(_burst(s.url, bodies, a.timeout))
                if w["errors"]:
                    raise RuntimeError(f"{s.name} warm-up failed: {w['errors'][0]}")
                s.rss_after_warmup = _proc_status(s.pid, "VmRSS") if s.pid else 0
            order = list(servers)
            for rnd in range(a.runs):
                for c in a.concurrency:
                    for s in (servers[n] for n in (order if rnd % 2 == 0 else order[::-1])):
                        # A tag unique to the round and stream keeps prompt caches from skipping
                        # the prefill (both servers reuse a slot's matching prefix).
                        bodies = [_body(a, s.model_id, f"(request {rnd}.{i}) " + PROMPTS[i % len(PROMPTS)],
                                        a.max_tokens)
                                  for i in range(c)]
                        cpu0 = {n: _cpu_seconds(x.pid) for n, x in servers.items()}
                        r = asyncio.run(_burst(s.url, bodies, a.timeout))
                        for n, x in servers.items():
                            d = _cpu_seconds(x.pid) - cpu0[n]
                            if n == s.name:
                                x.cpu_busy_s += d
                            else:
                                x.cpu_idle_s += d
                                x.idle_wall_s += r["wall_s"]
                        r["cpu_pressure_avg10"] = cpu_pressure()
                        pressures.append(r["cpu_pressure_avg10"])
                        results[s.name][c].append(r)
                        if r["errors"]:
                            raise RuntimeError(f"{s.name}: {len(r['errors'])} of {c} streams failed: {r['errors'][0]}")
                        _progress(a, f"  round {rnd + 1}/{a.runs} c={c:<3} {s.name:<9}: "
                                     f"{r['tokens_per_s']:7.1f} t/s ({r['tokens']} tokens in {r['wall_s']:.1f} s), "
                                     f"TTFT median {r['ttft_median_s'] * 1000:6.0f} ms, PSI {r['cpu_pressure_avg10']}%")
            peak = {n: _proc_status(x.pid, "VmHWM") if x.pid else 0 for n, x in servers.items()}
            final_rss = {n: _proc_status(x.pid, "VmRSS") if x.pid else 0 for n, x in servers.items()}
        finally:
            for s in servers.values():
                s.stop()

    out: Dict[str, Any] = {"schema": SCHEMA, "model": path, "threads": a.threads, "parallel": a.parallel,
                           "n_ctx_per_slot": a.n_ctx, "n_batch": a.batch_size, "max_tokens": a.max_tokens,
                           "endpoint": a.endpoint, "ignore_eos": a.ignore_eos, "rounds": a.runs,
                           "llamacpp_poll": a.llamacpp_poll,
                           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
                           "concurrency": a.concurrency, "loadavg_start": load_start, "loadavg_end": loadavg(),
                           "cpu_pressure_avg10": pressures, "engines": {}, "ratios": {}}
    for n, s in servers.items():
        e: Dict[str, Any] = {"version": s.version, "load_s": s.load_s, "peak_rss_bytes": peak[n],
                             "rss_after_warmup_bytes": s.rss_after_warmup, "rss_end_bytes": final_rss[n],
                             "cpu_busy_s": s.cpu_busy_s, "cpu_while_idle_s": s.cpu_idle_s,
                             "idle_wall_s": s.idle_wall_s, "by_concurrency": {}}
        for c in a.concurrency:
            rs = results[n][c]
            e["by_concurrency"][str(c)] = {
                "tokens_per_s": _spread([r["tokens_per_s"] for r in rs]),
                "ttft_median_s": _spread([r["ttft_median_s"] for r in rs]),
                "latency_median_s": _spread([r["latency_median_s"] for r in rs]),
                "mean_tokens_per_stream": statistics.fmean(t for r in rs for t in r["tokens_per_stream"]),
                "rounds": rs}
        out["engines"][n] = e
    if OURS in servers:
        ours = out["engines"][OURS]["by_concurrency"]
        one, four = ours.get("1"), ours.get("4")
        if one and four:
            out["ratios"]["ours_4_over_ours_1"] = four["tokens_per_s"]["median"] / one["tokens_per_s"]["median"]
        if THEIRS in servers:
            theirs = out["engines"][THEIRS]["by_concurrency"]
            for c in a.concurrency:
                k = str(c)
                out["ratios"][f"ours_over_llamacpp_tokens_per_s_c{c}"] = (
                    ours[k]["tokens_per_s"]["median"] / theirs[k]["tokens_per_s"]["median"])
                out["ratios"][f"ours_over_llamacpp_ttft_c{c}"] = (
                    ours[k]["ttft_median_s"]["median"] / theirs[k]["ttft_median_s"]["median"])
    return out


def format_result(r: Dict[str, Any]) -> str:
    names = list(r["engines"])
    lines = [f"{os.path.basename(r['model'])}: {r['threads']} threads, {r['parallel']} slots x {r['n_ctx_per_slot']} "
             f"ctx, max_tokens {r['max_tokens']} ({r['endpoint']}{', ignore_eos' if r['ignore_eos'] else ''}), "
             f"{r['rounds']} interleaved rounds: medians (min..max)"]
    head = f"{'streams':>7}"
    for n in names:
        head += f" | {n + ' t/s':>20} {n + ' TTFT ms':>20} {'tok/str':>7}"
    if len(names) == 2:
        head += f" | {'t/s ratio':>9} {'TTFT ratio':>10}"
    lines.append(head)
    for c in r["concurrency"]:
        row = f"{c:>7}"
        for n in names:
            b = r["engines"][n]["by_concurrency"][str(c)]
            t, f = b["tokens_per_s"], b["ttft_median_s"]
            row += (f" | {t['median']:7.1f} ({t['min']:5.1f}..{t['max']:5.1f})"
                    f" {f['median'] * 1e3:6.0f} ({f['min'] * 1e3:5.0f}..{f['max'] * 1e3:5.0f})"
                    f" {b['mean_tokens_per_stream']:7.1f}")
        if len(names) == 2:
            row += (f" | {r['ratios'][f'ours_over_llamacpp_tokens_per_s_c{c}']:9.3f}"
                    f" {r['ratios'][f'ours_over_llamacpp_ttft_c{c}']:10.3f}")
        lines.append(row)
    if THEIRS in names:
        lines.append(f"llama.cpp (OpenMP build) ran with OMP_WAIT_POLICY={r['omp_wait_policy'] or 'unset (spinning)'}"
                     f"{', poll ' + str(r['llamacpp_poll']) if r['llamacpp_poll'] is not None else ''}; on a "
                     "machine shared with other work its spinning threads lose most of their speed, "
                     "OMP_WAIT_POLICY=passive avoids that")
    if len(names) == 2:
        lines.append("(ratios are llm4all/llama.cpp: t/s above 1 = llm4all faster; TTFT below 1 = llm4all sooner)")
    for n in names:
        e = r["engines"][n]
        lines.append(f"{n}: {e['version']}, load {e['load_s']:.1f} s, peak RSS {e['peak_rss_bytes'] / 2**20:.0f} MiB "
                     f"(after warm-up {e['rss_after_warmup_bytes'] / 2**20:.0f}, "
                     f"end {e['rss_end_bytes'] / 2**20:.0f}), "
                     f"CPU {e['cpu_busy_s']:.0f} s busy, {e['cpu_while_idle_s']:.2f} s while idle")
    ratios = r["ratios"]
    if "ours_4_over_ours_1" in ratios:
        v = ratios["ours_4_over_ours_1"]
        lines.append(f"goal llm4all(4)/llm4all(1) >= 2.5: {v:.2f} {'met' if v >= 2.5 else 'NOT met'}")
    for c in r["concurrency"]:
        k = f"ours_over_llamacpp_tokens_per_s_c{c}"
        if k in ratios:
            lines.append(f"goal llm4all/llama.cpp >= 1 at {c} streams: {ratios[k]:.2f} "
                         f"{'met' if ratios[k] >= 1 else 'NOT met'}")
    press = [p for p in r["cpu_pressure_avg10"] if p is not None]
    lines.append(f"load average {r['loadavg_start']} at start, {r['loadavg_end']} at end; CPU pressure (PSI avg10) "
                 f"{min(press) if press else '?'}..{max(press) if press else '?'}% "
                 "(above a few % other work shared the CPUs and the figures are noisy)")
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="smollm2", help="catalogue name or .gguf path (default smollm2)")
    ap.add_argument("-t", "--threads", type=int, default=None, help="threads for both servers (default: all CPUs)")
    ap.add_argument("--parallel", type=int, default=4, help="parallel slots in both servers (default 4)")
    ap.add_argument("--n-ctx", type=int, default=1024, help="KV cache tokens per slot (default 1024)")
    ap.add_argument("-b", "--batch-size", type=int, default=512, help="llama.cpp n_batch/n_ubatch (ours: 512)")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16], help="streams at once (default 1 4 16)")
    ap.add_argument("-r", "--runs", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("-n", "--max-tokens", type=int, default=128, help="max_tokens of every request (default 128)")
    ap.add_argument("--endpoint", choices=["chat", "completions"], default="chat")
    ap.add_argument("--ignore-eos", action="store_true",
                    help="send llama.cpp's ignore_eos extension (llama.cpp honours it; llm4all ignores "
                         "unknown fields, so the token counts may then differ: see tok/str)")
    ap.add_argument("--engines", nargs="+", choices=[OURS, THEIRS], default=[OURS, THEIRS])
    ap.add_argument("--ours-url", help="benchmark an already running llm4all server at this URL instead")
    ap.add_argument("--python", default=sys.executable, help="python that runs `-m llm4all serve`")
    ap.add_argument("--llamacpp-poll", type=int, default=None, metavar="0-100",
                    help="llama.cpp's thread polling level (default: its own, 50); 0 makes its idle threads "
                         "sleep instead of spinning, which matters on a machine shared with other work")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--timeout", type=float, default=600, help="seconds for a server start or one burst")
    ap.add_argument("--json", nargs="?", const="-", metavar="FILE", help="write the results as JSON (- = stdout)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    ap.add_argument("--llamacpp-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.threads is None:
        a.threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if min([a.threads, a.parallel, a.runs, a.max_tokens, a.n_ctx] + a.concurrency) < 1:
        ap.error("--threads, --parallel, --runs, --max-tokens, --n-ctx and --concurrency must be at least 1")
    if a.llamacpp_child:
        return llamacpp_child(a)
    r = run(a)
    if a.json:
        text = json.dumps(r, indent=1)
        if a.json == "-":
            print(text)
        else:
            with open(a.json, "w", encoding="utf-8") as f:
                f.write(text + "\n")
    if a.json != "-":
        print(format_result(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
