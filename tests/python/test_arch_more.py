"""Gemma (1), Gemma 2 and Phi-3 conformance against Hugging Face transformers.

Each case builds a tiny random transformers model (fixed seed, every parameter redrawn so
activations are O(1) and norms non-trivial), saves it with stories260K's tokenizer,
converts it with llm4all.convert, checks the tensor names against the gguf package's
copy of llama.cpp's name table, and compares our logits for every position of a 40-token
prompt with transformers' on every CPU variant. The shapes make the differences matter:
Gemma 1 with head_dim * n_head != n_embd; Gemma 2 with 4 layers (2 sliding, 2 global), a
window of 8 and small soft-caps so they bite; Phi-3 with a window of 8 on every layer,
half-width RoPE (partial_rotary_factor 0.5) and its fused qkv / gate_up matrices.
"""
import json

import numpy as np
import pytest

from llm4all import _core

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
gguf = pytest.importorskip("gguf")
from llm4all.convert import convert  # noqa: E402

from test_arch_hf import N_TOKENS, cpu_variants, prompt_ids, tokenizer_kv  # noqa: E402,F401
from test_convert import copy_spm_tokenizer  # noqa: E402

WINDOW = 8
COMMON = dict(vocab_size=512, hidden_size=64, intermediate_size=96, num_attention_heads=4, num_key_value_heads=2,
              max_position_embeddings=256, bos_token_id=1, eos_token_id=2, pad_token_id=0)


def build(kind: str, **over):
    tf = transformers
    if kind == "gemma":
        cfg = tf.GemmaConfig(**{**dict(COMMON, num_hidden_layers=3, head_dim=32, rms_norm_eps=1e-6), **over})
        model = tf.GemmaForCausalLM(cfg)
    elif kind == "gemma2":
        cfg = tf.Gemma2Config(**{**dict(COMMON, num_hidden_layers=4, head_dim=16, query_pre_attn_scalar=16,
                                     sliding_window=WINDOW, attn_logit_softcapping=5.0, final_logit_softcapping=20.0,
                                     rms_norm_eps=1e-6), **over})
        assert cfg.layer_types[:2] == ["sliding_attention", "full_attention"]
        model = tf.Gemma2ForCausalLM(cfg)
    elif kind == "phi3":
        cfg = tf.Phi3Config(**{**dict(COMMON, num_hidden_layers=3, original_max_position_embeddings=256,
                                   sliding_window=WINDOW, partial_rotary_factor=0.5, rope_theta=10000.0,
                                   tie_word_embeddings=False), **over})
        model = tf.Phi3ForCausalLM(cfg)
    else:
        raise AssertionError(kind)
    cfg._attn_implementation = "eager"
    torch.manual_seed(1234)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                # Gemma's norms scale by (1 + weight): draw those around 0, Phi-3's around 1.
                p.copy_((0.0 if kind.startswith("gemma") else 1.0) + 0.2 * torch.randn_like(p))
            elif "embed_tokens" in name:
                p.copy_(torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) / np.sqrt(p.shape[1]))
    return model.eval()


def save_and_convert(model, folder, stories_hf, outtype="f32"):
    folder.mkdir()
    copy_spm_tokenizer(stories_hf, folder)
    model.save_pretrained(str(folder))
    return convert(folder, folder.with_suffix(f".{outtype}.gguf"), outtype)


def hf_logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def our_logits(path, ids, device="cpu", n_batch=16):
    m = _core.Model(str(path), device=device)
    try:  # an F32 cache where the build offers the choice (F16 is the default)
        s = _core.Session(m, n_ctx=64, n_batch=n_batch, n_threads=2, kv_type="f32")
    except TypeError:
        s = _core.Session(m, n_ctx=64, n_batch=n_batch, n_threads=2)
    s.decode(ids, all_logits=True)
    return s.logits()


@pytest.fixture(scope="module")
def stories_hf(testdata):
    d = testdata / "models" / "stories260K-hf"
    if not (d / "tokenizer.json").is_file():
        pytest.skip(f"{d} not found")
    return d


def check_names(path, arch, n_layer, model):
    """Every tensor has the name llama.cpp's table gives its checkpoint tensor."""
    arch_id = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch)
    tmap = gguf.get_tensor_name_map(arch_id, n_layer)
    want = {tmap.get_name(n, try_suffixes=(".weight", ".bias")) for n in model.state_dict()
            if n != "lm_head.weight" or arch == "phi3"}
    r = gguf.GGUFReader(str(path))
    assert {t.name for t in r.tensors} == want
    return {k: f.contents() for k, f in r.fields.items()}


