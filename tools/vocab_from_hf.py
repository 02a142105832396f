#!/usr/bin/env python3
"""Build a vocab-only GGUF (tokenizer keys, no tensors) from a Hugging Face tokenizer.json
(+ tokenizer_config.json beside it), the way llama.cpp's vocab test files are made, so that
tokenizers missing from the test data can be tested against their reference vectors.

    python tools/vocab_from_hf.py path/to/folder-or-tokenizer.json -o ggml-vocab-llama-bpe.gguf [--pre NAME]

Uses this source tree's converter (llm4all.convert.vocab) for the token list, types,
scores, merges, pre-tokenizer name, special ids, add_bos/add_eos and chat template.
"""

import argparse
import json
import os
import sys
import types
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "bindings" / "python" / "llm4all"


def _import_converter():
    # Stand in for the llm4all package so that importing the converter does not load
    # the compiled engine (llm4all/__init__.py imports it).
    # The stub is removed again so that a later `import llm4all` (tests) gets the real one.
    stubbed = "llm4all" not in sys.modules
    if stubbed:
        stub = types.ModuleType("llm4all")
        stub.__path__ = [str(PKG)]
        sys.modules["llm4all"] = stub
    try:
        import gguf
        from llm4all.convert import vocab as cv
        from llm4all.convert.errors import ConvertError
    finally:
        if stubbed:
            del sys.modules["llm4all"]
    return gguf, cv, ConvertError


def _add_tiny_llama(w, n_vocab: int) -> None:
    """A 1-layer llama of width 16 with zero weights: lets an engine that only loads whole
    models (ours, llama.cpp) tokenize with this vocabulary. Its outputs mean nothing."""
    import numpy as np
    E, F = 16, 16
    w.add_context_length(2048)
    w.add_embedding_length(E)
    w.add_block_count(1)
    w.add_feed_forward_length(F)
    w.add_head_count(1)
    w.add_head_count_kv(1)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(E)
    zeros = lambda *shape: np.zeros(shape, dtype=np.float16)   # numpy shape is GGUF ne reversed
    w.add_tensor("token_embd.weight", zeros(n_vocab, E))
    w.add_tensor("output_norm.weight", np.ones(E, dtype=np.float32))
    for name in ("attn_norm", "ffn_norm"):
        w.add_tensor(f"blk.0.{name}.weight", np.ones(E, dtype=np.float32))
    for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
        w.add_tensor(f"blk.0.{name}.weight", zeros(E, E))
    w.add_tensor("blk.0.ffn_gate.weight", zeros(F, E))
    w.add_tensor("blk.0.ffn_up.weight", zeros(F, E))
    w.add_tensor("blk.0.ffn_down.weight", zeros(E, F))


def build(src: Path, out: Path, pre: str = None, arch: str = "llama", name: str = None,
          tiny_model: bool = False) -> str:
    """Writes out; returns a one-line summary. Raises ConvertError for unusable input."""
    gguf, cv, ConvertError = _import_converter()
    folder = src.parent if src.is_file() else src
    if not (folder / "tokenizer.json").is_file():
        raise ConvertError(f"{folder}: no tokenizer.json")
    tj = cv.load_tokenizer_json(folder)
    if tj["model"].get("type") == "WordPiece":
        vocab = cv.wordpiece_vocab(folder, tj, None, pre)
    elif cv.is_spm_style(tj):
        vocab = cv.spm_vocab_from_json(tj, None, cv._config_unk(folder))
        # SentencePiece's dummy prefix shows in tokenizer.json as a Prepend("▁") normaliser
        # (Llama 2) or Metaspace(prepend_scheme) pre-tokenizer; Gemma 3 has neither.
        text = json.dumps([tj.get("normalizer"), tj.get("pre_tokenizer")])
        vocab.extra.setdefault("add_space_prefix", '"Prepend"' in text or '"prepend_scheme": "always"' in text
                               or '"prepend_scheme": "first"' in text or '"add_prefix_space": true' in text)
    else:
        vocab = cv.bpe_vocab(folder, tj, None, pre)
    tmp = out.with_name(out.name + ".tmp")
    w = gguf.GGUFWriter(str(tmp), arch)
    w.add_name(name or folder.name)
    vocab.write(w, folder)
    if tiny_model:
        if arch != "llama":
            raise ConvertError("--tiny-model writes a llama model; leave --arch at llama")
        _add_tiny_llama(w, len(vocab))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, out)   # never leave a half-written file under the final name
    return f"{out}: {vocab.model} vocabulary, {len(vocab)} tokens, pre '{vocab.pre}'" + \
        (" + tiny zero-weight llama" if tiny_model else "")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="vocab_from_hf", description=__doc__.splitlines()[0])
    p.add_argument("src", type=Path, help="tokenizer.json or the folder holding it")
    p.add_argument("-o", "--out", type=Path, required=True, help="output .gguf")
    p.add_argument("--pre", help="tokenizer.ggml.pre (default: detected as llama.cpp's converter does)")
    p.add_argument("--arch", default="llama", help="general.architecture to record (default llama)")
    p.add_argument("--name", help="general.name (default: the folder name)")
    p.add_argument("--tiny-model", action="store_true",
                   help="add a 1-layer zero-weight llama so that engines that load only whole models accept the file")
    a = p.parse_args(argv)
    try:
        print(build(a.src, a.out, a.pre, a.arch, a.name, a.tiny_model))
    except ImportError as e:
        print(f"vocab_from_hf: error: {e} (pip install gguf)", file=sys.stderr)
        return 1
    except Exception as e:   # ConvertError and unreadable files: one clear line, no trace
        if type(e).__name__ not in ("ConvertError", "OSError", "FileNotFoundError", "JSONDecodeError"):
            raise
        print(f"vocab_from_hf: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
