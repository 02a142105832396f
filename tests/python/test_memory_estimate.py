"""The memory estimate (llm4all_gguf_estimate_memory, llm4all.estimate_memory, `llm4all info
--json`'s "memory") against what a process really uses: the peak RSS (ru_maxrss, from wait4)
of a child running `llm4all run` / `llm4all embed` must be within 10% of the estimate that
`llm4all info` printed in another child, for short runs and for prompts that fill the
context. Also: the KV cache size against the header read by the `gguf` package, the load
check under LLM4ALL_MEMORY_LIMIT (refused with the numbers, --skip-memory-check loads), and
the catalogue's RAM figures against the estimator.
"""

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sanitizer import RSS_NOT_COMPARABLE, UNDER_ASAN

import llm4all
from llm4all import _core, catalog
from llm4all.memory import DEFAULT_N_CTX, estimate_memory

TOLERANCE = 0.10
PROMPT = "The capital of France is"


def _cli(*args, env=None, check=True):
    """Runs `python -m llm4all ARGS` in a child; returns the CompletedProcess."""
    cp = subprocess.run([sys.executable, "-m", "llm4all", *map(str, args)], capture_output=True, env=env,
                        timeout=600)
    if check and cp.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} failed: {cp.stderr.decode(errors='replace')[-2000:]}")
    return cp


# Runs a command and prints its peak RSS. The measurement happens in this small launcher, not in
# the test process: a child started from a large process (vfork/fork) inherits that process's
# high-water mark into its ru_maxrss, while one started from the launcher inherits ~10 MiB.
_LAUNCHER = """
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(p.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def _peak_rss(*args, env=None) -> int:
    """Peak RSS in bytes of a child running `llm4all ARGS` (ru_maxrss is in KiB on Linux)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("ru_maxrss is compared in KiB, as Linux reports it")
    if UNDER_ASAN:
        pytest.skip(RSS_NOT_COMPARABLE)
    cp = subprocess.run([sys.executable, "-c", _LAUNCHER, sys.executable, "-m", "llm4all", *map(str, args)],
                        capture_output=True, env=env, timeout=900)
    rc, maxrss = map(int, cp.stdout.split())
    assert rc == 0, f"llm4all {' '.join(map(str, args))[:200]} failed: {cp.stderr.decode(errors='replace')[-2000:]}"
    return maxrss * 1024


def _evict_from_page_cache(path) -> None:
    """Drops the file's cached pages, so the run maps only what it reads: Linux maps a large
    folio of the page cache whole, and a file just written (converted) can be cached in 2 MiB
    folios, so that each embedding row read from a sparsely read table would count up to
    2 MiB of cache in the reader's RSS (reclaimable, not what the run needs; the estimate
    counts the pages read). Nothing where the system has no posix_fadvise (the peak is
    then skipped anyway: _peak_rss is Linux's)."""
    if not hasattr(os, "posix_fadvise"):
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _info_memory(model, n_ctx: int) -> dict:
    cp = _cli("info", model, "--n-ctx", n_ctx, "--json")
    return json.loads(cp.stdout)["memory"]


def _cached(name: str) -> Path:
    if not catalog.is_cached(name):
        pytest.skip(f"catalogue model {name} is not in the cache (llm4all pull {name})")
    return catalog.cached_path(name)


def _long_prompt(testdata: Path, model: str, n_tokens: int) -> str:
    """Text of about n_tokens tokens of the model (wiki.test.raw), for full-context runs."""
    text = (testdata / "ppl" / "wiki.test.raw").read_text(encoding="utf-8")[:200_000]
    m = _core.Model(str(catalog.cached_path(model)), "auto", skip_memory_check=True)
    ids = m.tokenize(text, False, False)[:n_tokens]
    return m.detokenize(ids, False).decode("utf-8", errors="ignore")


def _assert_close(what: str, estimate: int, peak: int, above: float = TOLERANCE) -> None:
    """estimate within TOLERANCE below peak and `above` over it."""
    err = (estimate - peak) / peak
    print(f"{what}: estimate {estimate / 2**20:.1f} MiB, peak RSS {peak / 2**20:.1f} MiB ({err:+.1%})")
    assert -TOLERANCE <= err <= above, f"{what}: estimate {estimate} B vs peak RSS {peak} B ({err:+.1%})"


# ---- the estimate's parts ------------------------------------------------------------

_READERS: dict = {}


def _gguf_reader(path: str):
    """llama.cpp's `gguf` reader over path, parsed once (a 262k-token vocabulary takes seconds)."""
    gguf = pytest.importorskip("gguf")
    if path not in _READERS:
        _READERS[path] = gguf.GGUFReader(path)
    return _READERS[path]