@pytest.mark.parametrize("kind", ["gemma", "gemma2", "phi3"])
def test_logits_match_transformers(kind, tmp_path, stories_hf, prompt_ids):
    model = build(kind)
    path = save_and_convert(model, tmp_path / kind, stories_hf)
    kv = check_names(path, kind, model.config.num_hidden_layers, model)
    if kind == "gemma2":
        assert kv["gemma2.attention.sliding_window"] == WINDOW
        assert kv["gemma2.attn_logit_softcapping"] == 5.0 and kv["gemma2.final_logit_softcapping"] == 20.0
    if kind == "phi3":
        assert kv["phi3.rope.dimension_count"] == 8 and kv["phi3.attention.sliding_window"] == WINDOW
    theirs = hf_logits(model, prompt_ids)
    scale = float(np.abs(theirs).max())
    for device in cpu_variants():
        ours = our_logits(path, prompt_ids, device)
        assert ours.shape == theirs.shape == (N_TOKENS, 512)
        err = float(np.abs(ours - theirs).max())
        print(f"{kind} on {device}: max |logit| {scale:.2f}, max |difference| {err:.2e}")
        assert err <= 1e-4
    # Token by token (each query alone against the cache) agrees with the batches.
    assert np.abs(our_logits(path, prompt_ids, n_batch=1) - ours).max() <= 1e-4


@pytest.mark.parametrize("kind", ["gemma2", "phi3"])
def test_window_matters(kind, tmp_path, stories_hf, prompt_ids):
    """With a window longer than the prompt, transformers' late logits change and ours follow:
    so the window really cut in the first test."""
    model = build(kind, sliding_window=64)
    path = save_and_convert(model, tmp_path / kind, stories_hf)
    narrow = hf_logits(build(kind), prompt_ids)
    wide = hf_logits(model, prompt_ids)
    assert np.abs(narrow[WINDOW:] - wide[WINDOW:]).max() > 1e-2
    assert np.abs(our_logits(path, prompt_ids) - wide).max() <= 1e-4


def test_phi3_q8_0_close(tmp_path, stories_hf, prompt_ids):
    """Row views of a quantized fused matrix: Q8_0 stays close to the F32 logits."""
    model = build("phi3")
    path = save_and_convert(model, tmp_path / "phi3", stories_hf, "q8_0")
    theirs = hf_logits(model, prompt_ids)
    err = float(np.abs(our_logits(path, prompt_ids) - theirs).max())
    print(f"phi3 q8_0: max |difference| {err:.3f} (max |logit| {np.abs(theirs).max():.2f})")
    assert err <= 0.05 * float(np.abs(theirs).max())


def test_phi3_longrope_matches_transformers(tmp_path, stories_hf, prompt_ids):
    """LongRoPE (the 128k-context Phi-3.5/Phi-4 files): a session whose context exceeds the
    original one turns by the long factors, a shorter one by the short factors, cos and sin
    scaled by the attention factor. Logits equal transformers' in both cases (transformers
    picks the factors by the sequence's length, llm4all and llama.cpp by the session's n_ctx:
    the cases are chosen so that both pick the same; llama.cpp cannot read this tiny model's
    vocabulary, so it is not compared here)."""
    model = build("phi3")
    folder = tmp_path / "phi3"
    folder.mkdir()
    copy_spm_tokenizer(stories_hf, folder)
    model.save_pretrained(str(folder))
    cfg = json.loads((folder / "config.json").read_text())
    cfg.pop("rope_parameters", None)
    rng = np.random.default_rng(5)
    n_pairs = 4   # partial_rotary_factor 0.5 of head_dim 16: 8 rotary dims
    cfg.update(rope_theta=10000.0, original_max_position_embeddings=16,
               rope_scaling={"type": "longrope", "long_factor": list(rng.uniform(1.0, 6.0, n_pairs)),
                             "short_factor": list(rng.uniform(1.0, 1.6, n_pairs))})
    (folder / "config.json").write_text(json.dumps(cfg))
    path = convert(folder, tmp_path / "longrope.gguf", "f32")
    names = {t.name for t in gguf.GGUFReader(str(path)).tensors}
    assert {"rope_factors_long.weight", "rope_factors_short.weight"} <= names
    ref = transformers.Phi3ForCausalLM.from_pretrained(str(folder), attn_implementation="eager").eval()
    for n_ctx, ids in ((64, prompt_ids), (16, prompt_ids[:14])):   # long factors, then short ones
        m = _core.Model(str(path))
        s = _core.Session(m, n_ctx=n_ctx, n_batch=16, n_threads=2, kv_type="f32")
        s.decode(ids, all_logits=True)
        ours = s.logits()
        theirs = hf_logits(ref, ids)
        assert float(np.abs(ours - theirs).max()) <= 1e-3 * max(1.0, float(np.abs(theirs).max())), n_ctx
    # The factors matter: the long ones over the short prompt give other logits.
    s = _core.Session(_core.Model(str(path)), n_ctx=64, n_batch=16, n_threads=2, kv_type="f32")
    s.decode(prompt_ids[:14], all_logits=True)
    assert float(np.abs(s.logits() - hf_logits(ref, prompt_ids[:14])).max()) > 1e-2
