"""Qwen2 / Qwen2.5 checkpoints -> GGUF architecture "qwen2" (Q/K/V biases, no Q/K
permutation: llama.cpp's qwen2 graph rotates halves like transformers)."""

from __future__ import annotations

import gguf

from ..base import register
from ..vocab import llama_family_vocab
from .decoder import DecoderConverter


@register("Qwen2ForCausalLM")
class Qwen2Converter(DecoderConverter):
    arch = "qwen2"
    required_block = DecoderConverter.required_block + ["attn_q.bias", "attn_k.bias", "attn_v.bias"]

    def set_parameters(self, w: gguf.GGUFWriter) -> None:
        self.base_parameters(w)
        rs = self.rope_scaling()
        if rs and rs["rope_type"] == "yarn" and "factor" in rs:
            w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
            w.add_rope_scaling_factor(float(rs["factor"]))
            w.add_rope_scaling_orig_ctx_len(int(rs["original_max_position_embeddings"]))

    def vocab(self):
        return llama_family_vocab(self.src.dir, self.hp.get("vocab_size"), self.pre)
