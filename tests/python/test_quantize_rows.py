"""Our float -> GGUF block quantizers write the same bytes as llama.cpp's.

The reference is ggml_quantize_chunk (what llama_model_quantize runs per tensor,
here without an importance matrix) from the prebuilt llama.cpp in the xllamacpp
wheel, called through ctypes. Every type we can write is compared byte for byte
on synthetic rows (normal, outliers, zeros, constants, tiny, huge, one-sided,
sparse, integer-valued, NaN/inf) at several row lengths, and on real weight rows
of SmolLM2 when it is in the model cache. Ours runs through llm4all._core.quantize_rows
(the C entry point llm4all_quantize_rows)."""
import ctypes
import os
from pathlib import Path

import numpy as np
import pytest

core = pytest.importorskip("llm4all._core")

# GGUF type ids (shared with ggml) and the value-block size of each.
TYPES = {"F16": (1, 1), "BF16": (30, 1), "Q4_0": (2, 32), "Q4_1": (3, 32), "Q5_0": (6, 32),
         "Q5_1": (7, 32), "Q8_0": (8, 32), "Q2_K": (10, 256), "Q3_K": (11, 256), "Q4_K": (12, 256),
         "Q5_K": (13, 256), "Q6_K": (14, 256), "IQ4_NL": (20, 32), "IQ4_XS": (23, 256)}


@pytest.fixture(scope="module")
def ggml():
    xl = pytest.importorskip("xllamacpp", reason="llama.cpp reference (xllamacpp) not installed")
    path = Path(xl.__file__).parent / "xllamacpp.abi3.so"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    lib = ctypes.CDLL(str(path))
    for sym in ("ggml_quantize_init", "ggml_quantize_chunk", "ggml_row_size"):
        if not hasattr(lib, sym):
            pytest.skip(f"{path.name} does not export {sym}")
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    lib.ggml_row_size.restype = ctypes.c_size_t
    lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
    for type_id, _ in TYPES.values():
        lib.ggml_quantize_init(type_id)  # builds the IQ tables once
    return lib


def reference(lib, type_id, x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    rows, n = x.shape
    out = np.zeros((rows, lib.ggml_row_size(type_id, n)), dtype=np.uint8)
    written = lib.ggml_quantize_chunk(type_id, x.ctypes.data, out.ctypes.data, 0, rows, n, None)
    assert written == out.size
    return out


def assert_same(lib, name, x, what):
    type_id, block = TYPES[name]
    ours = core.quantize_rows(type_id, np.ascontiguousarray(x, dtype=np.float32))
    ref = reference(lib, type_id, x)
    assert ours.shape == ref.shape, f"{name} {what}: shape {ours.shape} vs {ref.shape}"
    if not np.array_equal(ours, ref):
        row, col = np.argwhere(ours != ref)[0]
        block_bytes = ref.shape[1] // (x.shape[1] // block)
        raise AssertionError(f"{name} {what}: {int((ours != ref).sum())} bytes differ; first in row {row}, "
                             f"block {col // block_bytes}, byte {col % block_bytes}")


def synthetic(n, rng):
    with np.errstate(over="ignore"):
        yield "normal", rng.standard_normal((48, n))
        outl = rng.standard_normal((16, n)) * 0.02
        outl[:, ::37] *= 300
        yield "outliers", outl
        yield "zeros", np.zeros((2, n))
        yield "constant", np.full((2, n), 0.37)
        yield "negative constant", np.full((2, n), -1.5)
        yield "tiny 1e-30", rng.standard_normal((4, n)) * 1e-30
        yield "subnormal scales 1e-38", rng.standard_normal((4, n)) * 1e-38
        yield "huge 1e30", rng.standard_normal((4, n)) * 1e30
        yield "near FLT_MAX", np.sign(rng.standard_normal((2, n))) * 3.4e38
        yield "positive", np.abs(rng.standard_normal((8, n)))
        yield "negative", -np.abs(rng.standard_normal((8, n)))
        yield "sparse", rng.standard_normal((8, n)) * (rng.random((8, n)) < 0.05)
        yield "integers", rng.integers(-4, 5, (8, n)).astype(np.float64)
        special = rng.standard_normal((4, n))
        special[0, 5], special[1, 7], special[2, 9], special[3] = np.nan, np.inf, -np.inf, -0.0
        yield "nan/inf/-0", special


@pytest.mark.parametrize("name", list(TYPES))
def test_synthetic_rows_match_llama_cpp(ggml, name):
    rng = np.random.default_rng(TYPES[name][0])
    lengths = (256, 512, 2048) if TYPES[name][1] == 256 else (32, 256, 576)
    for n in lengths:
        for what, x in synthetic(n, rng):
            assert_same(ggml, name, x, f"{what}, {n} per row")


def _cached_smollm2():
    env = os.environ.get("LLM4ALL_SMOLLM2")
    if env:
        return Path(env)
    from llm4all import catalog
    return catalog.cached_path("smollm2") if catalog.is_cached("smollm2") else None


@pytest.mark.parametrize("name", list(TYPES))
def test_real_weight_rows_match_llama_cpp(ggml, name):
    path = _cached_smollm2()
    if path is None or not path.is_file():
        pytest.skip("SmolLM2 is not in the model cache (llm4all pull smollm2)")
    # ffn_down rows have 1536 values (a multiple of 256), attn_q rows 576.
    picks = {"blk.0.ffn_down.weight": 1536, "blk.0.attn_q.weight": 576, "blk.29.ffn_down.weight": 1536}
    for tensor, n in picks.items():
        if n % TYPES[name][1]:
            continue
        rows = core.gguf_read_tensor(path, tensor).reshape(-1, n)[:96]
        assert_same(ggml, name, rows, tensor)


def test_bad_arguments_are_refused():
    x = np.ones((2, 64), dtype=np.float32)
    with pytest.raises(Exception, match="multiple of 256"):
        core.quantize_rows(TYPES["Q4_K"][0], x)
    with pytest.raises(Exception, match="cannot quantize to type id 9"):
        core.quantize_rows(9, x)  # Q8_1: an activation type, never written to files
    with pytest.raises(Exception, match="cannot quantize to type id 12345"):
        core.quantize_rows(12345, x)
    with pytest.raises(ValueError, match="2-D"):
        core.quantize_rows(TYPES["Q8_0"][0], np.ones(64, dtype=np.float32))
    assert core.quantize_rows(TYPES["Q8_0"][0], np.ones((0, 64), dtype=np.float32)).shape == (0, 68)
