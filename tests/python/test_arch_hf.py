"""Architecture conformance against Hugging Face transformers on tiny random models.

Each case builds a small random Llama/Qwen2 model in transformers (fixed seed), writes it as
GGUF the way llama.cpp's convert_hf_to_gguf.py does (tensor names, metadata keys, the Q/K
row permutation of the `llama` arch), and compares our logits for every position of a
40-token prompt with transformers'. The vocabulary is stories260K's, so the files carry a
real tokenizer. No downloads: only the shared stories260K.gguf is read (for its tokenizer).
"""
import json

import numpy as np
import pytest

from llm4all import _core

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
gguf = pytest.importorskip("gguf")
from gguf.quants import dequantize, quantize  # noqa: E402

GQT = gguf.GGMLQuantizationType
N_TOKENS = 40
TEXT = ("Once upon a time, there was a little girl named Lily. She loved to play outside in the park "
        "with her friends. One day, she saw a big red ball under a tree and ran to get it.")

# name -> (architecture, HF config overrides, storage type of the 2-D weights)
CASES = {
    "llama": ("llama", dict(tie_word_embeddings=False), GQT.F32),
    "llama_tied": ("llama", dict(tie_word_embeddings=True), GQT.F32),
    # Small embeddings (as Llama 3 has, std ~0.01) make the first norms' epsilon matter.
    "llama_mha_theta": ("llama", dict(tie_word_embeddings=False, num_key_value_heads=4,
                                      rope_theta=500000.0, rms_norm_eps=1e-6, embed_std=0.01), GQT.F32),
    "qwen2": ("qwen2", dict(tie_word_embeddings=True, rms_norm_eps=1e-6, rope_theta=1000000.0), GQT.F32),
    "qwen2_f16": ("qwen2", dict(tie_word_embeddings=True, rms_norm_eps=1e-6), GQT.F16),
    "qwen2_q8_0": ("qwen2", dict(tie_word_embeddings=True, rms_norm_eps=1e-6), GQT.Q8_0),
    "llama_q8_0": ("llama", dict(tie_word_embeddings=False), GQT.Q8_0),
}


# ---- tokenizer and prompt ---------------------------------------------------------------

@pytest.fixture(scope="module")
def tokenizer_kv(stories260k):
    """The tokenizer.* metadata of stories260K as (key, value, type, sub_type)."""
    reader = gguf.GGUFReader(str(stories260k))
    out = []
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
        out.append((key, field.contents(), vtype, sub))
    return out


@pytest.fixture(scope="module")
def prompt_ids(stories260k):
    ids = _core.Model(str(stories260k)).tokenize(TEXT, add_special=True)[:N_TOKENS]
    assert len(ids) == N_TOKENS and ids[0] == 1, "the prompt should start with BOS and give 40 tokens"
    return ids


# ---- the HF model -----------------------------------------------------------------------

def make_hf_model(arch: str, overrides: dict, seed: int = 1234):
    base = dict(vocab_size=512, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                bos_token_id=1, eos_token_id=2, pad_token_id=None)
    base.update(overrides)
    embed_std = base.pop("embed_std", 1.0)
    cls_cfg, cls_model = {
        "llama": (transformers.LlamaConfig, transformers.LlamaForCausalLM),
        "qwen2": (transformers.Qwen2Config, transformers.Qwen2ForCausalLM),
    }[arch]
    cfg = cls_cfg(**base)
    cfg._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = cls_model(cfg).eval()
    # HF's init (std 0.02, unit norms, zero biases) would give near-zero logits that hide
    # mistakes; draw every parameter so activations and logits are O(1) and norms/biases
    # are not trivial.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith(".bias"):
                p.copy_(0.5 * torch.randn_like(p))
            elif "embed_tokens" in name:
                p.copy_(embed_std * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / np.sqrt(p.shape[1]))
    return model


# ---- GGUF writing (llama.cpp's conventions) ---------------------------------------------

def permute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF stores rotary pairs as halves of each head (rotate_half); llama.cpp's `llama`
    arch rotates adjacent pairs, so its converter interleaves the rows of Q and K."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def unpermute_qk(w: np.ndarray, n_head: int) -> np.ndarray:
    """The inverse of permute_qk: back to HF's row order."""
    return (w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


# GGUF tensor name (per layer after "blk.N.") -> HF parameter name (after "model.layers.N.").
LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight", "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight", "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight", "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.bias": "self_attn.k_proj.bias", "attn_v.bias": "self_attn.v_proj.bias",
    "ffn_norm.weight": "post_attention_layernorm.weight", "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight", "ffn_down.weight": "mlp.down_proj.weight",
}


