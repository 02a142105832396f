"""The catalogue's `parameters` and `ram` figures (tools/catalog_ram.py): the shapes the
script holds for the installed catalogue models are the ones their GGUF headers give (read by
the core's `llm4all info --json`, and for one file also by llama.cpp's gguf package), the
parameter count equals the files' own tensor sizes, models.json holds exactly what the script
computes, and the RAM figure agrees within 5% with the core's estimate from the header."""

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
import catalog_ram  # noqa: E402

INSTALLED = ["smollm2", "gemma3", "qwen05", "qwen15"]   # the GGUF catalogue models the tests fetch


def _catalogue() -> dict:
    return {m["id"]: m for m in json.loads(catalog_ram.CATALOG.read_text())["models"]}


@functools.lru_cache(maxsize=None)
def _info(path: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "llm4all", "info", path, "--n-ctx", str(catalog_ram.N_CTX), "--json"],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "LLM4ALL_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("name", INSTALLED)
def test_shapes_are_the_headers(name, request):
    desc = _info(str(request.getfixturevalue(name)))
    read = catalog_ram.shapes_from_info(desc)
    held = catalog_ram.SHAPES[name]
    assert {k: read[k] for k in held} == held
    assert catalog_ram.parameters(read) == sum(math.prod(t["shape"]) for t in desc["tensors"])
    # The bits per weight assumed for an untied embedding table are the file's.
    if not held.get("tied", True):
        assert read["embd_bpw"] == pytest.approx(held.get("embd_bpw", catalog_ram.EMBD_BPW[_catalogue()[name]["quant"]]))


def test_shapes_agree_with_llama_cpp_reader(smollm2):
    pytest.importorskip("gguf", reason="the gguf package (llama.cpp's GGUF reader, test extra) is not installed")
    assert catalog_ram.read_shapes(str(smollm2)) == catalog_ram.shapes_from_info(_info(str(smollm2)))


def test_catalogue_holds_the_computed_figures():
    for mid, m in _catalogue().items():
        if any(s["type"] == "url" for s in m["sources"]):
            assert mid in catalog_ram.SHAPES, f"{mid}: an https entry needs its shapes in tools/catalog_ram.py"
        s = catalog_ram.SHAPES.get(mid)
        if s is None:
            continue
        assert s["arch"] == m["architecture"], mid
        assert m["parameters"] == catalog_ram.parameters(s), mid
        assert m["ram"] == catalog_ram.ram_bytes(s, m["size"], m["quant"]), mid


def test_published_parameter_counts():
    """Shapes checked against the parameter counts the model authors publish."""
    published = {"qwen2.5-0.5b": 494_032_768, "qwen2.5-1.5b": 1_543_714_304, "qwen2.5-7b": 7_615_616_512,
                 "gemma3-1b": 999_885_952, "mistral-7b": 7_248_023_552}
    for mid, n in published.items():
        assert catalog_ram.parameters(catalog_ram.SHAPES[mid]) == n, mid


@pytest.mark.parametrize("name", INSTALLED)
def test_ram_agrees_with_the_core_estimate(name, request):
    path = request.getfixturevalue(name)
    desc = _info(str(path))
    memory = desc.get("memory")
    if not memory:
        pytest.skip("`llm4all info --json` gives no memory estimate in this build")
    core = memory.get("engine", memory["total"])   # the model and session, not the host interpreter
    ours = catalog_ram.ram_bytes(catalog_ram.shapes_from_info(desc), path.stat().st_size, _catalogue()[name]["quant"])
    assert abs(ours - core) <= 0.05 * core, (name, ours, core)
    assert _catalogue()[name]["ram"] == ours
