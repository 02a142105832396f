"""tools/bench_server.py end to end on the tiny stories260K: both servers start, every stream
of every round is timed, and the JSON report holds the figures and ratios it promises (the
speeds themselves are the benchmark's business, not a test's)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("httpx", reason="the benchmark's clients use httpx")
pytest.importorskip("fastapi", reason="llm4all serve needs fastapi")
pytest.importorskip("uvicorn", reason="llm4all serve needs uvicorn")


def test_bench_server_reports_both_servers(repo_root, stories260k):
    try:
        import xllamacpp  # noqa: F401
        engines = ["llm4all", "llama.cpp"]
    except ImportError:
        engines = ["llm4all"]
    cmd = [sys.executable, str(repo_root / "tools" / "bench_server.py"), "--model", str(stories260k), "-t", "1",
           "--parallel", "2", "--n-ctx", "256", "--concurrency", "1", "4", "-r", "2", "-n", "12",
           "--endpoint", "completions", "--engines", *engines, "--json", "-", "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout)
    assert r["schema"] == "llm4all-bench-server/1" and r["concurrency"] == [1, 4] and r["rounds"] == 2
    for name in engines:
        e = r["engines"][name]
        assert e["peak_rss_bytes"] > 1 << 20 and e["peak_rss_bytes"] >= e["rss_after_warmup_bytes"] > 0
        for c in ("1", "4"):
            b = e["by_concurrency"][c]
            assert len(b["rounds"]) == 2
            for rnd in b["rounds"]:
                assert not rnd["errors"] and len(rnd["tokens_per_stream"]) == int(c)
                assert all(1 <= t <= 12 for t in rnd["tokens_per_stream"])
                assert rnd["tokens_per_s"] > 0 and 0 < rnd["ttft_median_s"] <= rnd["latency_median_s"]
    assert r["ratios"]["ours_4_over_ours_1"] > 0
    if len(engines) == 2:
        assert r["ratios"]["ours_over_llamacpp_tokens_per_s_c4"] > 0