def _kv_reference(path: Path, n_ctx: int, n_batch: int = 512, elem: int = 2) -> int:
    """K and V bytes from the header as read by the `gguf` package (llama.cpp's reader):
    sliding-window layers (gemma3: 5 of every 6) keep window + n_batch + 63 rows."""
    r = _gguf_reader(str(path))

    def get(key, default=None):
        f = r.fields.get(key)
        return default if f is None else f.parts[-1].tolist()[0]

    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
    n_head = get(f"{arch}.attention.head_count")
    n_kv = get(f"{arch}.attention.head_count_kv", n_head)
    head_dim = get(f"{arch}.attention.key_length", get(f"{arch}.embedding_length") // n_head)
    window = get(f"{arch}.attention.sliding_window", 0) if arch == "gemma3" else 0
    total = 0
    for layer in range(get(f"{arch}.block_count")):
        rows = min(n_ctx, window + n_batch + 63) if window and layer % 6 < 5 else n_ctx
        total += 2 * rows * n_kv * head_dim * elem
    return total


def test_estimate_parts(stories260k):
    e = estimate_memory(stories260k, n_ctx=256, include_process=False)
    assert e.kv_cache == _kv_reference(stories260k, 256)
    assert e.weights <= stories260k.stat().st_size and e.weights > 0.9 * stories260k.stat().st_size
    assert e.total == e.engine == e.weights + e.kv_cache + e.compute + e.runtime
    assert e.n_ctx == 256 and e.n_batch == 256   # the batch never exceeds the context
    assert [d["name"] for d in e.devices] == ["cpu"] and e.devices[0]["total"] == e.total
    # The KV cache grows with the context and doubles with F32 elements; nothing else changes
    # but the compute buffers of a larger batch.
    f32 = estimate_memory(stories260k, n_ctx=256, kv_type="f32", include_process=False)
    assert f32.kv_cache == 2 * e.kv_cache and f32.weights == e.weights
    big = estimate_memory(stories260k, n_ctx=4096, include_process=False)
    assert big.kv_cache == _kv_reference(stories260k, 4096) and big.n_batch == 512
    # The process's own memory is added on request.
    with_proc = estimate_memory(stories260k, n_ctx=256)
    assert with_proc.process > 0 and with_proc.total == e.total + with_proc.process


def test_sliding_window_layers_as_the_cache_sizes_them():
    path = _cached("gemma3")
    for n_ctx in (512, 2048, 8192):
        assert estimate_memory(path, n_ctx=n_ctx).kv_cache == _kv_reference(path, n_ctx)


def test_available_memory_comes_from_the_system(stories260k, monkeypatch):
    monkeypatch.delenv("LLM4ALL_MEMORY_LIMIT", raising=False)
    e = estimate_memory(stories260k, n_ctx=256)
    if sys.platform.startswith("linux"):
        meminfo = {l.split(":")[0]: int(l.split()[1]) * 1024 for l in open("/proc/meminfo")}
        assert e.available_source in ("MemAvailable", "cgroup memory limit")
        assert 0 < e.available <= meminfo["MemTotal"]
        if e.available_source == "MemAvailable":   # it moves while we read it
            assert abs(e.available - meminfo["MemAvailable"]) < 0.2 * meminfo["MemAvailable"]
    monkeypatch.setenv("LLM4ALL_MEMORY_LIMIT", "3G")
    e = estimate_memory(stories260k, n_ctx=256)
    assert (e.available, e.available_source) == (3 << 30, "LLM4ALL_MEMORY_LIMIT")
    monkeypatch.setenv("LLM4ALL_MEMORY_LIMIT", "lots")
    with pytest.raises(llm4all.Error, match="LLM4ALL_MEMORY_LIMIT=lots is not a size"):
        estimate_memory(stories260k, n_ctx=256)


# ---- the check before loading ---------------------------------------------------------------

def test_load_refused_when_it_does_not_fit(stories260k):
    # A context large enough that the session's part (weights + KV cache + compute) outweighs
    # the model load's (weights + runtime tables, resident once the session is made).
    n_ctx = 1 << 16
    need = estimate_memory(stories260k, n_ctx=n_ctx, include_process=False)
    limit = need.weights + need.kv_cache + need.compute
    assert limit > need.weights + need.runtime
    run = ("run", stories260k, "Once", "-n", 4, "--n-ctx", n_ctx, "-q")
    env = dict(os.environ, LLM4ALL_MEMORY_LIMIT=str(limit - 1))
    cp = _cli(*run, env=env, check=False)
    err = cp.stderr.decode()
    assert cp.returncode != 0
    assert f"at n_ctx {n_ctx}" in err and "available (LLM4ALL_MEMORY_LIMIT)" in err and "--n-ctx" in err
    assert "--skip-memory-check" in err and "smaller quantization" in err and "GPU layers" in err
    # Forced, it loads and runs; with the limit at the estimate it passes the check.
    _cli(*run, "--skip-memory-check", env=env)
    _cli(*run, env=dict(os.environ, LLM4ALL_MEMORY_LIMIT=str(limit)))


def test_session_refused_for_a_context_too_large(stories260k, monkeypatch):
    small = estimate_memory(stories260k, n_ctx=256, include_process=False)
    big = estimate_memory(stories260k, n_ctx=1 << 20, include_process=False)
    assert big.kv_cache > 100 * small.kv_cache
    monkeypatch.setenv("LLM4ALL_MEMORY_LIMIT", str(small.total + (1 << 20)))
    with pytest.raises(llm4all.Error, match=r"KV cache .* at n_ctx 1048576.*smaller context") as ei:
        llm4all.Model(stories260k, n_ctx=1 << 20)
    assert ei.value.status_name == "LLM4ALL_ERR_OUT_OF_MEMORY"
    llm4all.Model(stories260k, n_ctx=256).generate("Once", max_tokens=2, temp=0)
    # Forced, the model loads; the session then allocates (untouched pages cost nothing yet).
    llm4all.Model(stories260k, n_ctx=1 << 17, skip_memory_check=True)


def test_info_prints_the_estimate(stories260k):
    cp = _cli("info", stories260k, "--n-ctx", 512)
    line = next(l for l in cp.stdout.decode().splitlines() if l.startswith("memory:"))
    assert "weights" in line and "KV cache" in line and "n_ctx 512" in line
    mem = _info_memory(stories260k, 512)
    assert {"weights", "kv_cache", "compute", "total"} <= set(mem)
    assert mem["total"] == mem["weights"] + mem["kv_cache"] + mem["compute"] + mem["runtime"]
    assert mem["kv_cache"] == _kv_reference(stories260k, 512)


# ---- the estimate against a real run's peak RSS ----------------------------------------------

DECODERS = [
    pytest.param("smollm2"),
    pytest.param("gemma3"),
    pytest.param("qwen05"),
    pytest.param("qwen15", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name", DECODERS)
def test_short_run_peak_rss(name):
    _cached(name)
    est = _info_memory(name, DEFAULT_N_CTX)["total"]
    peak = _peak_rss("run", name, PROMPT, "-n", 16, "--n-ctx", DEFAULT_N_CTX, "--temp", 0, "-q")
    # The estimate holds a full 512-token batch of compute buffers (what the next long prompt
    # needs), most of whose pages a short prompt never touches: it may sit higher here.
    _assert_close(f"{name} n_ctx {DEFAULT_N_CTX}, short prompt", est, peak, above=0.15)


@pytest.mark.slow
@pytest.mark.parametrize("name", [p.values[0] for p in DECODERS])
def test_full_context_run_peak_rss(name, testdata):
    _cached(name)
    n_ctx = 1024
    prompt = _long_prompt(testdata, name, n_ctx - 40)
    est = _info_memory(name, n_ctx)["total"]
    peak = _peak_rss("run", name, prompt, "-n", 16, "--n-ctx", n_ctx, "--temp", 0, "-q")
    _assert_close(f"{name} n_ctx {n_ctx}, prompt filling it", est, peak)


@pytest.mark.parametrize("name", ["minilm", pytest.param("embgemma", marks=pytest.mark.slow)])
def test_embedding_run_peak_rss(name, testdata):
    """Embedding checkpoints run as their converted GGUF (the CLI converts once); the
    estimate is one pass over a full window, so the text fills one."""
    _cached(name)
    from llm4all.embeddings import embedding_model_path
    path = embedding_model_path(name, None, False)
    if not Path(path).is_file():
        pytest.skip(f"{name} has not been converted to GGUF yet (llm4all embed {name} hello)")
    n_ctx = _core.Model(str(path), "auto", skip_memory_check=True).n_ctx_train
    text = (testdata / "ppl" / "wiki.test.raw").read_text(encoding="utf-8")[: n_ctx * 6]   # > one window
    est = _info_memory(path, n_ctx)["total"]
    _evict_from_page_cache(path)
    peak = _peak_rss("embed", name, text, "--long-text", "truncate")
    _assert_close(f"{name} (converted GGUF), one {n_ctx}-token window", est, peak)


# ---- the catalogue's RAM figures -------------------------------------------------------------

def test_catalogue_ram_is_the_estimate():
    """The RAM need `llm4all list` shows (catalog.ram_needed) at llm4all.Model's default context
    is, for every catalogue model on this machine, the engine's estimate from its file (what
    loading checks, without the caller's own process): computed at run time, not stored. The
    figure stored in models.json, used for models not downloaded (tools/catalog_ram.py, from
    published shapes), must stay close to it."""
    assert inspect.signature(llm4all.Model.__init__).parameters["n_ctx"].default == DEFAULT_N_CTX
    from llm4all.embeddings import embedding_model_path
    checked = []
    for name, entry in catalog.CATALOG.items():
        if not catalog.is_cached(name):
            continue
        path = Path(embedding_model_path(name, None, False)) if entry.is_folder else catalog.cached_path(name)
        if not path.is_file():
            continue
        est = estimate_memory(path, n_ctx=DEFAULT_N_CTX, include_process=False)
        assert catalog.ram_needed(entry) == (est.total, True), name
        if "ram" in entry.info:
            assert abs(entry.info["ram"] - est.total) <= 0.05 * est.total, (name, entry.info["ram"], est.total)
        checked.append(name)
    if not checked:
        pytest.skip("no catalogue model is cached here")
    print("catalogue RAM checked for", ", ".join(checked))