def name_pairs(model):
    """(GGUF name, HF name) of every tensor the file holds, as convert_hf_to_gguf.py names
    them; tied embeddings write no output.weight."""
    cfg = model.config
    keys = set(model.state_dict())
    pairs = [("token_embd.weight", "model.embed_tokens.weight"), ("output_norm.weight", "model.norm.weight")]
    if not cfg.tie_word_embeddings:
        pairs.append(("output.weight", "lm_head.weight"))
    for layer in range(cfg.num_hidden_layers):
        for g, h in LAYER_NAMES.items():
            if f"model.layers.{layer}.{h}" in keys:
                pairs.append((f"blk.{layer}.{g}", f"model.layers.{layer}.{h}"))
    return pairs


def write_gguf(path, model, arch: str, wtype, tokenizer_kv):
    """Writes model as GGUF; returns {gguf name: the float32 weights the file really holds,
    in HF layout} so the reference can load exactly what was stored."""
    cfg = model.config
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(f"tiny-random-{arch}")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    # transformers 5 keeps rope_theta in rope_parameters; 4.x has it on the config.
    rope = getattr(cfg, "rope_parameters", None) or {"rope_theta": cfg.rope_theta}
    w.add_rope_freq_base(float(rope["rope_theta"]))
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_vocab_size(cfg.vocab_size)
    w.add_file_type({GQT.F32: gguf.LlamaFileType.ALL_F32, GQT.F16: gguf.LlamaFileType.MOSTLY_F16,
                     GQT.Q8_0: gguf.LlamaFileType.MOSTLY_Q8_0}[wtype])
    for key, val, vtype, sub in tokenizer_kv:
        w.add_key_value(key, val, vtype, sub_type=sub)

    sd = model.state_dict()
    stored = {}
    for name, hf_name in name_pairs(model):
        data = sd[hf_name].detach().float().numpy()
        hf_layout, heads = data, None
        if arch == "llama" and name.endswith("attn_q.weight"):
            heads = cfg.num_attention_heads
        elif arch == "llama" and name.endswith("attn_k.weight"):
            heads = cfg.num_key_value_heads
        if heads:
            data = permute_qk(data, heads)
        data = np.ascontiguousarray(data, dtype=np.float32)
        # As the converter does: vectors (norms, biases) stay F32, matrices take the file type.
        if data.ndim == 1 or wtype == GQT.F32:
            w.add_tensor(name, data)
            stored[name] = hf_layout
        elif wtype == GQT.F16:
            w.add_tensor(name, data.astype(np.float16))
            stored[name] = hf_layout.astype(np.float16).astype(np.float32)  # a permutation commutes with rounding
        else:
            q = quantize(data, wtype)
            w.add_tensor(name, q, raw_dtype=wtype)
            back = dequantize(q, wtype).reshape(data.shape)
            stored[name] = unpermute_qk(back, heads) if heads else back
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return stored


def load_stored_weights(model, stored):
    """Puts the weights as stored in the GGUF (rounded/quantized) back into the HF model."""
    sd = model.state_dict()
    with torch.no_grad():
        for name, hf_name in name_pairs(model):
            sd[hf_name].copy_(torch.from_numpy(stored[name]))


# ---- activation rounding as the engine (and llama.cpp) does it --------------------------

def _round_half_away(v: torch.Tensor) -> torch.Tensor:
    r = torch.round(v)  # half to even; C's roundf rounds ties away from zero
    t = torch.trunc(v)
    return torch.where(torch.abs(v - t) == 0.5, t + torch.sign(v), r)


def round_activations(x: torch.Tensor, wtype) -> torch.Tensor:
    """What a matrix product against a wtype weight sees of its input x: F16 rounding, or
    Q8_0 blocks of 32 (d = amax/127 kept as fp16, q = roundf(x / d))."""
    if wtype == GQT.F16:
        return x.to(torch.float16).to(torch.float32)
    blocks = x.reshape(*x.shape[:-1], -1, 32)
    amax = blocks.abs().amax(dim=-1, keepdim=True)
    d = amax / 127.0
    inv = torch.where(d != 0, 1.0 / torch.where(d != 0, d, torch.ones_like(d)), torch.zeros_like(d))
    q = _round_half_away(blocks * inv)
    return (q * d.to(torch.float16).to(torch.float32)).reshape(x.shape)


def hf_logits(model, ids, emulate_wtype=None):
    hooks = []
    if emulate_wtype is not None:
        for mod in model.modules():
            if isinstance(mod, torch.nn.Linear):
                hooks.append(mod.register_forward_pre_hook(
                    lambda m, args: (round_activations(args[0], emulate_wtype),)))
    try:
        with torch.no_grad():
            return model(torch.tensor([ids])).logits[0].numpy()
    finally:
        for h in hooks:
            h.remove()


def cpu_variants():
    """Every CPU backend variant that can run here (generic, avx2, ...): each is checked."""
    found = [f"{d['backend']}-{d['variant']}" for d in json.loads(_core.devices_json())
             if d["backend"] == "cpu" and d["score"] > 0]
    return sorted(set(found)) or ["cpu"]


