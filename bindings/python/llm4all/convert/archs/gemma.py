"""Gemma (1) checkpoints -> GGUF architecture "gemma" (GemmaForCausalLM).

Gemma 1 is Gemma 3 without the extra norms, the per-head q/k norms and the sliding
window: the same checkpoint names for the rest, the same (1 + weight) norms stored + 1,
the same tied embedding and SentencePiece vocabulary. So the converter is Gemma 3's with
Llama's block names and fewer metadata keys (those llama.cpp's GemmaModel writes).
"""

from __future__ import annotations

import gguf

from ..base import register
from .decoder import LLAMA_BLOCK
from .gemma3 import Gemma3Converter


class GemmaFamilyConverter(Gemma3Converter):
    """What Gemma 1 and 2 share: the keys every Gemma file has."""

    def gemma_parameters(self, w: gguf.GGUFWriter) -> None:
        hp = self.hp
        w.add_block_count(self.n_layer)
        w.add_context_length(int(hp.get("max_position_embeddings", 8192)))
        w.add_embedding_length(int(self.need("hidden_size")))
        w.add_feed_forward_length(int(self.need("intermediate_size")))
        w.add_head_count(self.n_head)
        w.add_head_count_kv(self.n_head_kv)
        w.add_layer_norm_rms_eps(float(self.need("rms_norm_eps")))
        w.add_key_length(self.head_dim)
        w.add_value_length(self.head_dim)
        theta = self.rope_theta()
        if theta is not None:
            w.add_rope_freq_base(theta)
        if self.rope_scaling():
            from ..errors import ConvertError
            raise ConvertError(f"config.json: rope scaling is not supported for {self.arch}")


@register("GemmaForCausalLM")
class GemmaConverter(GemmaFamilyConverter):
    arch = "gemma"
    block = LLAMA_BLOCK
    required_block = list(LLAMA_BLOCK.values())

    def set_parameters(self, w: gguf.GGUFWriter) -> None:
        self.gemma_parameters(w)
