"""bad_hparams.py — copies of a real small model (stories260K.gguf) with one nonsense
hyper-parameter or tensor each: well-formed GGUF files that no model loader should
accept. Values are patched in place (same byte length), so every other byte stays real.

Usage:  python3 tests/python/bad_hparams.py OUTDIR --base stories260K.gguf
cases() maps each file name to (bytes, the phrases its error message must contain).
"""

from __future__ import annotations

import argparse
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bad_gguf import walk  # noqa: E402


def _kv_offsets(buf: bytes) -> dict[str, tuple[int, int]]:
    """key -> (offset of its type id, offset of its value)."""
    out = {}
    for start, vstart, _end in walk(buf)["kvs"]:
        n = struct.unpack_from("<Q", buf, start)[0]
        out[buf[start + 8:start + 8 + n].decode()] = (vstart - 4, vstart)
    return out


def _tensor_offsets(buf: bytes) -> dict[str, tuple[int, int]]:
    """tensor name -> (offset of its name bytes, offset of its dims)."""
    out = {}
    for start, dims_at, _type_at, _off_at in walk(buf)["tensors"]:
        n = struct.unpack_from("<Q", buf, start)[0]
        out[buf[start + 8:start + 8 + n].decode()] = (start + 8, dims_at)
    return out


def cases(buf: bytes) -> dict[str, tuple[bytes, list[str]]]:
    kv, ts = _kv_offsets(buf), _tensor_offsets(buf)

    def u32(key: str, v: int) -> bytes:
        t, at = kv[key]
        assert struct.unpack_from("<I", buf, t)[0] == 4, f"{key} is not uint32"
        return buf[:at] + struct.pack("<I", v) + buf[at + 4:]

    def dim(name: str, i: int, v: int) -> bytes:
        at = ts[name][1] + 8 * i
        return buf[:at] + struct.pack("<Q", v) + buf[at + 8:]

    def rename(name: str, new: str) -> bytes:
        assert len(new) == len(name)
        at = ts[name][0]
        return buf[:at] + new.encode() + buf[at + len(name):]

    L = "llama."
    return {
        "block_count_0": (u32(L + "block_count", 0), ["'llama.block_count' = 0"]),
        "block_count_9999": (u32(L + "block_count", 9999), ["'llama.block_count' = 9999"]),
        "block_count_6": (u32(L + "block_count", 6), ["'llama.block_count' = 6", "5 layers"]),
        "head_count_0": (u32(L + "attention.head_count", 0), ["'llama.attention.head_count' = 0"]),
        "head_count_huge": (u32(L + "attention.head_count", 2**32 - 1), ["'llama.attention.head_count' = 4294967295"]),
        "head_count_kv_0": (u32(L + "attention.head_count_kv", 0), ["'llama.attention.head_count_kv' = 0"]),
        "head_count_kv_not_divisor": (u32(L + "attention.head_count_kv", 3), ["head_count_kv' = 3", "multiple"]),
        "head_count_vs_attn_k": (u32(L + "attention.head_count", 4), ["blk.0.attn_k.weight", "head_count_kv' 4"]),
        "embedding_length_0": (u32(L + "embedding_length", 0), ["'llama.embedding_length' = 0"]),
        "embedding_length_huge": (u32(L + "embedding_length", 2**31), ["'llama.embedding_length' = 2147483648"]),
        "embedding_length_vs_tensors": (u32(L + "embedding_length", 128), ["token_embd.weight", "embedding_length' 128"]),
        "feed_forward_length_vs_ffn": (u32(L + "feed_forward_length", 100), ["ffn_down.weight", "feed_forward_length' 100"]),
        "context_length_0": (u32(L + "context_length", 0), ["'llama.context_length' = 0"]),
        "context_length_absurd": (u32(L + "context_length", 2**32 - 1), ["'llama.context_length' = 4294967295"]),
        "rope_dims_odd": (u32(L + "rope.dimension_count", 7), ["'llama.rope.dimension_count' = 7"]),
        "vocab_vs_output": (dim("output.weight", 1, 511), ["output.weight", "vocabulary size 512"]),
        "missing_token_embd": (rename("token_embd.weight", "token_embx.weight"), ["'token_embd.weight' is missing"]),
        "attn_q_shape": (dim("blk.4.attn_q.weight", 1, 60), ["blk.4.attn_q.weight", "[64, 60]"]),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--base", required=True)
    args = ap.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    with open(args.base, "rb") as f:
        made = cases(f.read())
    for name, (data, _) in made.items():
        with open(os.path.join(args.outdir, name + ".gguf"), "wb") as f:
            f.write(data)
    print(f"bad_hparams: wrote {len(made)} files to {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
