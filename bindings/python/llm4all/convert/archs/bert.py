"""BERT encoders (BertModel; sentence-transformers folders such as all-MiniLM-L6-v2) ->
GGUF architecture "bert", with the pooling mode from the sentence-transformers config and
a WordPiece vocabulary in llama.cpp's phantom-space form."""

from __future__ import annotations

import re
from typing import Dict, List, Optional

import gguf

from ..base import ModelConverter, register
from ..errors import ConvertError
from ..vocab import load_tokenizer_json, wordpiece_vocab
from .gemma3 import pooling_type

_LAYER = re.compile(r"^encoder\.layer\.(\d+)\.(.+)$")

TOP: Dict[str, str] = {
    "embeddings.word_embeddings.weight": "token_embd.weight",
    "embeddings.position_embeddings.weight": "position_embd.weight",
    "embeddings.token_type_embeddings.weight": "token_types.weight",
    "embeddings.LayerNorm.weight": "token_embd_norm.weight",
    "embeddings.LayerNorm.bias": "token_embd_norm.bias",
}
BLOCK: Dict[str, str] = {
    "attention.self.query": "attn_q",
    "attention.self.key": "attn_k",
    "attention.self.value": "attn_v",
    "attention.output.dense": "attn_output",
    "attention.output.LayerNorm": "attn_output_norm",
    "intermediate.dense": "ffn_up",
    "output.dense": "ffn_down",
    "output.LayerNorm": "layer_output_norm",
}
_DROP = ("embeddings.position_ids", "pooler.", "cls.")


@register("BertModel", "BertForMaskedLM")
class BertConverter(ModelConverter):
    arch = "bert"

    @property
    def n_layer(self) -> int:
        return int(self.need("num_hidden_layers"))

    def tensor_name(self, hf_name: str) -> Optional[str]:
        name = hf_name[5:] if hf_name.startswith("bert.") else hf_name
        # Old checkpoints call LayerNorm parameters gamma/beta.
        if name.endswith(".gamma"):
            name = name[:-6] + ".weight"
        elif name.endswith(".beta"):
            name = name[:-5] + ".bias"
        if name.startswith(_DROP):
            return None  # the pooler and MLM head are not used for embeddings
        if name in TOP:
            return TOP[name]
        m = _LAYER.match(name)
        if m:
            bid, rest = int(m.group(1)), m.group(2)
            module, _, param = rest.rpartition(".")
            if module in BLOCK and param in ("weight", "bias") and bid < self.n_layer:
                return f"blk.{bid}.{BLOCK[module]}.{param}"
        raise ConvertError(f"cannot map tensor {hf_name!r} for BertModel")

    def expected_tensors(self) -> List[str]:
        names = ["token_embd.weight", "position_embd.weight", "token_embd_norm.weight", "token_embd_norm.bias"]
        for b in range(self.n_layer):
            names += [f"blk.{b}.{t}.weight" for t in BLOCK.values()]
        return names

    def force_f32(self, name: str) -> bool:
        return name in ("position_embd.weight", "token_types.weight")

    def set_parameters(self, w: gguf.GGUFWriter) -> None:
        hp = self.hp
        w.add_block_count(self.n_layer)
        w.add_context_length(int(self.need("max_position_embeddings")))
        w.add_embedding_length(int(self.need("hidden_size")))
        w.add_feed_forward_length(int(self.need("intermediate_size")))
        w.add_head_count(int(self.need("num_attention_heads")))
        w.add_layer_norm_eps(float(hp.get("layer_norm_eps", 1e-12)))
        w.add_causal_attention(False)
        pt = pooling_type(self.src.dir)
        if pt is not None:
            w.add_pooling_type(pt)

    def vocab(self):
        v = wordpiece_vocab(self.src.dir, load_tokenizer_json(self.src.dir), self.hp.get("vocab_size"), self.pre)
        v.extra["token_type_count"] = int(self.hp.get("type_vocab_size", 1))
        return v
