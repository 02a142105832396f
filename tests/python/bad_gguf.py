"""bad_gguf.py — writes a corpus of malformed GGUF files (plus valid ones) for
hardening tests of every GGUF reader front end (C, Python, CLI).

Stdlib only.  Usage:  python3 tests/python/bad_gguf.py OUTDIR [--base stories260K.gguf]
Each bad file is named for what is wrong with it; files named valid*.gguf are well formed.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from dataclasses import dataclass, field

# GGUF metadata value type ids.
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
_SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
           BOOL: "<B", U64: "<Q", I64: "<q", F64: "<d"}

# Tensor type ids and (block size, bytes per block) of the ones used here.
T_F32, T_Q8_0 = 0, 8
_BLOCK = {T_F32: (1, 4), T_Q8_0: (32, 34)}


def enc_str(s: bytes | str) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def enc_value(vtype: int, v) -> bytes:
    """Payload of one value (without its type id)."""
    if vtype == STR:
        return enc_str(v)
    if vtype == ARR:
        elem_type, items = v
        return struct.pack("<IQ", elem_type, len(items)) + b"".join(enc_value(elem_type, i) for i in items)
    return struct.pack(_SCALAR[vtype], v)


@dataclass
class Tensor:
    name: bytes | str
    dims: list            # ne[0] first; raw uint64 values
    ttype: int
    offset: int | None = None   # None = computed (aligned, in order)
    n_dims: int | None = None   # None = len(dims)

    def nbytes(self) -> int:
        block, size = _BLOCK.get(self.ttype, (1, 4))
        n = 1
        for d in self.dims:
            n *= d
        return n // block * size


@dataclass
class Gguf:
    """A GGUF file under construction; every field can be set to a wrong value."""
    kvs: list = field(default_factory=list)        # (key, vtype, value) or (key, vtype, raw_payload_bytes, True)
    tensors: list = field(default_factory=list)
    magic: bytes = b"GGUF"
    version: int = 3
    n_kv: int | None = None
    n_tensors: int | None = None
    alignment: int = 32
    marks: dict = field(default_factory=dict)      # name -> byte offset, filled by build()
    data: bytes | None = None                      # data section as is (None = from the tensors)

    def build(self, data_fill: int = 0x3C) -> bytes:
        # 0x3C fill gives Q8_0 blocks the finite fp16 scale 0x3C3C (about 1.06).
        out = bytearray()
        m = self.marks
        out += self.magic
        out += struct.pack("<I", self.version)
        m["n_tensors"] = len(out)
        out += struct.pack("<Q", len(self.tensors) if self.n_tensors is None else self.n_tensors)
        m["n_kv"] = len(out)
        out += struct.pack("<Q", len(self.kvs) if self.n_kv is None else self.n_kv)
        for i, kv in enumerate(self.kvs):
            key, vtype, value = kv[0], kv[1], kv[2]
            raw = len(kv) > 3 and kv[3]
            m[f"kv{i}"] = len(out)
            out += enc_str(key)
            m[f"kv{i}_type"] = len(out)
            out += struct.pack("<I", vtype)
            m[f"kv{i}_value"] = len(out)
            out += value if raw else enc_value(vtype, value)
            m[f"kv{i}_end"] = len(out)
        offsets, cur = [], 0
        for t in self.tensors:
            cur = (cur + self.alignment - 1) // self.alignment * self.alignment
            offsets.append(cur if t.offset is None else t.offset)
            cur += t.nbytes()
        for i, t in enumerate(self.tensors):
            m[f"t{i}"] = len(out)
            out += enc_str(t.name)
            m[f"t{i}_ndims"] = len(out)
            out += struct.pack("<I", len(t.dims) if t.n_dims is None else t.n_dims)
            m[f"t{i}_dims"] = len(out)
            out += b"".join(struct.pack("<Q", d & 0xFFFFFFFFFFFFFFFF) for d in t.dims)
            m[f"t{i}_type"] = len(out)
            out += struct.pack("<I", t.ttype)
            m[f"t{i}_offset"] = len(out)
            out += struct.pack("<Q", offsets[i] & 0xFFFFFFFFFFFFFFFF)
        m["infos_end"] = len(out)
        if self.tensors:
            out += b"\0" * (-len(out) % self.alignment)
        m["data"] = len(out)
        if self.data is not None:
            out += self.data
        else:
            data = bytearray()
            for t in self.tensors:
                data += b"\0" * (-len(data) % self.alignment)
                data += bytes([data_fill]) * t.nbytes()
            out += data
        m["end"] = len(out)
        return bytes(out)


def base() -> Gguf:
    """A small valid file: every value type, a nested array, an F32 and a Q8_0 tensor."""
    return Gguf(
        kvs=[
            ("general.architecture", STR, "test"),
            ("general.name", STR, "bad-gguf base"),
            ("general.alignment", U32, 32),
            ("test.u8", U8, 200), ("test.i8", I8, -100), ("test.u16", U16, 60000),
            ("test.i16", I16, -30000), ("test.u32", U32, 4000000000), ("test.i32", I32, -2000000000),
            ("test.f32", F32, 0.25), ("test.bool", BOOL, 1), ("test.u64", U64, 2**64 - 1),
            ("test.i64", I64, -(2**63)), ("test.f64", F64, 3.141592653589793),
            ("test.text", STR, 'quote " backslash \\ newline \n tab \t café'),
            ("test.strings", ARR, (STR, ["a", "bb", "ccc"])),
            ("test.nested", ARR, (ARR, [(I32, [1, 2]), (I32, [3]), (I32, [])])),
        ],
        tensors=[Tensor("a.weight", [4, 2], T_F32), Tensor("b.weight", [32, 2], T_Q8_0)],
    )


def nest(depth: int):
    """An array value nested depth levels deep (innermost holds one int32)."""
    v = (I32, [7])
    for _ in range(depth - 1):
        v = (ARR, [v])
    return v


def with_kv(g: Gguf, i: int, kv) -> Gguf:
    g.kvs[i] = kv
    return g


def corpus() -> dict[str, bytes]:
    """Name -> bytes of every generated file (valid*.gguf are well formed)."""
    files: dict[str, bytes] = {}
    ref = base()
    good = ref.build()
    mk = ref.marks
    files["valid.gguf"] = good
    files["valid_v2.gguf"] = (lambda g: (setattr(g, "version", 2), g.build())[1])(base())
    files["valid_no_tensors.gguf"] = Gguf(kvs=[("general.architecture", STR, "test")]).build()

    # --- header ---------------------------------------------------------------
    files["empty.gguf"] = b""
    files["magic_only.gguf"] = b"GGUF"
    files["bad_magic.gguf"] = b"GGUX" + good[4:]
    files["bad_magic_lowercase.gguf"] = b"gguf" + good[4:]
    for name, ver in (("version_0", 0), ("version_1", 1), ("version_99", 99), ("version_big_endian", 0x03000000)):
        g = base(); g.version = ver; files[name + ".gguf"] = g.build()
    g = base(); g.n_kv = 2**63; files["huge_n_kv.gguf"] = g.build()
    g = base(); g.n_kv = 2**64 - 1; files["max_n_kv.gguf"] = g.build()
    g = base(); g.n_tensors = 2**62; files["huge_n_tensors.gguf"] = g.build()
    g = base(); g.n_kv = len(g.kvs) + 1; files["n_kv_one_too_many.gguf"] = g.build()
    g = base(); g.n_tensors = len(g.tensors) + 1; files["n_tensors_one_too_many.gguf"] = g.build()

    # --- metadata ----------------------------------------------------------------
    files["huge_key_length.gguf"] = good[:mk["kv0"]] + struct.pack("<Q", 2**63) + good[mk["kv0"] + 8:]
    files["key_length_past_end.gguf"] = good[:mk["kv0"]] + struct.pack("<Q", len(good)) + good[mk["kv0"] + 8:]
    v = mk["kv1_value"]
    files["huge_string_length.gguf"] = good[:v] + struct.pack("<Q", 2**64 - 2) + good[v + 8:]
    i_arr = next(i for i, kv in enumerate(ref.kvs) if kv[0] == "test.strings")
    a = mk[f"kv{i_arr}_value"] + 4
    files["huge_array_length.gguf"] = good[:a] + struct.pack("<Q", 2**61) + good[a + 8:]
    files["array_length_past_end.gguf"] = good[:a] + struct.pack("<Q", 1_000_000) + good[a + 8:]
    files["huge_array_elem_string_length.gguf"] = good[:a + 8] + struct.pack("<Q", 2**60) + good[a + 16:]
    # 9M one-byte items: within the file's bytes, but past the reader's cap on values.
    many = struct.pack("<IQ", U8, 9 << 20) + bytes(9 << 20)
    files["too_many_array_items.gguf"] = with_kv(base(), 15, ("test.strings", ARR, many, True)).build()
    files["nested_too_deep.gguf"] = with_kv(base(), 16, ("test.nested", ARR, nest(20))).build()
    # Written flat: a recursive writer (or reader) would overflow its stack here.
    deep = struct.pack("<IQ", ARR, 1) * 4999 + struct.pack("<IQi", I32, 1, 7)
    files["nested_very_deep.gguf"] = with_kv(base(), 16, ("test.nested", ARR, deep, True)).build()
    t = mk["kv3_type"]
    files["bad_value_type.gguf"] = good[:t] + struct.pack("<I", 13) + good[t + 4:]
    files["bad_value_type_max.gguf"] = good[:t] + struct.pack("<I", 0xFFFFFFFF) + good[t + 4:]
    files["bad_array_elem_type.gguf"] = good[:a - 4] + struct.pack("<I", 77) + good[a:]
    files["bad_bool_value.gguf"] = with_kv(base(), 10, ("test.bool", BOOL, 7)).build()
    files["duplicate_key.gguf"] = with_kv(base(), 4, ("test.u8", I8, -100)).build()
    for name, key in (("invalid_utf8_key", b"test.\xff\xfe"), ("invalid_utf8_key_overlong", b"test.\xc0\xaf"),
                      ("invalid_utf8_key_surrogate", b"test.\xed\xa0\x80"),
                      ("invalid_utf8_key_truncated_seq", b"test.\xe2\x82"),
                      ("invalid_utf8_key_above_max", b"test.\xf4\x90\x80\x80")):
        files[name + ".gguf"] = with_kv(base(), 3, (key, U8, 1)).build()
    files["alignment_zero.gguf"] = with_kv(base(), 2, ("general.alignment", U32, 0)).build()
    files["alignment_not_power_of_two.gguf"] = with_kv(base(), 2, ("general.alignment", U32, 48)).build()
    files["alignment_wrong_type_u64.gguf"] = with_kv(base(), 2, ("general.alignment", U64, 32)).build()
    files["alignment_wrong_type_string.gguf"] = with_kv(base(), 2, ("general.alignment", STR, "32")).build()
    # Legal value, but the tensors' offsets are then misaligned and the data section lies past the end.
    files["alignment_one.gguf"] = with_kv(base(), 2, ("general.alignment", U32, 1)).build()
    files["alignment_huge.gguf"] = with_kv(base(), 2, ("general.alignment", U32, 2**31)).build()

    # --- tensor infos ------------------------------------------------------------------
    def tweak(fn, **kw) -> bytes:
        g = base()
        g.data = good[mk["data"]:]   # the valid data section, whatever the tensor now claims
        fn(g.tensors[1])
        for k, val in kw.items():
            setattr(g, k, val)
        return g.build()

    files["n_dims_0.gguf"] = tweak(lambda t: setattr(t, "n_dims", 0))
    files["n_dims_5.gguf"] = tweak(lambda t: (setattr(t, "dims", [32, 1, 1, 1, 2])))
    files["n_dims_huge.gguf"] = tweak(lambda t: setattr(t, "n_dims", 0xFFFFFFFF))
    files["dim_zero.gguf"] = tweak(lambda t: setattr(t, "dims", [32, 0]))
    files["dim_negative.gguf"] = tweak(lambda t: setattr(t, "dims", [32, -1]))
    files["dims_product_overflow.gguf"] = tweak(lambda t: setattr(t, "dims", [2**32, 2**32, 2**32]))
    files["dims_product_overflow_4d.gguf"] = tweak(lambda t: setattr(t, "dims", [2**16 * 32] * 4))
    files["byte_size_overflow.gguf"] = tweak(lambda t: (setattr(t, "ttype", T_F32), setattr(t, "dims", [2**62])))
    files["huge_dims_past_end.gguf"] = tweak(lambda t: setattr(t, "dims", [32, 2**40]))
    files["bad_tensor_type.gguf"] = tweak(lambda t: setattr(t, "ttype", 99))
    files["bad_tensor_type_33.gguf"] = tweak(lambda t: setattr(t, "ttype", 33))   # removed from ggml
    files["bad_tensor_type_removed_q4_2.gguf"] = tweak(lambda t: setattr(t, "ttype", 4))
    files["bad_tensor_type_max.gguf"] = tweak(lambda t: setattr(t, "ttype", 0xFFFFFFFF))
    files["row_not_block_multiple.gguf"] = tweak(lambda t: setattr(t, "dims", [33, 2]))
    files["offset_past_end.gguf"] = tweak(lambda t: setattr(t, "offset", 1 << 20))
    files["offset_huge.gguf"] = tweak(lambda t: setattr(t, "offset", 2**64 - 32))
    files["offset_plus_size_past_end.gguf"] = tweak(lambda t: setattr(t, "offset", 64))
    files["misaligned_offset.gguf"] = tweak(lambda t: setattr(t, "offset", 36))
    files["duplicate_tensor_name.gguf"] = tweak(lambda t: setattr(t, "name", "a.weight"))
    files["invalid_utf8_tensor_name.gguf"] = tweak(lambda t: setattr(t, "name", b"b.\xff"))
    t1 = mk["t1"]
    files["huge_tensor_name_length.gguf"] = good[:t1] + struct.pack("<Q", 2**63 + 5) + good[t1 + 8:]

    # --- truncations of the valid base at structural points --------------------------------
    cuts = {
        "in_magic": 2, "in_version": 6, "in_n_tensors": mk["n_tensors"] + 3, "in_n_kv": mk["n_kv"] + 5,
        # Cuts early in the metadata trip the count-versus-size check; later ones reach the value readers.
        "in_first_key_length": mk["kv0"] + 4, "in_first_key": mk["kv0"] + 12, "in_first_value_type": mk["kv0_type"] + 2,
        "in_value_type": mk["kv12_type"] + 2, "in_key": mk["kv13"] + 10,
        "in_string_length": mk["kv14_value"] + 3, "in_string_value": mk["kv14_value"] + 20,
        "in_scalar_value": mk["kv13_value"] + 5,
        "in_array_header": mk[f"kv{i_arr}_value"] + 6, "in_array_items": mk[f"kv{i_arr}_value"] + 20,
        "in_nested_array": mk["kv16_value"] + 30, "before_tensor_infos": mk["t0"],
        "in_tensor_name": mk["t0"] + 10, "in_tensor_dims": mk["t0_dims"] + 4, "in_tensor_type": mk["t1_type"] + 1,
        "in_tensor_offset": mk["t1_offset"] + 3, "in_padding": min(mk["infos_end"] + 1, mk["data"] - 1),
        "at_data_start": mk["data"], "in_first_tensor_data": mk["data"] + 10, "in_last_tensor_data": len(good) - 20,
        "last_byte_missing": len(good) - 1,
    }
    for name, at in cuts.items():
        files[f"truncated_{name}.gguf"] = good[:at]
    return files


# --- derived corruptions of a real file (e.g. stories260K.gguf) -------------------------------------

def walk(buf: bytes) -> dict:
    """Byte offsets of a well-formed GGUF file's parts (minimal reader for the derivations)."""
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, buf, pos)[0]
        pos += struct.calcsize(fmt)
        return v

    def skip_value(vt):
        nonlocal pos
        if vt == STR:
            n = take("<Q")
            pos += n
        elif vt == ARR:
            et, n = take("<I"), take("<Q")
            if et in _SCALAR:
                pos += struct.calcsize(_SCALAR[et]) * n
            else:
                for _ in range(n):
                    skip_value(et)
        else:
            pos += struct.calcsize(_SCALAR[vt])

    marks = {"kvs": [], "tensors": [], "arrays": []}
    pos = 8
    n_tensors, n_kv = take("<Q"), take("<Q")
    for _ in range(n_kv):
        start = pos
        key_len = take("<Q")
        pos += key_len
        vt = take("<I")
        vstart = pos
        skip_value(vt)
        marks["kvs"].append((start, vstart, pos))
        if vt == ARR:
            marks["arrays"].append((vstart, pos))
    for _ in range(n_tensors):
        start = pos
        ln = take("<Q"); pos += ln
        nd = take("<I"); dims_at = pos; pos += 8 * nd
        type_at = pos; pos += 4
        off_at = pos; pos += 8
        marks["tensors"].append((start, dims_at, type_at, off_at))
    marks["infos_end"] = pos
    marks["data"] = (pos + 31) // 32 * 32
    return marks


