"""Phi-3 / Phi-3.5 / Phi-4 checkpoints -> GGUF architecture "phi3" (Phi3ForCausalLM).

The checkpoint's fused projections are kept fused, as llama.cpp's Phi3MiniModel does:
qkv_proj becomes attn_qkv (rows q | k | v) and gate_up_proj becomes ffn_up (rows
gate | up). RoPE covers partial_rotary_factor of each head (Phi-4-mini: 3/4). LongRoPE
(128k-context) configs get their per-dimension factors as rope_factors_long/short.
"""

from __future__ import annotations

import math
from typing import Dict

import gguf
import numpy as np

from ..base import register
from ..errors import ConvertError
from ..vocab import llama_family_vocab
from .decoder import DecoderConverter

PHI3_BLOCK: Dict[str, str] = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.qkv_proj.weight": "attn_qkv.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


@register("Phi3ForCausalLM")
class Phi3Converter(DecoderConverter):
    arch = "phi3"
    block = PHI3_BLOCK
    required_block = list(PHI3_BLOCK.values())

    @property
    def rope_dims(self) -> int:
        rp = self.hp.get("rope_parameters") if isinstance(self.hp.get("rope_parameters"), dict) else {}
        factor = self.hp.get("partial_rotary_factor", rp.get("partial_rotary_factor", 1.0))
        return int(self.head_dim * float(factor if factor is not None else 1.0))

    def set_parameters(self, w: gguf.GGUFWriter) -> None:
        hp = self.hp
        self.base_parameters(w)
        if hp.get("original_max_position_embeddings") is not None:
            w.add_rope_scaling_orig_ctx_len(int(hp["original_max_position_embeddings"]))
        w.add_rope_dimension_count(self.rope_dims)
        w.add_sliding_window(int(hp.get("sliding_window") or 0))  # 0: none (Phi-4)
        if self.rope_scaling():
            w.add_rope_scaling_attn_factors(self._longrope()[0])

    def _longrope(self):
        rs = self.rope_scaling()
        if rs["rope_type"] not in ("longrope", "su"):
            raise ConvertError(f"config.json: rope scaling {rs['rope_type']!r} is not supported for phi3")
        orig = int(self.need("original_max_position_embeddings"))
        scale = int(self.need("max_position_embeddings")) / orig
        attn = math.sqrt(1 + math.log(scale) / math.log(orig)) if scale > 1.0 else 1.0
        long, short = rs.get("long_factor"), rs.get("short_factor")
        if not long or not short or len(long) != len(short) or len(long) != self.rope_dims // 2:
            raise ConvertError(f"config.json: rope long_factor/short_factor must both have {self.rope_dims // 2} values")
        return attn, np.array(long, dtype=np.float32), np.array(short, dtype=np.float32)

    def extra_tensors(self):
        if not self.rope_scaling():
            return {}
        _, long, short = self._longrope()
        return {"rope_factors_long.weight": long, "rope_factors_short.weight": short}

    def vocab(self):
        return llama_family_vocab(self.src.dir, self.hp.get("vocab_size"), self.pre)
