"""Gemma 3 conformance against Hugging Face transformers on tiny random models.

A small random Gemma3ForCausalLM (7 layers, so both sliding-window and global layers run; a
window of 8 over a 40-token prompt, so the window really cuts) is written as GGUF the way
llama.cpp's convert_hf_to_gguf.py writes Gemma 3 (the gguf package's tensor-name map, +1
folded into every norm weight, its metadata keys), and our logits for every position are
compared with transformers'. The vocabulary is stories260K's, so the file has a tokenizer.
"""
import numpy as np
import pytest

from llm4all import _core

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
gguf = pytest.importorskip("gguf")

# The tokenizer metadata, the prompt, the runner and the variant list are shared with the
# llama/qwen2 conformance tests.
from test_arch_hf import N_TOKENS, cpu_variants, hf_logits, our_logits, prompt_ids, tokenizer_kv  # noqa: E402,F401

WINDOW = 8
# name -> HF config overrides
CASES = {
    "gemma3": {},
    # Linear RoPE scaling applies to the global layers only (as transformers and llama.cpp do).
    "gemma3_rope_linear": dict(rope_scaling={"rope_type": "linear", "factor": 4.0}),
    # Gemma 3 releases have no final soft-capping, but the key is honoured when a file has it.
    "gemma3_softcap": dict(final_logit_softcapping=30.0),
}


def make_hf_model(overrides: dict, seed: int = 1234):
    cfg = transformers.Gemma3TextConfig(
        vocab_size=512, hidden_size=64, intermediate_size=96, num_hidden_layers=7,
        num_attention_heads=4, num_key_value_heads=2, head_dim=32, query_pre_attn_scalar=32,
        sliding_window=WINDOW, max_position_embeddings=256, rms_norm_eps=1e-6,
        bos_token_id=1, eos_token_id=2, pad_token_id=None, tie_word_embeddings=True, **overrides)
    cfg._attn_implementation = "eager"
    assert "full_attention" in cfg.layer_types and "sliding_attention" in cfg.layer_types
    torch.manual_seed(seed)
    model = transformers.Gemma3ForCausalLM(cfg).eval()
    # Draw every parameter so activations are O(1): Gemma norms scale by (1 + weight), so
    # their weights are drawn around 0.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(0.2 * torch.randn_like(p))
            elif "embed_tokens" in name:
                p.copy_(torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / np.sqrt(p.shape[1]))
    return model


def write_gguf(path, model, tokenizer_kv):
    """As convert_hf_to_gguf.py's Gemma3Model: keys, tensor names, norm weights + 1."""
    cfg = model.config
    arch = gguf.MODEL_ARCH.GEMMA3
    w = gguf.GGUFWriter(str(path), gguf.MODEL_ARCH_NAMES[arch])
    w.add_name("tiny-random-gemma3")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_key_length(cfg.head_dim)
    w.add_value_length(cfg.head_dim)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    rope = cfg.rope_parameters["full_attention"]
    w.add_rope_freq_base(float(rope["rope_theta"]))   # the global layers'; 10000 locally
    assert float(cfg.rope_parameters["sliding_attention"]["rope_theta"]) == 10000.0
    w.add_sliding_window(cfg.sliding_window)
    w.add_head_count_kv(cfg.num_key_value_heads)
    if rope.get("rope_type") == "linear":
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(float(rope["factor"]))
    if cfg.final_logit_softcapping is not None:
        w.add_final_logit_softcapping(float(cfg.final_logit_softcapping))
    w.add_vocab_size(cfg.vocab_size)
    for key, val, vtype, sub in tokenizer_kv:
        w.add_key_value(key, val, vtype, sub_type=sub)

    names = gguf.get_tensor_name_map(arch, cfg.num_hidden_layers)
    for hf_name, t in model.state_dict().items():
        if hf_name == "lm_head.weight":
            continue  # tied: the converter writes no output.weight
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        assert name is not None, f"no GGUF name for {hf_name}"
        data = t.detach().float().numpy()
        if hf_name.endswith("norm.weight"):
            data = data + 1.0   # Gemma3RMSNorm multiplies by (1 + weight)
        w.add_tensor(name, np.ascontiguousarray(data, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.mark.parametrize("case", list(CASES))
def test_logits_match_transformers(case, tmp_path, tokenizer_kv, prompt_ids):
    model = make_hf_model(CASES[case])
    path = tmp_path / f"{case}.gguf"
    write_gguf(path, model, tokenizer_kv)
    theirs = hf_logits(model, prompt_ids)
    scale = float(np.abs(theirs).max())
    for device in cpu_variants():
        # n_batch 16 < 40 tokens: later batches' windows reach back into the cache.
        ours = our_logits(path, prompt_ids, device)
        assert ours.shape == theirs.shape == (N_TOKENS, 512)
        err = np.abs(ours - theirs).max()
        print(f"{case} on {device}: max |logit| {scale:.2f}, max |difference| {err:.2e}")
        assert err <= 1e-4


def test_window_matters(tmp_path, tokenizer_kv, prompt_ids):
    """The same weights with a window longer than the prompt give different late logits
    but identical logits while every position is still inside the window: so the first
    test really exercises the window."""
    model = make_hf_model({})
    narrow, wide = tmp_path / "narrow.gguf", tmp_path / "wide.gguf"
    write_gguf(narrow, model, tokenizer_kv)
    model.config.sliding_window = 64
    write_gguf(wide, model, tokenizer_kv)
    a, b = our_logits(narrow, prompt_ids), our_logits(wide, prompt_ids)
    assert np.abs(a[:WINDOW] - b[:WINDOW]).max() <= 1e-5
    assert np.abs(a[WINDOW:] - b[WINDOW:]).max() > 1e-2


def test_decode_one_by_one_matches_batch(tmp_path, tokenizer_kv, prompt_ids):
    """Token-by-token decoding (every query alone against the cache) agrees with one batch."""
    model = make_hf_model({})
    path = tmp_path / "g.gguf"
    write_gguf(path, model, tokenizer_kv)
    m = _core.Model(str(path))
    batch = _core.Session(m, n_ctx=64, n_threads=2)
    batch.decode(prompt_ids, all_logits=True)
    single = _core.Session(m, n_ctx=64, n_batch=1, n_threads=2)
    single.decode(prompt_ids, all_logits=True)
    assert np.abs(batch.logits() - single.logits()).max() <= 1e-4
