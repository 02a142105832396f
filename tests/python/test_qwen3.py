"""The qwen3 architecture: a tiny random Qwen3 built with transformers (Qwen3Config, random
weights) is converted by `llm4all convert`; the GGUF names its tensors as llama.cpp's table
does, llm4all's logits over a prompt match transformers', and llama.cpp (xllamacpp) continues
prompts on the same file greedily exactly as llm4all does."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
torch = pytest.importorskip("torch")
tf = pytest.importorskip("transformers")
if not hasattr(tf, "Qwen3Config"):
    pytest.skip(f"transformers {tf.__version__} has no Qwen3", allow_module_level=True)

from llm4all import _core  # noqa: E402
from llm4all.convert import convert  # noqa: E402
import test_convert  # noqa: E402
from test_convert import _XLLAMACPP_SCRIPT, fields, hf_to_gguf_names, randomize, write_bytelevel_tokenizer  # noqa: E402


@pytest.fixture(scope="module")
def tiny_qwen3(tmp_path_factory):
    test_convert._torch()   # sets the torch module randomize() uses
    folder = tmp_path_factory.mktemp("qwen3") / "hf"
    folder.mkdir()
    n_vocab = write_bytelevel_tokenizer(folder)
    # head_dim 32 with hidden 64 and 4 heads: q is wider than the residual, as in Qwen3-0.6B.
    cfg = tf.Qwen3Config(vocab_size=n_vocab, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=256,
                         rms_norm_eps=1e-6, rope_theta=1e6, tie_word_embeddings=True, bos_token_id=None,
                         eos_token_id=2)
    cfg._attn_implementation = "eager"
    model = tf.Qwen3ForCausalLM(cfg).eval()
    randomize(model)
    model.save_pretrained(str(folder))
    out = convert(folder, folder.parent / "qwen3.gguf", "f32")
    return model, out


def test_converted_like_llamacpp(tiny_qwen3):
    model, path = tiny_qwen3
    r, kv = fields(path)
    assert kv["general.architecture"] == "qwen3"
    assert kv["qwen3.attention.key_length"] == 32 and kv["qwen3.attention.head_count_kv"] == 2
    assert kv["tokenizer.ggml.pre"] == "qwen2"
    names = [n for n in model.state_dict() if n != "lm_head.weight"]   # tied: read from token_embd
    want = {g for g in hf_to_gguf_names("qwen3", 2, names).values() if g is not None}
    assert {t.name for t in r.tensors} == want
    assert "blk.1.attn_k_norm.weight" in want and "blk.0.attn_q.bias" not in want


def test_logits_match_transformers(tiny_qwen3):
    model, path = tiny_qwen3
    ids = [int(i) for i in np.random.default_rng(0).integers(3, model.config.vocab_size, size=24)]
    s = _core.Session(_core.Model(str(path)), n_ctx=64, n_batch=16, n_threads=2)
    s.decode(ids, all_logits=True)
    ours = s.logits()
    with torch.no_grad():
        theirs = model(torch.tensor([ids])).logits[0].float().numpy()
    err = float(np.abs(ours - theirs).max())
    assert err <= 1e-3 * max(1.0, float(np.abs(theirs).max())), err


def _greedy(path, prompt, n=16):
    model = _core.Model(str(path))
    s = _core.Session(model, n_ctx=128, n_batch=32, n_threads=2)
    s.decode(model.tokenize(prompt, add_special=True), all_logits=False)
    out = []
    for _ in range(n):
        out.append(int(np.argmax(s.logits()[-1])))
        s.decode([out[-1]], all_logits=False)
    return out


def test_llamacpp_continues_like_llm4all(tiny_qwen3):
    pytest.importorskip("xllamacpp")
    _, path = tiny_qwen3
    prompts = ["Once upon a time", "She loved to play"]
    proc = subprocess.run([sys.executable, "-c", _XLLAMACPP_SCRIPT, str(path), json.dumps(prompts)],
                          capture_output=True, text=True, timeout=300)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    if line is None and "unknown model architecture" in proc.stderr:
        pytest.skip("this xllamacpp's llama.cpp does not know qwen3")
    assert line is not None, proc.stderr[-2000:]
    for prompt, theirs in zip(prompts, json.loads(line[len("RESULT"):])):
        assert _greedy(path, prompt) == theirs, prompt