def our_logits(path, ids, device="cpu", n_threads=2):
    model = _core.Model(str(path), device=device)
    # An F32 KV cache: the float-tight comparisons with transformers must not see F16 rounding.
    session = _core.Session(model, n_ctx=64, n_batch=16, n_threads=n_threads, kv_type="f32")
    session.decode(ids, all_logits=True)
    return session.logits()


# ---- the cases ----------------------------------------------------------------------------

@pytest.mark.parametrize("case", list(CASES))
def test_logits_match_transformers(case, tmp_path, tokenizer_kv, prompt_ids):
    arch, overrides, wtype = CASES[case]
    model = make_hf_model(arch, overrides)
    path = tmp_path / f"{case}.gguf"
    stored = write_gguf(path, model, arch, wtype, tokenizer_kv)
    if wtype == GQT.F32:
        theirs = hf_logits(model, prompt_ids)
    else:
        # Reduced-precision weights: the reference runs on exactly the stored (rounded or
        # quantized-back) weights. The engine also rounds each matrix product's input (to
        # F16, or to Q8_0 blocks, as llama.cpp does); emulating that in transformers makes a
        # tight check, and the plain comparison bounds the total effect of that rounding.
        load_stored_weights(model, stored)
        emulated = hf_logits(model, prompt_ids, emulate_wtype=wtype)
        theirs = hf_logits(model, prompt_ids)
    scale = float(np.abs(theirs).max())

    for device in cpu_variants():
        # n_batch 16 < 40 tokens: the prompt goes through the KV cache in three batches.
        ours = our_logits(path, prompt_ids, device)
        assert ours.shape == theirs.shape == (N_TOKENS, 512)
        err = np.abs(ours - theirs).max()
        if wtype == GQT.F32:
            print(f"{case} on {device}: max |logit| {scale:.2f}, max |difference| {err:.2e}")
            assert err <= 1e-4
            continue
        err_emul = np.abs(ours - emulated).max()
        print(f"{case} on {device}: max |logit| {scale:.2f}, max |difference| with rounded "
              f"activations {err_emul:.2e}, with float activations {err:.2e}")
        if wtype == GQT.F16:
            # F16 keeps 11 significant bits, so float-noise differences (summation order,
            # ~1e-5 here) flip the rounding of some activations by one F16 step and the
            # flips propagate: transformers itself, with this emulation, differs by ~1e-2
            # between its eager and sdpa attention. So both checks allow one F16 step
            # (2^-10) of the largest logit (~0.045 for |logit| ~46; seen ~1.3e-2, ~1.7e-2).
            assert err_emul <= 2.0 ** -10 * scale
            assert err <= 2.0 ** -10 * scale
        else:
            # Q8_0 steps (amax/127 of a block of 32) are coarse enough that float noise
            # hardly ever flips one: the emulated check is float-tight (seen ~1e-5).
            # Without emulation, activation quantization (~0.4% of each block's range)
            # moves logits by about 1% of their scale (seen ~0.45 for |logit| ~46).
            assert err_emul <= 1e-3
            assert err <= 2e-2 * scale


def test_prefix_reuse(tmp_path, tokenizer_kv, prompt_ids):
    arch, overrides, wtype = CASES["qwen2"]
    path = tmp_path / "prefix.gguf"
    write_gguf(path, make_hf_model(arch, overrides), arch, wtype, tokenizer_kv)
    model = _core.Model(str(path))

    fresh = _core.Session(model, n_ctx=64, n_threads=2)
    fresh.decode(prompt_ids, all_logits=False)
    want = fresh.logits()[-1]

    s = _core.Session(model, n_ctx=64, n_threads=2)
    s.decode(prompt_ids[:20], all_logits=False)
    s.set_tokens(prompt_ids)
    assert s.n_past == N_TOKENS
    got = s.logits()[-1]
    err = np.abs(got - want).max()
    print(f"prefix reuse: max |difference| {err:.2e}")
    assert err <= 1e-5

    # generate() reports that only the tokens after the cached prefix were decoded.
    short, full = "Once upon a time, there was a little girl", \
        "Once upon a time, there was a little girl named Lily. She loved to play"
    t_short, t_full = model.tokenize(short), model.tokenize(full)
    assert t_full[:len(t_short)] == t_short, "the longer prompt should extend the shorter one's tokens"
    g = _core.Session(model, n_ctx=128, n_threads=2)
    _, st1 = g.generate(short, max_tokens=0, temp=0)
    assert st1["n_prompt_tokens"] == len(t_short) and st1["n_prompt_decoded"] == len(t_short)
    _, st2 = g.generate(full, max_tokens=4, temp=0)
    assert st2["n_prompt_tokens"] == len(t_full)
    assert st2["n_prompt_decoded"] == len(t_full) - len(t_short)
    # After generating, the cache holds prompt + generated tokens; the same prompt again
    # only re-decodes its last token (for fresh logits).
    _, st3 = g.generate(full, max_tokens=1, temp=0)
    assert st3["n_prompt_decoded"] == 1
