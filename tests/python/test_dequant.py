"""Our dequantization is bit-identical to the gguf package's gguf.quants.dequantize.

Reads tensors through the C ABI (llm4all_gguf_read_tensor_f32, which runs the
CPU backend's get_rows) with ctypes, so it checks exactly what the engine uses:
real tensors of stories260K (F32), SmolLM2 (Q4_1, Q8_0, F32), Qwen2.5-Coder-0.5B
and Gemma 3 270M (Q4_K, Q6_K, Q5_0, Q8_0, F32), plus real stories260K weights
quantized with gguf.quants.quantize to every type it can quantize. For the types
it cannot quantize (K-quants, IQ4_NL, IQ4_XS) blocks of random bytes with random
fp16 scales are crafted: every bit pattern is a valid block. The core library
comes from $LLM4ALL_LIB or the installed llm4all package."""
import ctypes
import os
import struct
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


def gguf_tensors(path):
    """(name, type, raw block bytes) of every tensor, read with a minimal header walk:
    gguf.GGUFReader also works but spends half a minute on a 262k-token vocabulary."""
    data = np.memmap(path, dtype=np.uint8, mode="r")
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("<Q")
        pos += n
        return bytes(data[pos - n:pos]).decode()

    scalar = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}

    def skip_value(vtype):
        nonlocal pos
        if vtype == 8:
            string()
        elif vtype == 9:
            etype, count = take("<I"), take("<Q")
            if etype in scalar:
                pos += struct.calcsize(scalar[etype]) * count
            else:
                for _ in range(count):
                    skip_value(etype)
        else:
            pos += struct.calcsize(scalar[vtype])

    assert bytes(data[:4]) == b"GGUF"
    pos = 4
    take("<I")
    n_tensors, n_kv = take("<Q"), take("<Q")
    alignment = 32
    for _ in range(n_kv):
        key, vtype = string(), take("<I")
        if key == "general.alignment":
            alignment = take("<I")
        else:
            skip_value(vtype)
    infos = []
    for _ in range(n_tensors):
        name, n_dims = string(), take("<I")
        dims = [take("<Q") for _ in range(n_dims)]
        infos.append((name, Q(take("<I")), dims, take("<Q")))
    start = (pos + alignment - 1) // alignment * alignment
    for name, qtype, dims, offset in infos:
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        row_bytes = dims[0] // block * size
        n_rows = int(np.prod(dims[1:])) if len(dims) > 1 else 1
        yield name, qtype, data[start + offset:start + offset + row_bytes * n_rows].reshape(n_rows, row_bytes)


def cached_model(name, env):
    path = Path(os.environ.get(env) or Path.home() / ".cache" / "llm4all" / "models" / f"{name}.gguf")
    if not path.is_file():
        pytest.skip(f"{name} not found at {path} (set {env} or run `llm4all pull {name}`)")
    return path


# Real K-quant files: Q4_K_M mixes Q4_K, Q6_K, Q5_0 and Q8_0. Two tensors (of at
# most 4 MiB) per type cover the layouts and keep the test quick.
@pytest.mark.parametrize("name,env", [("qwen05", "LLM4ALL_QWEN05"), ("gemma3", "LLM4ALL_GEMMA3")])
def test_k_quant_model_tensors(core, name, env):
    path = cached_model(name, env)
    picked = {}
    for tname, qtype, raw in gguf_tensors(path):
        if raw.size <= (4 << 20) and len(picked.setdefault(qtype, [])) < 2:
            picked[qtype].append((tname, raw))
    assert {Q.Q4_K, Q.Q6_K} <= set(picked)
    for qtype, tensors in picked.items():
        for tname, raw in tensors:
            assert_bit_identical(read_ours(core, path, tname), dequantize(raw, qtype), f"{name}:{tname} ({qtype.name})")


# Byte offsets of the fp16 scale fields in each crafted type's block.
SCALE_OFFSETS = {Q.Q2_K: (80, 82), Q.Q3_K: (108,), Q.Q4_K: (0, 2), Q.Q5_K: (0, 2), Q.Q6_K: (208,),
                 Q.IQ4_NL: (0,), Q.IQ4_XS: (0,)}


def random_blocks(qtype, n_rows, n_cols, rng, finite=True):
    """Rows of random valid blocks. Scales are random fp16 bit patterns (subnormals,
    zeros of both signs, up to 65504), finite unless asked otherwise."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    n_blocks = n_rows * n_cols // block
    raw = rng.integers(0, 256, size=(n_blocks, size), dtype=np.uint8)
    for off in SCALE_OFFSETS[qtype]:
        bits = rng.integers(0, 1 << 16, size=n_blocks, dtype=np.uint16)
        if finite:
            bits = np.where((bits & 0x7C00) == 0x7C00, bits & 0x83FF, bits)  # inf/NaN -> subnormal
        else:
            bits[::3] = rng.choice(np.array([0x7C00, 0xFC00, 0x7E00, 0x7BFF], np.uint16), size=bits[::3].shape)
        raw[:, off:off + 2] = bits.view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(n_rows, n_cols // block * size)


@pytest.mark.parametrize("qtype", list(SCALE_OFFSETS), ids=lambda q: q.name)
def test_crafted_blocks(core, tmp_path, qtype):
    rng = np.random.default_rng(int(qtype))
    block = gguf.GGML_QUANT_SIZES[qtype][0]
    tensors = {"random": random_blocks(qtype, 64, 4 * block, rng),
               "one_row": random_blocks(qtype, 1, block, rng),
               "non_finite_scales": random_blocks(qtype, 8, 2 * block, rng, finite=False)}
    out = tmp_path / f"crafted.{qtype.name}.gguf"
    writer = gguf.GGUFWriter(str(out), "llama")
    for name, raw in tensors.items():
        writer.add_tensor(name, raw, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    for name, raw in tensors.items():
        with np.errstate(invalid="ignore", over="ignore"):
            ref = dequantize(raw, qtype)
        assert_bit_identical(read_ours(core, out, name), ref, f"{name} as {qtype.name}")


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
