"""`llm4all bench` on stories260K: the JSON report's schema, positive figures and clean
errors. No speed is asserted here: speed is measured with the benchmark tools
(`llm4all bench`, tools/bench_vs_llamacpp.py), not in timed tests."""

import json
import os
import subprocess
import sys

import pytest


def llm4all_cli(*args, timeout=300):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    env.pop("LLM4ALL_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "llm4all", *args], capture_output=True, timeout=timeout, env=env)


def test_bench_json_schema(stories260k):
    proc = llm4all_cli("bench", str(stories260k), "-r", "2", "-t", "1", "-p", "64", "-n", "16", "--json")
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    rep = json.loads(proc.stdout)
    assert rep["schema"] == "llm4all-bench/1"
    assert rep["engine"] == "llm4all"
    assert rep["threads"] == 1 and rep["runs"] == 2 and rep["n_batch"] == 512
    assert rep["model_architecture"] == "llama"
    assert rep["model_file_size"] == os.path.getsize(stories260k)
    assert 200_000 < rep["model_params"] < 400_000          # stories260K
    assert rep["load_ms"] > 0
    assert rep["peak_rss_bytes"] >= rep["rss_before_load_bytes"] > 0
    assert [t["name"] for t in rep["tests"]] == ["pp64", "tg16"]
    pp, tg = rep["tests"]
    assert (pp["n_prompt"], pp["n_gen"]) == (64, 0)
    assert (tg["n_prompt"], tg["n_gen"]) == (1, 16)
    for t in rep["tests"]:
        s = t["tokens_per_s"]
        assert len(s["samples"]) == 2
        assert all(x > 0 for x in s["samples"])
        assert s["min"] <= s["median"] <= s["max"]
        assert s["stdev"] >= 0


def test_bench_default_sizes_and_table(stories260k):
    # The llama-bench defaults (pp512, tg128) and the text table.
    proc = llm4all_cli("bench", str(stories260k), "-r", "1", "-t", "2")
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    out = proc.stdout.decode()
    assert "pp512" in out and "tg128" in out and "peak RSS" in out


@pytest.mark.parametrize("args, words", [
    (["-r", "0"], "runs"),
    (["-t", "0"], "threads"),
    (["-p", "0", "-n", "0"], "prompt"),
    (["-c", "8"], "n_ctx"),
])
def test_bench_bad_options(stories260k, args, words):
    proc = llm4all_cli("bench", str(stories260k), *args)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, err
    assert err.startswith("llm4all: error: ") and words in err and "Traceback" not in err


def test_bench_missing_file():
    proc = llm4all_cli("bench", "no/such/model.gguf", "-r", "1")
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1 and "no/such/model.gguf" in err
