"""Llama and Mistral checkpoints -> GGUF architecture "llama".

llama.cpp's llama graph rotates adjacent pairs of each head's dimensions while transformers
rotates the two halves, so Q and K rows are interleaved here (the permutation
convert_hf_to_gguf.py applies). Llama 3.1-style rope scaling becomes rope_freqs.weight.
"""

from __future__ import annotations

import math
import gguf
import numpy as np

from ..base import register
from ..vocab import llama_family_vocab
from .decoder import DecoderConverter


def permute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """Rows [half 0 | half 1] of each head -> interleaved (x0, x_half, x1, ...)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


@register("LlamaForCausalLM", "LLaMAForCausalLM", "MistralForCausalLM")
class LlamaConverter(DecoderConverter):
    arch = "llama"

    def transform(self, name: str, data: np.ndarray) -> np.ndarray:
        if name.endswith(("attn_q.weight", "attn_q.bias")):
            return permute_qk(data, self.n_head)
        if name.endswith(("attn_k.weight", "attn_k.bias")):
            return permute_qk(data, self.n_head_kv)
        return data

    def set_parameters(self, w: gguf.GGUFWriter) -> None:
        self.base_parameters(w)
        w.add_vocab_size(int(self.need("vocab_size")))
        w.add_rope_dimension_count(self.head_dim)
        rs = self.rope_scaling()
        if rs and rs["rope_type"] == "linear" and "factor" in rs:
            w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            w.add_rope_scaling_factor(float(rs["factor"]))

    def vocab(self):
        v = llama_family_vocab(self.src.dir, self.hp.get("vocab_size"), self.pre)
        cfg = self.src.dir / "tokenizer_config.json"
        if cfg.is_file():
            from ..source import read_json
            tc = read_json(cfg)
            if isinstance(tc, dict) and "add_prefix_space" in tc and tc["add_prefix_space"] is not None:
                v.extra["add_space_prefix"] = bool(tc["add_prefix_space"])
        return v

    def extra_tensors(self):
        """Llama 3.1 rope scaling: llama.cpp reads per-dimension frequency factors from a
        rope_freqs tensor that the converter computes from the config."""
        rs = self.rope_scaling()
        if not rs or rs["rope_type"] != "llama3":
            return {}
        base, dim = self.rope_theta(10000.0), self.head_dim
        factor = float(rs.get("factor", 8.0))
        low, high = float(rs.get("low_freq_factor", 1.0)), float(rs.get("high_freq_factor", 4.0))
        old_ctx = float(rs.get("original_max_position_embeddings", 8192))
        low_wl, high_wl = old_ctx / low, old_ctx / high
        out = []
        for i in range(0, dim, 2):
            wavelen = 2 * math.pi * base ** (i / dim)
            if wavelen < high_wl:
                out.append(1.0)
            elif wavelen > low_wl:
                out.append(factor)
            else:
                smooth = (old_ctx / wavelen - low) / (high - low)
                out.append(1.0 / ((1 - smooth) / factor + smooth))
        return {"rope_freqs.weight": np.array(out, dtype=np.float32)}
