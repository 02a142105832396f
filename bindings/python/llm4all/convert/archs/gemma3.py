"""Gemma 3 text checkpoints -> GGUF architecture "gemma3" (Gemma3ForCausalLM) or
"gemma-embedding" (Gemma3TextModel, e.g. EmbeddingGemma).

Gemma's RMSNorm multiplies by (1 + weight); llama.cpp's multiplies by weight, so every norm
weight is stored + 1. The block has four norms plus RMS-normed queries and keys, and the
embedding is tied to the output.
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional

import gguf
import numpy as np

from ..base import register
from ..errors import ConvertError
from ..source import read_json
from ..vocab import llama_family_vocab
from .decoder import DecoderConverter

GEMMA3_BLOCK: Dict[str, str] = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_norm.weight": "attn_q_norm.weight",
    "self_attn.k_norm.weight": "attn_k_norm.weight",
    "post_attention_layernorm.weight": "post_attention_norm.weight",
    "pre_feedforward_layernorm.weight": "ffn_norm.weight",
    "post_feedforward_layernorm.weight": "post_ffw_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_PREFIX = re.compile(r"^(?:model\.)?(?:language_model\.)?(?:model\.)?")


@register("Gemma3ForCausalLM")
class Gemma3Converter(DecoderConverter):
    arch = "gemma3"
    block = GEMMA3_BLOCK
    required_block = list(GEMMA3_BLOCK.values())

    def tied(self) -> bool:
        return True

    def tensor_name(self, hf_name: str) -> Optional[str]:
        if hf_name == "lm_head.weight":
            return None  # always tied to the embedding
        # Gemma3TextModel checkpoints drop the "model." prefix; multimodal ones add "language_model.".
        if hf_name.startswith(("vision_tower.", "multi_modal_projector.")):
            return None
        return super().tensor_name("model." + _PREFIX.sub("", hf_name) if not hf_name.startswith("lm_head")
                                   else hf_name)

    def transform(self, name: str, data: np.ndarray) -> np.ndarray:
        if name.endswith("norm.weight"):
            return data + np.float32(1.0)
        if name == "token_embd.weight" and data.shape[0] > self.n_vocab_rows:
            return data[: self.n_vocab_rows]  # rows past the vocabulary are never used
        return data

    def out_shape(self, name, shape):
        if name == "token_embd.weight":
            self.n_vocab_rows = min(shape[0], int(self.hp.get("vocab_size") or shape[0]))
            return (self.n_vocab_rows, *shape[1:])
        return shape

    def set_parameters(self, w: gguf.GGUFWriter) -> None:
        hp = self.hp
        w.add_block_count(self.n_layer)
        w.add_context_length(int(hp.get("max_position_embeddings", 131072)))
        w.add_embedding_length(int(self.need("hidden_size")))
        w.add_feed_forward_length(int(self.need("intermediate_size")))
        w.add_head_count(int(hp.get("num_attention_heads", 8)))
        w.add_head_count_kv(int(hp.get("num_key_value_heads", 4)))
        w.add_layer_norm_rms_eps(float(hp.get("rms_norm_eps", 1e-6)))
        w.add_key_length(int(hp.get("head_dim", 256)))
        w.add_value_length(int(hp.get("head_dim", 256)))
        # The file's base is the global layers'; the sliding layers' base is written as
        # llama.cpp's converter does, from rope_local_base_freq (transformers 4.x, beside a
        # top-level rope_theta that is the global one) or rope_parameters.sliding_attention.
        w.add_rope_freq_base(self.rope_theta(1_000_000.0))
        local = hp.get("rope_local_base_freq")
        rp = hp.get("rope_parameters")
        if local is None and isinstance(rp, dict) and isinstance(rp.get("sliding_attention"), dict):
            local = rp["sliding_attention"].get("rope_theta")
        if local is not None:
            w.add_rope_freq_base_swa(float(local))
        if hp.get("attn_logit_softcapping") is not None:
            raise ConvertError("config.json: attn_logit_softcapping is set, which Gemma 3 does not use")
        if hp.get("final_logit_softcapping") is not None:
            w.add_final_logit_softcapping(float(hp["final_logit_softcapping"]))
        w.add_sliding_window(int(self.need("sliding_window")))
        rs = self.rope_scaling()
        if rs and rs["rope_type"] == "linear":
            # Applies to the global layers only (as in transformers).
            w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            w.add_rope_scaling_factor(float(rs["factor"]))

    def vocab(self):
        v = llama_family_vocab(self.src.dir, self.hp.get("vocab_size"), self.pre)
        if v.model == "llama":
            v.extra["add_space_prefix"] = False  # Gemma's SentencePiece adds no dummy prefix
        return v


def pooling_type(folder) -> Optional[gguf.PoolingType]:
    """The sentence-transformers pooling of a folder (modules.json -> Pooling config), or
    None when the folder is not a sentence-transformers model."""
    from pathlib import Path
    folder = Path(folder)
    path = None
    modules = folder / "modules.json"
    if modules.is_file():
        for mod in read_json(modules) or []:
            if isinstance(mod, dict) and mod.get("type") == "sentence_transformers.models.Pooling":
                path = folder / str(mod.get("path", "")) / "config.json"
                break
    elif (folder / "1_Pooling" / "config.json").is_file():
        path = folder / "1_Pooling" / "config.json"
    if path is None:
        return None
    cfg = read_json(path)
    if cfg.get("pooling_mode_mean_tokens"):
        return gguf.PoolingType.MEAN
    if cfg.get("pooling_mode_cls_token"):
        return gguf.PoolingType.CLS
    if cfg.get("pooling_mode_lasttoken"):
        return gguf.PoolingType.LAST
    raise ConvertError(f"{path}: only mean, CLS and last-token pooling are supported")


def dense_modules(folder) -> List[Dict]:
    """The sentence-transformers Dense modules of a folder that have weights, in pipeline
    order: [{"path", "in_features", "out_features", "bias", "activation_function"}]."""
    from pathlib import Path
    folder = Path(folder)
    if not (folder / "modules.json").is_file():
        return []
    out = []
    for mod in read_json(folder / "modules.json") or []:
        if not (isinstance(mod, dict) and str(mod.get("type", "")).endswith(".Dense")):
            continue
        path = str(mod.get("path", ""))
        if (folder / path / "model.safetensors").is_file():
            out.append(dict(read_json(folder / path / "config.json"), path=path))
    return out


@register("Gemma3TextModel")
class EmbeddingGemmaConverter(Gemma3Converter):
    """Bidirectional Gemma 3 used as a sentence encoder (EmbeddingGemma).

    The sentence-transformers pipeline is transformer -> mean pooling -> 2_Dense (768 ->
    3072) -> 3_Dense (3072 -> 768) -> normalise. The two projections are written as
    dense_2.weight / dense_3.weight with their {arch}.dense_N_feat_in/out sizes, which
    llama.cpp applies after pooling (its converter writes them when given
    --sentence-transformers-dense-modules); without them the embedding would be a
    different vector from the one sentence-transformers gives.
    """

    arch = "gemma-embedding"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.dense: Dict[str, Dict] = {}   # GGUF prefix ("dense_2") -> module config
        mods = dense_modules(self.src.dir)
        if len(mods) > 2:
            raise ConvertError(f"{self.src.dir}: {len(mods)} Dense modules; llama.cpp applies at most two")
        for i, mod in enumerate(mods):
            prefix = f"dense_{i + 2}"
            act = str(mod.get("activation_function") or "Identity")
            if mod.get("bias") or not act.endswith("Identity"):
                raise ConvertError(f"{mod['path']}/config.json: a Dense layer with bias or activation "
                                   f"({act}) is not supported (llama.cpp applies plain projections)")
            for name in self.src.add_file(self.src.dir / mod["path"] / "model.safetensors", mod["path"] + "/"):
                if name != mod["path"] + "/linear.weight":
                    raise ConvertError(f"{mod['path']}/model.safetensors: unexpected tensor {name!r}")
            self.dense[prefix] = mod

    def tensor_name(self, hf_name: str) -> Optional[str]:
        for prefix, mod in self.dense.items():
            if hf_name == mod["path"] + "/linear.weight":
                return prefix + ".weight"
        return super().tensor_name(hf_name)

    def set_parameters(self, w: gguf.GGUFWriter) -> None:
        super().set_parameters(w)
        for prefix, mod in self.dense.items():
            w.add_dense_features_dims(prefix, int(mod["in_features"]), int(mod["out_features"]))
        pt = pooling_type(self.src.dir)
        if pt is not None:
            w.add_pooling_type(pt)
