"""The Vulkan backend end to end (on Mesa's lavapipe in CI): the device is listed with
its memory and weight types, a split placement gives the tokens of a whole offload,
parallel sequences decode as they do alone, "auto" stays off an emulated device while
"gpu" takes it, and malformed files fail with the CPU's errors. Op-by-op checks
against the CPU are tests/core/test_backend_ops.cpp; the golden tests (test_golden.py)
also run with device="vulkan"."""
import json
import subprocess
import sys

import numpy as np
import pytest

import llm4all
from llm4all import _core

from devices_here import require_device

PROMPT = "The capital of France is"
# The weight types the issue names as the least every backend multiplies by.
NEEDED = {"F32", "F16", "Q4_0", "Q4_1", "Q5_0", "Q8_0", "Q4_K", "Q5_K", "Q6_K"}


@pytest.fixture(autouse=True)
def _vulkan():
    require_device("vulkan")


def greedy(path, device, n_gpu_layers=-1, n=12):
    """Greedy ids, with the top two ids and their logit gap at each step, and the placement."""
    model = _core.Model(str(path), device, n_gpu_layers=n_gpu_layers)
    session = _core.Session(model, n_ctx=128, n_threads=2)
    session.decode(model.tokenize(PROMPT, add_special=True, parse_special=False), False)
    steps = []
    for _ in range(n):
        row = np.asarray(session.logits()).reshape(-1)[-model.n_vocab:]
        top = np.argsort(row)[::-1][:2]
        steps.append((int(top[0]), int(top[1]), float(row[top[0]] - row[top[1]])))
        session.decode([int(top[0])], False)
    return steps, json.loads(model.info_json())


