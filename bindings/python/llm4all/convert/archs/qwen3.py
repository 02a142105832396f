"""Qwen3 (dense) checkpoints -> GGUF architecture "qwen3": Qwen2's names without the q/k/v
biases, plus an RMSNorm weight over each head of q and k (attn_q_norm / attn_k_norm, as
llama.cpp names them). No Q/K permutation: the qwen3 graph rotates halves like transformers."""

from __future__ import annotations

import gguf

from ..base import register
from ..vocab import llama_family_vocab
from .decoder import LLAMA_BLOCK, DecoderConverter

QWEN3_BLOCK = dict(LLAMA_BLOCK, **{"self_attn.q_norm.weight": "attn_q_norm.weight",
                                   "self_attn.k_norm.weight": "attn_k_norm.weight"})


@register("Qwen3ForCausalLM")
class Qwen3Converter(DecoderConverter):
    arch = "qwen3"
    block = QWEN3_BLOCK
    required_block = list(QWEN3_BLOCK.values())

    def set_parameters(self, w: gguf.GGUFWriter) -> None:
        # Qwen3's config.json states head_dim (0.6B: 128 with 1024 / 16 heads), which
        # base_parameters writes as attention.key_length / value_length.
        self.base_parameters(w)

    def vocab(self):
        return llama_family_vocab(self.src.dir, self.hp.get("vocab_size"), self.pre)
