"""The sliding-window KV cache (gemma3: window 512 on 15 of 18 layers, which keep only
window + n_batch positions): perplexity over chunks four times the window agrees with
llama.cpp, and sliding, rewinding and prefix reuse give what an unslid cache gives."""
import numpy as np
import pytest

import llm4all
from llm4all import _core

# llama.cpp (llama-cpp-python 0.3.36, flash attention off, n_batch 512) on gemma-3-270m
# Q4_K_M, wiki.test.raw tokenized as below, llama-perplexity's method: 2 chunks of 2048.
LLAMACPP_PPL_2048x2 = 17.1591


def _wiki_tokens(testdata, model, n):
    text = (testdata / "ppl" / "wiki.test.raw").read_bytes().decode("utf-8").replace("\r\n", "\n")
    return list(model.tokenize(text, True, False)[:n])


def test_perplexity_beyond_the_window_matches_llamacpp(testdata, gemma3):
    text = (testdata / "ppl" / "wiki.test.raw").read_bytes().decode("utf-8").replace("\r\n", "\n")
    model = llm4all.Model(str(gemma3), n_ctx=2048, n_threads=2, n_batch=512)
    ppl = model.perplexity(text, n_ctx=2048, n_chunks=2).ppl
    print(f"gemma3 n_ctx 2048: ppl {ppl:.4f} vs llama.cpp {LLAMACPP_PPL_2048x2:.4f}")
    assert abs(ppl / LLAMACPP_PPL_2048x2 - 1) <= 0.005


def test_sliding_and_rewinding_match_an_unslid_cache(testdata, gemma3):
    m = _core.Model(str(gemma3), "auto")
    toks = _wiki_tokens(testdata, m, 1300)
    # n_batch 1300: every layer holds all 1300 positions. n_batch 512: windowed layers
    # hold 1024 rows and slide once, through the same kernels: bit for bit the same.
    whole = _core.Session(m, 1400, 1300, 2)
    sliding = _core.Session(m, 1400, 512, 2)
    want = np.asarray(whole.score(toks, 1)[0])
    assert np.array_equal(np.asarray(sliding.score(toks, 1)[0]), want)
    # n_batch 128: 640 rows, many slides; 1280 tokens = 10 full batches (a short tail
    # batch would split its attention differently: rounding, not the cache).
    many = _core.Session(m, 1400, 128, 2)
    assert np.array_equal(np.asarray(many.score(toks[:1280], 1)[0]), want[:1279])

    # Rewind a little (the history is still held), far (the cache is rebuilt from 0),
    # then extend by a prefix longer than the window. Each must equal a fresh session
    # making the same decode calls (a token decoded alone goes through the single-token
    # kernels, which round differently from the batched ones, so the calls must match).
    def fresh(*steps):
        f = _core.Session(m, 1400, 512, 2)
        for a, b in steps:
            f.decode(toks[a:b])
        return np.asarray(f.logits())[-1]

    sliding.set_tokens(toks[:1290])   # keeps 1289, decodes 1 (rows still held)
    assert sliding.n_past == 1290
    assert np.array_equal(np.asarray(sliding.logits())[-1], fresh((0, 1289), (1289, 1290)))
    sliding.set_tokens(toks[:700])    # row 189 is gone: 699 decoded again, then 1
    assert sliding.n_past == 700
    assert np.array_equal(np.asarray(sliding.logits())[-1], fresh((0, 699), (699, 700)))
    sliding.set_tokens(toks[:1200])   # the 700 are reused; 500 more slide the window
    assert sliding.n_past == 1200
    assert np.array_equal(np.asarray(sliding.logits())[-1], fresh((0, 699), (699, 700), (700, 1200)))
