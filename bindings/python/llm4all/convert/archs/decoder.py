"""Shared pieces of the decoder-only (Llama-like) converters: the checkpoint names of a
transformer block and the metadata keys every such GGUF file carries."""

from __future__ import annotations

import re
from typing import Dict, List, Optional

import gguf

from ..base import ModelConverter
from ..errors import ConvertError

_LAYER = re.compile(r"^(?:model\.)?layers\.(\d+)\.(.+)$")

# Hugging Face name inside "model.layers.N." -> GGUF name inside "blk.N."
LLAMA_BLOCK: Dict[str, str] = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
BIASES: Dict[str, str] = {
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.bias": "attn_output.bias",
}
TOP: Dict[str, str] = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}


class DecoderConverter(ModelConverter):
    """A Llama-shaped decoder: token embedding, N blocks, final norm, LM head."""

    block: Dict[str, str] = LLAMA_BLOCK
    required_block: List[str] = list(LLAMA_BLOCK.values())

    @property
    def n_layer(self) -> int:
        return int(self.need("num_hidden_layers", "n_layer"))

    @property
    def n_head(self) -> int:
        return int(self.need("num_attention_heads", "n_head"))

    @property
    def n_head_kv(self) -> int:
        return int(self.hp.get("num_key_value_heads") or self.n_head)

    @property
    def head_dim(self) -> int:
        return int(self.hp.get("head_dim") or int(self.need("hidden_size")) // self.n_head)

    def tensor_name(self, hf_name: str) -> Optional[str]:
        if hf_name.endswith(("rotary_emb.inv_freq", "attn.masked_bias", "attn.bias")):
            return None
        if hf_name == "lm_head.weight" and self.hp.get("tie_word_embeddings"):
            return None  # the same data as the embedding: llama.cpp reads it from token_embd
        if hf_name in TOP:
            return TOP[hf_name]
        m = _LAYER.match(hf_name)
        if m:
            bid, rest = int(m.group(1)), m.group(2)
            if bid >= self.n_layer:
                raise ConvertError(f"tensor {hf_name!r}: layer {bid} but config.json says {self.n_layer} layers")
            name = self.block.get(rest) or BIASES.get(rest)
            if name:
                return f"blk.{bid}.{name}"
        raise ConvertError(f"cannot map tensor {hf_name!r} for {type(self).__name__} (an unsupported variant?)")

    def expected_tensors(self) -> List[str]:
        names = ["token_embd.weight", "output_norm.weight"]
        if not self.tied():
            names.append("output.weight")
        for b in range(self.n_layer):
            names += [f"blk.{b}.{n}" for n in self.required_block]
        return names

    def base_parameters(self, w: gguf.GGUFWriter) -> None:
        """The keys llama.cpp's converter writes for every text model."""
        w.add_block_count(self.n_layer)
        if self.hp.get("max_position_embeddings") is not None:
            w.add_context_length(int(self.hp["max_position_embeddings"]))
        w.add_embedding_length(int(self.need("hidden_size")))
        w.add_feed_forward_length(int(self.need("intermediate_size")))
        w.add_head_count(self.n_head)
        w.add_head_count_kv(self.n_head_kv)
        theta = self.rope_theta()
        if theta is not None:
            w.add_rope_freq_base(theta)
        w.add_layer_norm_rms_eps(float(self.need("rms_norm_eps")))
        if self.hp.get("head_dim") is not None:
            w.add_key_length(int(self.hp["head_dim"]))
            w.add_value_length(int(self.hp["head_dim"]))
