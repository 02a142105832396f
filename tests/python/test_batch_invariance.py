"""The logits of a position must not depend on how its tokens were split into decode calls.

Chat sessions live on prefix reuse: a second turn decodes only the new tokens, and a
prompt that is already cached has its last token decoded again, alone. Before the CPU
kernels used one accumulation order for every batch shape, a token decoded alone (the
single-token GEMV path) gave logits up to ~0.6 away from the same token inside a batch
(the tile path), so greedy generation on one Model could answer the same prompt
differently the second time. Every comparison here is bit for bit (np.array_equal on
float32), against the same model decoding the whole prompt in one call.
"""

import random

import numpy as np
import pytest

import llm4all
from llm4all import _core

MODELS = ["smollm2", "gemma3", pytest.param("qwen05", marks=pytest.mark.slow)]

# ~100 tokens of ordinary prose: long enough for several 8-token tile groups, ragged
# tails and more than one 32-position attention block.
TEXT = ("The old lighthouse keeper climbed the spiral stairs every evening, counting the steps "
        "as his father had taught him. At the top he wiped the salt from the great lens, lit "
        "the lamp and watched the beam sweep across the dark water. Ships he would never meet "
        "steered by that light, and on clear nights he could see their own lamps answering, "
        "small and steady, far beyond the rocks where the sea turned white.")


@pytest.fixture(scope="module", params=MODELS)
def model_path(request):
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def core_model(model_path):
    return _core.Model(str(model_path))


@pytest.fixture(scope="module")
def ids(core_model):
    t = core_model.tokenize(TEXT, add_special=True)
    assert 80 <= len(t) <= 130, len(t)
    return t


def run_splits(core_model, ids, splits, n_batch=512, kv_type="f16", n_threads=2):
    """Logits of every position, decoding ids in calls of the given sizes."""
    s = _core.Session(core_model, 256, n_batch, n_threads, kv_type)
    assert sum(splits) == len(ids)
    rows, pos = [], 0
    for n in splits:
        s.decode(ids[pos:pos + n], all_logits=True)
        rows.append(np.array(s.logits(), dtype=np.float32).reshape(n, -1))
        pos += n
    return np.concatenate(rows)


def random_splits(n, rng, largest):
    out = []
    while n:
        k = min(n, rng.randint(1, largest))
        out.append(k)
        n -= k
    return out


def assert_same(ref, got, what):
    if np.array_equal(ref, got):
        return
    diff = np.abs(ref.astype(np.float64) - got.astype(np.float64))
    bad = np.nonzero(diff.max(axis=1) > 0)[0]
    pytest.fail(f"{what}: {len(bad)} of {len(ref)} positions differ (first {bad[:8].tolist()}), "
                f"max |d| {diff.max():.3g}, mean |d| {diff.mean():.3g}")


@pytest.mark.parametrize("kv_type", ["f16", "f32"])
def test_logits_independent_of_batch_split(core_model, ids, kv_type):
    n = len(ids)
    ref = run_splits(core_model, ids, [n], kv_type=kv_type)
    rng = random.Random(11)
    cases = {
        "token by token": [1] * n,
        "random splits 1..20": random_splits(n, rng, 20),
        "random splits 1..9": random_splits(n, rng, 9),
        "one token then the rest": [1, n - 1],
        "all but the last, then the last alone": [n - 1, 1],
        "groups of 8 plus ragged": [8, 8, 3, 13, 1, 7, 9] + [n - 49],
    }
    for what, splits in cases.items():
        assert_same(ref, run_splits(core_model, ids, splits, kv_type=kv_type), what)
    assert_same(ref, run_splits(core_model, ids, [n], n_batch=7, kv_type=kv_type), "n_batch 7")
    assert_same(ref, run_splits(core_model, ids, [n], n_batch=1, kv_type=kv_type), "n_batch 1")


def test_logits_independent_of_thread_count(core_model, ids):
    n = len(ids)
    ref = run_splits(core_model, ids, [n], n_threads=2)
    for t in (1, 3):
        assert_same(ref, run_splits(core_model, ids, [n], n_threads=t), f"{t} threads, one call")
        assert_same(ref, run_splits(core_model, ids, [1] * 20 + [n - 20], n_threads=t), f"{t} threads, split")


def test_prefix_reuse(core_model, ids):
    """set_tokens of a prefix, then the rest; and the cached prompt's last token again."""
    n = len(ids)
    ref = run_splits(core_model, ids, [n])
    s = _core.Session(core_model, 256, 512, 2, "f16")
    for cut in (n // 3, n // 2 + 5, n - 1):
        s.set_tokens(ids[:cut])
        assert_same(ref[cut - 1:cut], np.array(s.logits()).reshape(1, -1), f"set_tokens of {cut}")
        s.decode(ids[cut:], all_logits=True)
        assert_same(ref[cut:], np.array(s.logits()).reshape(n - cut, -1), f"rest after a prefix of {cut}")
    # The whole prompt is cached (no logits kept after a truncate): set_tokens decodes
    # its last token alone, which must give the logits the one-call decode gave it.
    s.truncate(n)
    s.decode(ids[n - 1:n])  # make the cache longer than the prompt
    s.set_tokens(ids)
    assert_same(ref[n - 1:], np.array(s.logits()).reshape(1, -1), "last prompt token re-decoded alone")


@pytest.mark.parametrize("model_name", MODELS)
def test_same_greedy_answer_twice(request, model_name):
    path = request.getfixturevalue(model_name)
    prompt = "The three most useful things to pack for a week of hiking are"

    def greedy(m):
        toks = []
        m.generate(prompt, max_tokens=40, temp=0.0, repeat_penalty=1.0,
                   callback=lambda tok, piece: toks.append(tok) or True)
        return toks

    fresh = greedy(llm4all.Model(path, n_ctx=512, n_threads=2))
    m = llm4all.Model(path, n_ctx=512, n_threads=2)
    first, second = greedy(m), greedy(m)
    assert len(fresh) > 5
    assert first == fresh
    assert second == fresh, "the second greedy call on one Model (prefix reuse) answered differently"


def test_sliding_window_cache_slides(request):
    """gemma3's windowed layers (512 positions) keep window + n_batch (+ alignment) rows and
    slide them down when full, at moments that depend on n_batch. The attention walks the
    cache in blocks aligned to its rows, so the kept rows must start on that grid for the
    logits past the first slide to stay bit-identical to a session that never slid."""
    m = _core.Model(str(request.getfixturevalue("gemma3")))
    ids = m.tokenize(" ".join([TEXT] * 9), add_special=True)[:700]
    n, tail = len(ids), 60
    assert n == 700

    def tail_logits(n_batch, splits):
        s = _core.Session(m, 1024, n_batch, 2, "f16")
        pos = 0
        for k in splits:
            s.decode(ids[pos:pos + k])
            pos += k
        s.decode(ids[pos:], all_logits=True)
        return np.array(s.logits(), dtype=np.float32).reshape(n - pos, -1)

    ref = tail_logits(512, [n - tail])  # 1024 rows in every layer: nothing slides
    assert_same(ref, tail_logits(7, [n - tail]), "n_batch 7 (the windowed layers slide many times)")
    assert_same(ref, tail_logits(64, [300, 1, 50, n - tail - 351]), "n_batch 64 in ragged calls")
