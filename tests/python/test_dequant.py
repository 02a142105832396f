"""Our dequantization is bit-identical to the gguf package's gguf.quants.dequantize.

Reads tensors through the C ABI (llm4all_gguf_read_tensor_f32, which runs the
CPU backend's get_rows) with ctypes, so it checks exactly what the engine uses:
real tensors of stories260K (F32) and SmolLM2 (Q4_1, Q8_0, F32), plus real
stories260K weights quantized with gguf.quants.quantize to every other type
this engine reads. The core library comes from $LLM4ALL_LIB or the installed
llm4all package."""
import ctypes
import os
from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
from gguf.quants import dequantize, quantize  # noqa: E402

Q = gguf.GGMLQuantizationType
SYNTHETIC_TYPES = [Q.F16, Q.BF16, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0]
MAX_PER_TYPE = 3  # real tensors checked per type and file: enough to cover every layout


@pytest.fixture(scope="module")
def core():
    path = os.environ.get("LLM4ALL_LIB")
    if not path:
        try:
            import llm4all
            path = llm4all._core.lib_path()
        except Exception as e:  # not installed, or built without the module
            pytest.skip(f"core library not found: set LLM4ALL_LIB or install llm4all ({e})")
    if not Path(path).is_file():
        pytest.skip(f"core library {path} does not exist")
    lib = ctypes.CDLL(path)
    lib.llm4all_gguf_read_tensor_f32.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                                                 ctypes.POINTER(ctypes.POINTER(ctypes.c_float)),
                                                 ctypes.POINTER(ctypes.c_uint64)]
    lib.llm4all_gguf_read_tensor_f32.restype = ctypes.c_int32
    lib.llm4all_last_error.restype = ctypes.c_char_p
    lib.llm4all_free.argtypes = [ctypes.c_void_p]
    return lib


def read_ours(core, path, name):
    values = ctypes.POINTER(ctypes.c_float)()
    count = ctypes.c_uint64()
    status = core.llm4all_gguf_read_tensor_f32(str(path).encode(), name.encode(), ctypes.byref(values),
                                               ctypes.byref(count))
    assert status == 0, f"{path}:{name}: status {status}: {core.llm4all_last_error().decode()}"
    try:
        return np.ctypeslib.as_array(values, shape=(count.value,)).copy()
    finally:
        core.llm4all_free(values)


def assert_bit_identical(ours, ref, what):
    ref = np.ascontiguousarray(ref, dtype=np.float32).reshape(-1)
    assert ours.shape == ref.shape, f"{what}: {ours.shape[0]} values, reference has {ref.shape[0]}"
    # Bits, not values: -0.0 vs 0.0 or a different rounding in the last place fail.
    # NaN payloads may legitimately be quieted differently, so any NaN matches any NaN.
    same = (ours.view(np.uint32) == ref.view(np.uint32)) | (np.isnan(ours) & np.isnan(ref))
    if not same.all():
        i = int(np.argmin(same))
        pytest.fail(f"{what}: {int((~same).sum())} of {same.size} values differ; first at {i}: "
                    f"ours {ours[i]!r} ({ours.view(np.uint32)[i]:#010x}), "
                    f"gguf {ref[i]!r} ({ref.view(np.uint32)[i]:#010x})")


def check_real_tensors(core, path):
    reader = gguf.GGUFReader(str(path))
    per_type = {}
    for t in reader.tensors:
        picked = per_type.setdefault(t.tensor_type, [])
        # The token embedding is always checked: the one tensor get_rows reads in a model.
        if len(picked) < MAX_PER_TYPE or t.name == "token_embd.weight":
            picked.append(t)
    for qtype, tensors in per_type.items():
        for t in tensors:
            ref = dequantize(t.data, qtype)
            assert_bit_identical(read_ours(core, path, t.name), ref, f"{path.name}:{t.name} ({qtype.name})")
    return set(per_type)


def test_stories260k_tensors(core, stories260k):
    assert Q.F32 in check_real_tensors(core, stories260k)


@pytest.fixture(scope="module")
def smollm2_file():
    env = os.environ.get("LLM4ALL_SMOLLM2")
    path = Path(env) if env else Path.home() / ".cache" / "llm4all" / "models" / "smollm2.gguf"
    if not path.is_file():
        pytest.skip(f"SmolLM2 not found at {path} (set LLM4ALL_SMOLLM2 or run `llm4all pull smollm2`)")
    return path


@pytest.mark.smollm2
def test_smollm2_tensors(core, smollm2_file):
    types = check_real_tensors(core, smollm2_file)
    assert {Q.Q4_1, Q.Q8_0, Q.F32} <= types


def special_values(n_cols):
    """Rows that probe the edges: zeros, -0.0, fp16/bf16 subnormals and limits,
    inf/NaN (16-bit types only), one huge outlier per block, constant blocks."""
    rows = [np.zeros(n_cols, np.float32),
            np.full(n_cols, -0.0, np.float32),
            np.full(n_cols, 3.0, np.float32),
            np.linspace(-1e-7, 1e-7, n_cols, dtype=np.float32),      # below fp16's normal range
            np.linspace(-65504, 65504, n_cols, dtype=np.float32)]     # fp16's largest finite
    spiky = np.random.RandomState(7).randn(n_cols).astype(np.float32) * 1e-3
    spiky[::32] = 40.0
    rows.append(spiky)
    return np.stack(rows)


def special_values_16bit(n_cols):
    base = special_values(n_cols)
    extra = np.zeros(n_cols, np.float32)
    extra[:8] = [np.inf, -np.inf, np.nan, 1e38, -3e38, 6e-8, 1e-40, 70000.0]
    return np.concatenate([base, extra[None]])


@pytest.mark.parametrize("qtype", SYNTHETIC_TYPES, ids=lambda q: q.name)
def test_quantized_stories_weights(core, stories260k, tmp_path, qtype):
    reader = gguf.GGUFReader(str(stories260k))
    by_name = {t.name: np.array(t.data, dtype=np.float32) for t in reader.tensors}
    block = gguf.GGML_QUANT_SIZES[qtype][0]
    sources = {name: w for name, w in by_name.items()
               if w.ndim == 2 and w.shape[-1] % block == 0
               and (name.startswith("token_embd") or ".0." in name or ".1." in name)}
    assert "token_embd.weight" in sources
    is16 = qtype in (Q.F16, Q.BF16)
    sources["special"] = special_values_16bit(64) if is16 else special_values(64)

    out = tmp_path / f"stories260K.{qtype.name}.gguf"
    writer = gguf.GGUFWriter(str(out), "llama")
    quantized = {}
    for name, w in sources.items():
        with np.errstate(over="ignore"):  # the special rows overflow fp16 on purpose
            q = quantize(w, qtype)
        quantized[name] = q
        writer.add_tensor(name, q, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    for name, q in quantized.items():
        assert_bit_identical(read_ours(core, out, name), dequantize(q, qtype), f"{name} as {qtype.name}")
