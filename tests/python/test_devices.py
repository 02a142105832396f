"""Backend plugin listing and CPU variant choice: devices_json's "selected" mark,
`llm4all devices` (table and --json), and LLM4ALL_CPU_VARIANT forcing a variant
or failing with one clean line. The registry is built once per process, so every
forced case runs the CLI in a subprocess with its own environment."""

import json
import os
import platform
import subprocess
import sys

import pytest

from llm4all import _core


def cli(*args, env=None, timeout=120):
    full = dict(os.environ, PYTHONIOENCODING="utf-8")
    for k in ("LLM4ALL_DEBUG", "LLM4ALL_CPU_VARIANT", "LLM4ALL_CPU_HIDE"):
        full.pop(k, None)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "llm4all", *args], capture_output=True, timeout=timeout, env=full)


def one_line_error(proc):
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, f"exit {proc.returncode}, stderr: {err[-2000:]}"
    last = err.strip().splitlines()[-1]
    assert last.startswith("llm4all: error: ") and "Traceback" not in err, err
    return last


def cpu_entries(devices):
    return [d for d in devices if d["backend"] == "cpu"]


def test_devices_json_marks_the_best_cpu_variant():
    devices = json.loads(_core.devices_json())
    cpu = cpu_entries(devices)
    assert cpu, devices
    for d in devices:
        assert {"plugin", "backend", "variant", "score", "selected"} <= d.keys(), d
        assert (d["score"] > 0) == ("devices" in d) == ("problem" not in d), d
    selected = [d for d in cpu if d["selected"]]
    assert len(selected) == 1, cpu
    forced = os.environ.get("LLM4ALL_CPU_VARIANT", "").removeprefix("cpu-")
    if forced:
        assert selected[0]["variant"] == forced
    assert selected[0]["score"] == max(d["score"] for d in cpu)
    if platform.machine() in ("x86_64", "AMD64"):
        assert {"generic", "avx2", "avx512", "avx512-vnni"} <= {d["variant"] for d in cpu}


def test_devices_table_and_json():
    proc = cli("devices")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    marked = [line for line in out.splitlines() if line.startswith("* cpu-")]
    assert len(marked) == 1, out
    proc_json = cli("devices", "--json")
    assert proc_json.returncode == 0, proc_json.stderr
    devices = json.loads(proc_json.stdout)
    sel = [d for d in cpu_entries(devices) if d["selected"]][0]
    assert marked[0].split()[1] == f"cpu-{sel['variant']}"
    for d in devices:
        assert f"{d['backend']}-{d['variant']}" in out


def test_forced_generic_is_listed_and_used(stories260k):
    proc = cli("devices", env={"LLM4ALL_CPU_VARIANT": "generic"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert "* cpu-generic " in out, out
    for line in out.splitlines():
        if line.startswith("  cpu-"):
            assert "LLM4ALL_CPU_VARIANT=generic" in line or "lacks" in line, line
    run = cli("run", str(stories260k), "Once upon a time", "-n", "8", "--temp", "0",
              env={"LLM4ALL_CPU_VARIANT": "generic"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.decode().startswith(", there was a little girl")  # llama.cpp's greedy continuation


def test_forced_unknown_variant_is_a_clean_error(stories260k):
    for args in (("devices",), ("run", str(stories260k), "Hello", "-n", "2")):
        err = one_line_error(cli(*args, env={"LLM4ALL_CPU_VARIANT": "sse9"}))
        assert 'LLM4ALL_CPU_VARIANT=sse9: there is no CPU variant named "sse9"' in err, err
        assert "generic" in err, err


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="the AVX2 variant is x86-64 only")
def test_forced_variant_the_cpu_lacks_is_refused(stories260k):
    # LLM4ALL_CPU_HIDE makes the variant's own check see no AVX2 on any machine.
    env = {"LLM4ALL_CPU_VARIANT": "avx2", "LLM4ALL_CPU_HIDE": "avx2"}
    for args in (("devices",), ("run", str(stories260k), "Hello", "-n", "2")):
        err = one_line_error(cli(*args, env=env))
        assert "LLM4ALL_CPU_VARIANT=avx2: cpu-avx2 cannot run here" in err and "lacks AVX2" in err, err
    # Unforced, hiding AVX2 falls back to the generic variant.
    out = cli("devices", env={"LLM4ALL_CPU_HIDE": "avx2"}).stdout.decode()
    assert "* cpu-generic " in out, out
