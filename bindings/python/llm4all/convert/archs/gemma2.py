"""Gemma 2 checkpoints -> GGUF architecture "gemma2" (Gemma2ForCausalLM).

Gemma 1's layout plus norms after attention and feed-forward, a sliding window on every
other layer, and soft-capped attention scores and logits. As llama.cpp's Gemma2Model
writes it; GGUF has no key for query_pre_attn_scalar, so (as there) a checkpoint whose
value differs from what the loader infers (head_dim, or n_embd / n_head for the 46-layer
27B) is refused rather than converted into a file that would run differently.
"""

from __future__ import annotations

from typing import Dict

import gguf

from ..base import register
from ..errors import ConvertError
from .gemma import GemmaFamilyConverter

GEMMA2_BLOCK: Dict[str, str] = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "post_attention_norm.weight",
    "pre_feedforward_layernorm.weight": "ffn_norm.weight",
    "post_feedforward_layernorm.weight": "post_ffw_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


@register("Gemma2ForCausalLM")
class Gemma2Converter(GemmaFamilyConverter):
    arch = "gemma2"
    block = GEMMA2_BLOCK
    required_block = list(GEMMA2_BLOCK.values())

    def set_parameters(self, w: gguf.GGUFWriter) -> None:
        hp = self.hp
        self.gemma_parameters(w)
        q_pre = hp.get("query_pre_attn_scalar")
        inferred = int(self.need("hidden_size")) // self.n_head if self.n_layer == 46 else self.head_dim
        if q_pre is not None and float(q_pre) != float(inferred):
            raise ConvertError(f"config.json: query_pre_attn_scalar {q_pre} differs from {inferred}, the value a "
                               "gemma2 GGUF implies for this shape")
        # 0 says "none" (the loaders' defaults, 50 and 30, apply only when a key is absent).
        for key, add in (("attn_logit_softcapping", w.add_attn_logit_softcapping),
                         ("final_logit_softcapping", w.add_final_logit_softcapping)):
            add(float(hp[key]) if hp.get(key) is not None else 0.0)
        w.add_sliding_window(int(hp.get("sliding_window") or 0))
