"""make_seeds.py — writes the committed seed corpora of the fuzz targets
(tests/fuzz/corpus/<target>/), small and deterministic: a tiny but complete llama
model GGUF and a few well-formed variants (bad_gguf.py's writer), tokenizer test
strings from llama.cpp's vectors in shared/testdata/vocab with each mode byte, a few
templates with hostile contexts, and chat message JSON. run.sh also feeds the real
chat templates (tests/python/chat_templates) to the Jinja target as read-only seeds.

Usage: python3 tests/fuzz/make_seeds.py [--testdata DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
from bad_gguf import ARR, F32, I32, STR, U32, T_F32, T_Q8_0, Gguf, Tensor, base  # noqa: E402


def tiny_llama(n_vocab=16, n_embd=8, n_ff=16, n_layer=1, ttype=T_F32) -> bytes:
    """A complete llama model small enough for a seed (about 3 KB)."""
    toks = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(4)] + \
        ["\u2581", "a", "b", "\u2581a", "ab", "<|im_start|>", "<|im_end|>", "c", "\u2581ab"]
    toks = toks[:n_vocab]
    kvs = [("general.architecture", STR, "llama"), ("general.name", STR, "tiny"),
           ("llama.context_length", U32, 64), ("llama.embedding_length", U32, n_embd),
           ("llama.feed_forward_length", U32, n_ff), ("llama.block_count", U32, n_layer),
           ("llama.attention.head_count", U32, 2), ("llama.attention.head_count_kv", U32, 1),
           ("llama.rope.dimension_count", U32, n_embd // 2),
           ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5),
           ("tokenizer.ggml.model", STR, "llama"), ("tokenizer.ggml.pre", STR, "default"),
           ("tokenizer.ggml.tokens", ARR, (STR, toks)),
           ("tokenizer.ggml.scores", ARR, (F32, [float(-i) for i in range(len(toks))])),
           ("tokenizer.ggml.token_type", ARR, (I32, [2, 3, 3] + [6] * 4 + [1] * 5 + [3, 3] + [1] * 2)),
           ("tokenizer.ggml.bos_token_id", U32, 1), ("tokenizer.ggml.eos_token_id", U32, 2),
           ("tokenizer.chat_template", STR, "{% for m in messages %}{{ m.content }}{% endfor %}")]
    hd = n_embd // 2
    ts = [Tensor("token_embd.weight", [n_embd, n_vocab], T_F32), Tensor("output_norm.weight", [n_embd], T_F32)]
    for l in range(n_layer):
        p = f"blk.{l}."
        ts += [Tensor(p + "attn_norm.weight", [n_embd], T_F32), Tensor(p + "attn_q.weight", [n_embd, n_embd], ttype),
               Tensor(p + "attn_k.weight", [n_embd, hd], ttype), Tensor(p + "attn_v.weight", [n_embd, hd], ttype),
               Tensor(p + "attn_output.weight", [n_embd, n_embd], ttype), Tensor(p + "ffn_norm.weight", [n_embd], T_F32),
               Tensor(p + "ffn_gate.weight", [n_embd, n_ff], ttype), Tensor(p + "ffn_up.weight", [n_embd, n_ff], ttype),
               Tensor(p + "ffn_down.weight", [n_ff, n_embd], ttype)]
    return Gguf(kvs=kvs, tensors=ts).build()


def write(target: str, name: str, data: bytes) -> None:
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--testdata", default=os.environ.get("LLM4ALL_TESTDATA") or
                    os.path.join(HERE, "..", "..", "..", "shared", "testdata"))
    args = ap.parse_args(argv)

    ggufs = {"tiny_llama": tiny_llama(), "tiny_llama_q8": tiny_llama(n_embd=32, n_ff=32, ttype=T_Q8_0),
             "tiny_llama_2layers": tiny_llama(n_layer=2), "base_all_types": base().build()}
    g = base(); g.version = 2
    ggufs["base_v2"] = g.build()
    for name, data in ggufs.items():
        write("fuzz_gguf", name, data)
        write("fuzz_gguf_meta", name, data)

    # Tokenizers: llama.cpp's 47 test strings (+ special-token text), with every mode byte
    # for the first vocabulary of each target and a few for the others.
    with open(os.path.join(args.testdata, "vocab", "ggml-vocab-llama-spm.gguf.inp"), "rb") as f:
        strings = f.read().split(b"\n__ggml_vocab_test__\n")
    strings += [b"<s>hello</s>", b"<|im_start|>user\nhi<|im_end|>", b"[CLS] a [SEP] [MASK]", b"\xff\xfe bad utf8",
                b"\xe2\x82", "caf\u00e9 \u4f60\u597d \U0001F600".encode(), b" " * 40 + b"x", b"\t\n\r\x00end"]
    for target, n_vocabs in (("fuzz_tokenize_spm", 3), ("fuzz_tokenize_bpe", 8), ("fuzz_tokenize_wpm", 1)):
        for i, s in enumerate(strings):
            if not s.strip(b"\n"):
                continue
            mode = (i % 8) | ((i % n_vocabs) << 3)
            write(target, f"s{i:02d}", bytes([mode]) + s)

    # LoRA adapters for stories260K (llama, n_embd 64, kv 32, n_ff 172, 5 layers), each input
    # byte 0 = the scale choice: a full one, one layer's q and v, a Q8_0 one, and wrong kinds.
    def adapter(pairs, arch="llama", kind="lora", r=4, ttype=T_F32, gtype="adapter"):
        kvs = [("general.architecture", STR, arch), ("general.type", STR, gtype), ("adapter.type", STR, kind),
               ("adapter.lora.alpha", F32, 8.0)]
        ts = []
        for name, n_in, n_out in pairs:
            ts += [Tensor(name + ".lora_a", [n_in, r], ttype), Tensor(name + ".lora_b", [r, n_out], ttype)]
        return Gguf(kvs=kvs, tensors=ts).build(data_fill=0x3C if ttype == T_Q8_0 else 0x1E)

    shapes = {"attn_q": (64, 64), "attn_k": (64, 32), "attn_v": (64, 32), "attn_output": (64, 64),
              "ffn_gate": (64, 172), "ffn_up": (64, 172), "ffn_down": (172, 64)}
    every = [(f"blk.{l}.{w}.weight", *io) for l in range(5) for w, io in shapes.items()]
    seeds = {"all_layers": adapter(every), "qv_layer0": adapter([("blk.0.attn_q.weight", 64, 64),
                                                                 ("blk.0.attn_v.weight", 64, 32)]),
             "q8_0": adapter([("blk.1.ffn_down.weight", 172, 64)], r=32, ttype=T_Q8_0),
             "output": adapter([("output.weight", 64, 512)]), "wrong_arch": adapter(every[:2], arch="gemma3"),
             "wrong_shape": adapter([("blk.0.attn_q.weight", 32, 64)]), "not_lora": adapter(every[:2], kind="ia3"),
             "model_not_adapter": adapter(every[:2], gtype="model")}
    for i, (name, data) in enumerate(seeds.items()):
        write("fuzz_lora", name, bytes([i & 3]) + data)

    ctx = b'{"messages":[{"role":"user","content":"x"}],"n":3,"d":{"a":[1,2.5,null,true,"s"]}}'
    templates = [
        b"{% for m in messages %}{{ m.role | upper }}: {{ m.content | trim }}\n{% endfor %}",
        b"{% set ns = namespace(x=0) %}{% for i in range(n) %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}",
        b"{{ d | tojson(indent=2) }}{{ d.a | map('string') | join(',') }}{{ d.a[1:3] | length }}",
        b"{% macro f(x, y=2) %}{{ x * y }}{% if x > 0 %}{{ f(x - 1) }}{% endif %}{% endmacro %}{{ f(3) }}",
        b"{{ 'abc'.split('b') }}{{ '%s-%d' % ('a', 1) }}{{ 10 // 3 }}{{ 2 ** 10 }}{{ 'x' ~ 1 }}",
        b"{% if messages[0]['role'] == 'user' %}{{ raise_exception('no') }}{% endif %}",
        b"{%- for k, v in d.items() | sort -%}{{ k }}={{ v }}{%- if not loop.last %},{% endif -%}{% endfor %}",
        b"{{ (messages | selectattr('role', 'equalto', 'user') | list | last).content }}{{ strftime_now('%Y') }}",
    ]
    for i, t in enumerate(templates):
        write("fuzz_jinja", f"t{i}", t + b"\0" + ctx)
    write("fuzz_jinja", "t_fixed_ctx", templates[0])

    msgs = [b'{"role":"user","content":"hi"}',
            b'[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"}]}]',
            b'[{"role":"assistant","content":null,"tool_calls":[{"type":"function","function":'
            b'{"name":"f","arguments":{"x":1}}}]},{"role":"tool","content":"2"}]',
            b'{"role":"assistant","content":"x","reasoning_content":"think","extra":{"deep":[[[1]]]}}',
            b'{"enable_thinking":false,"tools":[{"name":"f"}]}', b'{"role":1}', b'[1,2', b'"\\ud800"']
    for i, m in enumerate(msgs):
        for op in range(3):
            write("fuzz_chat_json", f"m{i}_{op}", bytes([op]) + m)
    n = sum(len(os.listdir(os.path.join(HERE, "corpus", t))) for t in os.listdir(os.path.join(HERE, "corpus")))
    print(f"make_seeds: {n} seed files under {os.path.join(HERE, 'corpus')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