def derived(buf: bytes, stem: str) -> dict[str, bytes]:
    m = walk(buf)
    out: dict[str, bytes] = {}
    kvs, arrays, tens = m["kvs"], m["arrays"], m["tensors"]
    cuts = {"header": 13, "first_kv": kvs[0][0] + 5, "mid_kvs": kvs[len(kvs) // 2][1] + 3,
            "last_kv": kvs[-1][2] - 1, "tensor_infos": tens[len(tens) // 2][0] + 9,
            "last_tensor_offset": tens[-1][3] + 4, "data_start": m["data"],
            "mid_data": (m["data"] + len(buf)) // 2, "last_byte": len(buf) - 1}
    if arrays:
        big = max(arrays, key=lambda a: a[1] - a[0])
        cuts["biggest_array_start"] = big[0] + 7
        cuts["biggest_array_middle"] = (big[0] + big[1]) // 2
    for name, at in cuts.items():
        out[f"{stem}_truncated_{name}.gguf"] = buf[:at]

    def patch(at, fmt, v):
        return buf[:at] + struct.pack(fmt, v) + buf[at + struct.calcsize(fmt):]

    out[f"{stem}_bad_tensor_type.gguf"] = patch(tens[0][2], "<I", 99)
    out[f"{stem}_offset_past_end.gguf"] = patch(tens[-1][3], "<Q", len(buf) // 32 * 32 + 32)
    out[f"{stem}_dims_overflow.gguf"] = patch(tens[0][1], "<Q", 2**62)
    out[f"{stem}_huge_n_kv.gguf"] = patch(16, "<Q", 2**40)
    if arrays:
        out[f"{stem}_huge_array_length.gguf"] = patch(max(arrays, key=lambda a: a[1] - a[0])[0] + 4, "<Q", 2**58)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--base", help="a real valid GGUF file to derive further truncations from")
    args = ap.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    files = corpus()
    if args.base:
        if os.path.exists(args.base):
            with open(args.base, "rb") as f:
                files.update(derived(f.read(), os.path.splitext(os.path.basename(args.base))[0]))
        else:
            print(f"bad_gguf: --base {args.base} not found; writing the self-contained corpus only", file=sys.stderr)
    for name, data in files.items():
        with open(os.path.join(args.outdir, name), "wb") as f:
            f.write(data)
    n_bad = sum(1 for n in files if not n.startswith("valid"))
    print(f"bad_gguf: wrote {n_bad} malformed and {len(files) - n_bad} valid files to {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
