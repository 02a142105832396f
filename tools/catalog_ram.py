"""catalog_ram.py — the `parameters` and `ram` figures of the model catalogue (models.json),
computed from a model's shapes, for models that are not on this machine.

The shapes of each https-sourced catalogue model are in SHAPES (from the model's published
config.json; the GGUF keys they become are named in read_shapes). For a GGUF file on this
machine read_shapes takes them from its header instead, so the same functions can be
checked against a real file and against the core's own estimate (`llm4all info --json`).

    python tools/catalog_ram.py            # print parameters and RAM per catalogue model
    python tools/catalog_ram.py --write    # store them in models.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

CATALOG = Path(__file__).resolve().parents[1] / "bindings" / "python" / "llm4all" / "models.json"

N_CTX = 2048       # llm4all.Model's default context: the catalogue states RAM at this size
N_BATCH = 512      # prompt tokens per forward pass (the session default)
KV_BYTES = 2       # F16 K and V elements (the default kv_type)
KV_ALIGN = 32      # kv_cache.h k_kv_align: a windowed layer keeps window + n_batch + 2*align - 1 rows
RUNTIME_BYTES = 4 << 20    # allocator slack and thread stacks (memory.cpp k_runtime_fixed)
# The vocabulary's tables, per token (the header's arrays stay in the mapped file): 68 bytes
# for a vocabulary without merges (SentencePiece, WordPiece), 244 for a BPE one (about one
# merge per token), as the core's estimate counts them (memory.cpp k_per_token, k_per_merge).
TOKEN_BYTES, BPE_TOKEN_BYTES = 68, 244
# An embedding table no matmul reads (an untied head's, an encoder's) costs only the rows of
# the tokens run, each 20 KiB resident: one distinct token per 32 positions of a decoder's
# context, per 3 of an encoder's window (memory.cpp k_sparse_row and the rows per token).
SPARSE_ROW_BYTES = 20 * 1024
# Bits per weight of the embedding table in a file of each quant type (llama.cpp's choice:
# Q4_K_M stores an untied token_embd as Q4_K; the tied one is the output head and is kept
# in Q6_K/Q8_0, which only matters for the file size, already known).
EMBD_BPW = {"Q4_K_M": 4.5, "Q8_0": 8.5, "Q4_1": 5.0, "F16": 16.0, "F32": 32.0}

# Shapes from each model's config.json (hidden_size, intermediate_size, num_hidden_layers,
# num_attention_heads, num_key_value_heads, head_dim, vocab_size, tie_word_embeddings,
# sliding_window). "window_every": of each group of this many layers all but the last use
# the window (gemma3's 5 local : 1 global).
# Llama 3.x (rope scaling in rope_freqs.weight, which the llama loader applies).
# Its 128k-token vocabulary carries 280k merges: about 450 table bytes a token.
_LLAMA_1B = dict(arch="llama", n_layer=16, n_embd=2048, n_ff=8192, n_head=32, n_head_kv=8, head_dim=64,
                 n_vocab=128256, tied=True, vocab_bytes=450)
_LLAMA_3B = dict(_LLAMA_1B, n_layer=28, n_embd=3072, n_head=24, head_dim=128)
_QWEN_05B = dict(arch="qwen2", n_layer=24, n_embd=896, n_ff=4864, n_head=14, n_head_kv=2, head_dim=64,
                 n_vocab=151936, tied=True)
_QWEN_15B = dict(arch="qwen2", n_layer=28, n_embd=1536, n_ff=8960, n_head=12, n_head_kv=2, head_dim=128,
                 n_vocab=151936, tied=True)
_QWEN_7B = dict(arch="qwen2", n_layer=28, n_embd=3584, n_ff=18944, n_head=28, n_head_kv=4, head_dim=128,
                n_vocab=152064, tied=False)
_GEMMA3_1B = dict(arch="gemma3", n_layer=26, n_embd=1152, n_ff=6912, n_head=4, n_head_kv=1, head_dim=256,
                  n_vocab=262144, tied=True, window=512, window_every=6, bpe=False)
SHAPES: Dict[str, Dict[str, Any]] = {
    # The PyPI-sourced models, as read_shapes reads their files' headers.
    "smollm2": dict(arch="llama", n_layer=30, n_embd=576, n_ff=1536, n_head=9, n_head_kv=3, head_dim=64,
                    n_vocab=49152, tied=True),
    "gemma3": dict(arch="gemma3", n_layer=18, n_embd=640, n_ff=2048, n_head=4, n_head_kv=1, head_dim=256,
                   n_vocab=262144, tied=True, window=512, window_every=6, bpe=False),
    "qwen05": dict(_QWEN_05B, tied=False, embd_bpw=5.5),   # E=896 is no multiple of 256: Q5_0
    "qwen15": dict(_QWEN_15B, tied=False),
    "llama3.2-1b": _LLAMA_1B,
    "llama3.2-1b-q8": _LLAMA_1B,
    "llama3.2-3b": _LLAMA_3B,
    "qwen2.5-0.5b": _QWEN_05B,
    "qwen2.5-0.5b-q8": _QWEN_05B,
    "qwen2.5-1.5b": _QWEN_15B,
    "qwen2.5-3b": dict(arch="qwen2", n_layer=36, n_embd=2048, n_ff=11008, n_head=16, n_head_kv=2, head_dim=128,
                       n_vocab=151936, tied=True),
    "qwen2.5-7b": _QWEN_7B,
    "qwen2.5-coder-7b": _QWEN_7B,
    "gemma3-1b": _GEMMA3_1B,
    "gemma3-1b-q8": _GEMMA3_1B,
    "gemma3-4b": dict(arch="gemma3", n_layer=34, n_embd=2560, n_ff=10240, n_head=8, n_head_kv=4, head_dim=256,
                      n_vocab=262208, tied=True, window=1024, window_every=6, bpe=False),
    "mistral-7b": dict(arch="llama", n_layer=32, n_embd=4096, n_ff=14336, n_head=32, n_head_kv=8, head_dim=128,
                       n_vocab=32768, tied=False, bpe=False),
    # DeepSeek-R1 distills: Qwen2.5-Math-1.5B / Qwen2.5-Math-7B / Llama-3.1-8B shapes, untied heads.
    "deepseek-r1-qwen-1.5b": dict(_QWEN_15B, tied=False),
    "deepseek-r1-qwen-7b": _QWEN_7B,
    "deepseek-r1-llama-8b": dict(arch="llama", n_layer=32, n_embd=4096, n_ff=14336, n_head=32, n_head_kv=8,
                                 head_dim=128, n_vocab=128256, tied=False, vocab_bytes=450),
    # Qwen3 (dense): head_dim 128 whatever the width; the 8B unties its head.
    "qwen3-0.6b": dict(arch="qwen3", n_layer=28, n_embd=1024, n_ff=3072, n_head=16, n_head_kv=8, head_dim=128,
                       n_vocab=151936, tied=True),
    "qwen3-1.7b": dict(arch="qwen3", n_layer=28, n_embd=2048, n_ff=6144, n_head=16, n_head_kv=8, head_dim=128,
                       n_vocab=151936, tied=True),
    "qwen3-4b": dict(arch="qwen3", n_layer=36, n_embd=2560, n_ff=9728, n_head=32, n_head_kv=8, head_dim=128,
                     n_vocab=151936, tied=True),
    "qwen3-8b": dict(arch="qwen3", n_layer=36, n_embd=4096, n_ff=12288, n_head=32, n_head_kv=8, head_dim=128,
                     n_vocab=151936, tied=False),
    # Phi-3.5-mini: SentencePiece vocabulary, separate output head, LongRoPE (two tiny tensors).
    "phi3.5-mini": dict(arch="phi3", n_layer=32, n_embd=3072, n_ff=8192, n_head=32, n_head_kv=32, head_dim=96,
                        n_vocab=32064, tied=False, bpe=False),
    "bge-small": dict(arch="bert", n_layer=12, n_embd=384, n_ff=1536, n_head=12, n_head_kv=12, head_dim=32,
                      n_vocab=30522, n_ctx_train=512, n_token_types=2, bpe=False),
}


def parameters(s: Dict[str, Any]) -> int:
    """Number of weights in the GGUF file of a model with shapes s (every tensor counted)."""
    E, F, L, V = s["n_embd"], s["n_ff"], s["n_layer"], s["n_vocab"]
    if s["arch"] == "bert":
        per_layer = 4 * (E * E + E) + 2 * E + (E * F + F) + (F * E + E) + 2 * E
        return V * E + s["n_ctx_train"] * E + s.get("n_token_types", 2) * E + 2 * E + L * per_layer
    Q, KV = s["n_head"] * s["head_dim"], s["n_head_kv"] * s["head_dim"]
    per_layer = 2 * E * Q + 2 * E * KV + 3 * E * F + 2 * E
    if s["arch"] == "qwen2":
        per_layer += Q + 2 * KV                       # q/k/v biases
    if s["arch"] == "gemma3":
        per_layer += 2 * E + 2 * s["head_dim"]        # post-attention/post-ffn norms, q/k norms
    if s["arch"] == "qwen3":
        per_layer += 2 * s["head_dim"]                # q/k norms
    return V * E + L * per_layer + E + (0 if s.get("tied") else V * E)


def kv_cache_bytes(s: Dict[str, Any], n_ctx: int = N_CTX, n_batch: int = N_BATCH) -> int:
    """K and V of every layer as kv_cache.cpp allocates them (windowed layers keep fewer rows)."""
    if s["arch"] == "bert":
        return 0
    row = s["n_head_kv"] * s["head_dim"] * KV_BYTES
    total = 0
    for layer in range(s["n_layer"]):
        window, every = s.get("window", 0), s.get("window_every", 0)
        windowed = window > 0 and (every <= 0 or layer % every < every - 1)
        rows = min(n_ctx, window + n_batch + 2 * KV_ALIGN - 1) if windowed else n_ctx
        total += 2 * row * rows
    return total


def compute_bytes(s: Dict[str, Any], n_batch: int = N_BATCH) -> int:
    """One forward pass: the F32 activations of n_batch tokens (an encoder: of its whole
    window), the matmuls' quantized copies of them, and the logits the head, batch, session
    and sampler keep (an encoder: the final hidden states instead)."""
    E, F = s["n_embd"], s["n_ff"]
    Q, KV = s["n_head"] * s["head_dim"], s["n_head_kv"] * s["head_dim"]
    if s["arch"] == "bert":
        n = s["n_ctx_train"]
        return 4 * n * (6 * E + F) + 2 * n * max(E, F) * 9 // 8 + 4 * E * n
    n = n_batch
    return 4 * n * (3 * E + 2 * Q + 2 * KV + 2 * F) + 2 * n * max(E, F) * 9 // 8 + 24 * s["n_vocab"]


def weight_bytes(s: Dict[str, Any], file_size: int, quant: str, n_ctx: int = N_CTX) -> int:
    """File pages a run touches: all of them, but of an embedding table no matmul reads
    (an untied head, an encoder's) only the rows of the tokens run."""
    if s.get("tied", True) and s["arch"] != "bert":
        return file_size
    embd = int(s["n_vocab"] * s["n_embd"] * s.get("embd_bpw", EMBD_BPW.get(quant, 8.5)) / 8)
    rows = s["n_ctx_train"] // 3 + 1 if s["arch"] == "bert" else n_ctx // 32 + 1
    return file_size - embd + min(embd, rows * SPARSE_ROW_BYTES)


def runtime_bytes(s: Dict[str, Any]) -> int:
    """Libraries and runtime plus the parsed vocabulary (BPE vocabularies carry merges)."""
    per_token = s.get("vocab_bytes") or (BPE_TOKEN_BYTES if s.get("bpe", True) else TOKEN_BYTES)
    return RUNTIME_BYTES + s["n_vocab"] * per_token


def ram_bytes(s: Dict[str, Any], file_size: int, quant: str, n_ctx: int = N_CTX) -> int:
    """RAM a session at n_ctx needs with a full context: weights, KV cache, compute
    buffers and runtime, as the core's own estimate (`llm4all info --json`) counts them."""
    return (weight_bytes(s, file_size, quant, n_ctx) + kv_cache_bytes(s, min(n_ctx, s.get("n_ctx_train", n_ctx)))
            + compute_bytes(s) + runtime_bytes(s))


def shapes_from_header(meta: Dict[str, Any], tensors: List[Tuple[str, List[int], int]]) -> Dict[str, Any]:
    """Shapes from a GGUF header: meta maps keys to scalars (an array key to its length),
    tensors lists (name, shape, bytes)."""
    arch = meta["general.architecture"]
    n_head, n_embd = meta[f"{arch}.attention.head_count"], meta[f"{arch}.embedding_length"]
    by_name = {name: (shape, size) for name, shape, size in tensors}
    s = dict(arch=arch, n_layer=meta[f"{arch}.block_count"], n_embd=n_embd, n_ff=meta[f"{arch}.feed_forward_length"],
             n_head=n_head, n_head_kv=meta.get(f"{arch}.attention.head_count_kv", n_head),
             head_dim=meta.get(f"{arch}.attention.key_length", n_embd // n_head),
             n_vocab=meta["tokenizer.ggml.tokens"], tied="output.weight" not in by_name,
             bpe=meta.get("tokenizer.ggml.merges", 0) > 0)
    s["embd_bpw"] = by_name["token_embd.weight"][1] * 8 / (s["n_vocab"] * n_embd)
    if arch == "gemma3":
        s.update(window=meta.get("gemma3.attention.sliding_window", 0), window_every=6)
    if arch == "bert":
        s.update(n_ctx_train=meta["bert.context_length"],
                 n_token_types=by_name["token_types.weight"][0][1] if "token_types.weight" in by_name else 0)
    return s


def shapes_from_info(desc: Dict[str, Any]) -> Dict[str, Any]:
    """Shapes from `llm4all info FILE --json` (the core's own header parse)."""
    meta = {k: (v["length"] if isinstance(v, dict) and "length" in v else v) for k, v in desc["metadata"].items()}
    return shapes_from_header(meta, [(t["name"], t["shape"], t["size"]) for t in desc["tensors"]])


def read_shapes(path: str) -> Dict[str, Any]:
    """Shapes of a local GGUF file read with llama.cpp's gguf package (slow on large
    vocabularies: it parses every token)."""
    import gguf  # test/tool dependency only

    r = gguf.GGUFReader(path)
    meta: Dict[str, Any] = {}
    for key, f in r.fields.items():
        if f.types and f.types[0] == gguf.GGUFValueType.ARRAY:
            meta[key] = len(f.data)
        elif f.types and f.types[0] == gguf.GGUFValueType.STRING:
            meta[key] = bytes(f.parts[-1]).decode()
        elif f.types:
            meta[key] = f.parts[-1].tolist()[0]
    return shapes_from_header(meta, [(t.name, [int(x) for x in t.shape], int(t.n_bytes)) for t in r.tensors])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="store parameters and ram in models.json")
    args = ap.parse_args()
    doc = json.loads(CATALOG.read_text())
    for m in doc["models"]:
        s = SHAPES.get(m["id"])
        if s is None:
            continue
        params, ram = parameters(s), ram_bytes(s, m["size"], m["quant"])
        print(f"{m['id']:<24} params {params:>14,}  size {m['size']:>14,}  ram {ram / 2**30:6.2f} GiB")
        if args.write:
            m["parameters"], m["ram"] = params, ram
    if args.write:
        CATALOG.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