def assert_same_tokens(a, b, gap):
    """Equal greedy ids up to the first step where either run has a near tie (its top two
    within gap: rounding of another kernel may swap them), where each must pick one of
    the other's top two: the golden tests' rule."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x[2] < gap or y[2] < gap:
            assert x[0] in y[:2] and y[0] in x[:2], f"step {i}: {x} vs {y}"
            return
        assert x[0] == y[0], f"step {i}: {x} vs {y}"


def test_devices_lists_the_vulkan_device():
    plugins = [p for p in json.loads(_core.devices_json()) if p["backend"] == "vulkan"]
    devices = [d for p in plugins for d in p.get("devices", [])]
    assert devices, plugins
    d = devices[0]
    assert d["id"] == "vulkan:0" and d["kind"] == "vulkan" and d["memory_total"] > 0, d
    assert NEEDED <= set(d["supports"]), d["supports"]
    out = subprocess.run([sys.executable, "-m", "llm4all", "devices"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "vulkan:0: " + d["name"] in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize("model_fixture, n_layer, gap", [("stories260k", 5, 0.02), ("smollm2", 30, 0.5)])
def test_one_layer_offload_gives_the_tokens_of_all_layers(request, model_fixture, n_layer, gap):
    path = request.getfixturevalue(model_fixture)
    whole, info = greedy(path, "vulkan", -1)
    assert info["n_gpu_layers"] == n_layer and info["output_on_gpu"], info
    one, info1 = greedy(path, "vulkan", 1)
    assert info1["n_gpu_layers"] == 1 and info1["output_on_gpu"], info1
    none, info0 = greedy(path, "vulkan", 0)
    assert info0["n_gpu_layers"] == 0 and not info0["output_on_gpu"], info0
    assert_same_tokens(one, whole, gap)
    assert none == greedy(path, "cpu")[0]   # nothing offloaded: the CPU's run exactly


def test_parallel_sequences_on_vulkan(stories260k):
    """Three sequences in one batched step pick the tokens each picks alone."""
    model = _core.Model(str(stories260k), "vulkan")
    prompts = ["Once upon a time", "The little dog", "Lily and Tom went to the park"]
    toks = [model.tokenize(p, add_special=True, parse_special=False) for p in prompts]

    def best(session):
        row = np.asarray(session.logits()).reshape(-1)[-model.n_vocab:]
        return int(row.argmax())

    alone = []
    for t in toks:
        s = _core.Session(model, n_ctx=128, n_threads=2)
        s.decode(t, False)
        alone.append(best(s))
    sessions = [_core.Session(model, n_ctx=128, n_threads=2) for _ in prompts]
    _core.decode_batch([(s, t, False) for s, t in zip(sessions, toks)])
    assert [best(s) for s in sessions] == alone


def test_auto_skips_an_emulated_device_and_gpu_takes_it(stories260k):
    plugins = [p for p in json.loads(_core.devices_json()) if p["backend"] == "vulkan"]
    emulated = all(d["emulated"] for p in plugins for d in p.get("devices", []))
    auto = json.loads(_core.Model(str(stories260k), "auto").info_json())
    assert (auto["n_gpu_layers"] == 0) == emulated, auto
    gpu = json.loads(_core.Model(str(stories260k), "gpu").info_json())
    assert gpu["n_gpu_layers"] == 5 and gpu["device"].startswith("vulkan:0"), gpu


def test_device_errors_name_the_problem(stories260k):
    with pytest.raises(llm4all.Error, match="there is no vulkan device 7"):
        _core.Model(str(stories260k), "vulkan:7")
    with pytest.raises(llm4all.Error, match="unknown device"):
        _core.Model(str(stories260k), "vulkan-ish")


def test_malformed_files_fail_as_on_the_cpu(bad_gguf_dir):
    bad = sorted(p for p in bad_gguf_dir.glob("*.gguf") if not p.name.startswith("valid"))
    assert len(bad) >= 30
    for path in bad:
        errors = []
        for device in ("cpu", "vulkan"):
            with pytest.raises(llm4all.Error) as info:
                _core.Model(str(path), device)
            errors.append((info.value.status_name, str(info.value)))
        assert errors[0] == errors[1], path.name


# A child process loads a model on `device`, decodes, lists the devices, and prints the
# Vulkan libraries it has mapped (the loader libvulkan.so.* and Mesa's libvulkan_*.so
# drivers) with the device list.
_MAPPED = """
import json, os, sys
from llm4all import _core
m = _core.Model(sys.argv[1], sys.argv[2])
s = _core.Session(m, n_ctx=64, n_threads=1)
s.decode(m.tokenize("Once upon", add_special=True, parse_special=False), False)
devices = [d for p in json.loads(_core.devices_json()) if p["backend"] == "vulkan" for d in p.get("devices", [])]
maps = {line.split()[-1] for line in open("/proc/self/maps") if len(line.split()) >= 6}
vk = sorted(os.path.basename(p) for p in maps if os.path.basename(p).startswith("libvulkan"))
print(json.dumps({"mapped": vk, "devices": devices}))
"""


def _mapped(stories260k, device, **env):
    import os
    cp = subprocess.run([sys.executable, "-c", _MAPPED, str(stories260k), device], capture_output=True,
                        env={**os.environ, **env}, timeout=300)
    assert cp.returncode == 0, cp.stderr.decode(errors="replace")[-2000:]
    return json.loads(cp.stdout)


def test_a_process_that_runs_no_vulkan_device_maps_no_vulkan_driver(stories260k):
    """The devices are listed by a child process (llm4all-vulkan-probe): listing them, or
    "auto" skipping an emulated one, must not map a driver here (lavapipe's LLVM alone is
    ~50 MiB that never unloads). Running on the device maps it; so does listing the devices
    in this process (LLM4ALL_VULKAN_PROBE=0), which must list the same devices."""
    cpu = _mapped(stories260k, "cpu")
    assert cpu["mapped"] == [] and cpu["devices"], cpu
    if all(d["emulated"] for d in cpu["devices"]):
        auto = _mapped(stories260k, "auto")
        assert auto["mapped"] == [], auto
    used = _mapped(stories260k, "vulkan")
    assert any(n.startswith("libvulkan.so") for n in used["mapped"]), used
    inproc = _mapped(stories260k, "cpu", LLM4ALL_VULKAN_PROBE="0")
    assert any(n.startswith("libvulkan.so") for n in inproc["mapped"]), inproc
    keys = ("id", "name", "kind", "emulated", "memory_total", "supports")
    for a, b, c in zip(cpu["devices"], inproc["devices"], used["devices"]):
        assert {k: a.get(k) for k in keys} == {k: b.get(k) for k in keys} == {k: c.get(k) for k in keys}
    assert len(cpu["devices"]) == len(inproc["devices"]) == len(used["devices"])
