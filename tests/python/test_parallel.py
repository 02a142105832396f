"""Several sequences in shared forward passes (_core.decode_batch) and the standalone Sampler.

The server runs many conversations through one model at once, and a conversation's
answer must not depend on who else is being served: every comparison here is bit for
bit (np.array_equal on float32) between a sequence decoded in a batch beside others
(of other lengths, some prefilling in chunks while others take single decode steps)
and the same sequence decoded alone in one Session.decode call. gemma3's sliding-window
layers slide each session's cache on its own schedule. The Sampler must reproduce
Model.generate at the same seed, so a server built on it answers like the library.
"""

import numpy as np
import pytest

import llm4all
from llm4all import _core

MODELS = ["smollm2", "gemma3", pytest.param("qwen05", marks=pytest.mark.slow)]

TEXT = ("The old lighthouse keeper climbed the spiral stairs every evening, counting the steps "
        "as his father had taught him. At the top he wiped the salt from the great lens, lit "
        "the lamp and watched the beam sweep across the dark water. Ships he would never meet "
        "steered by that light, and on clear nights he could see their own lamps answering, "
        "small and steady, far beyond the rocks where the sea turned white.")

# Tokens each sequence takes per batch call (0 = it sits this step out). Sequence 1's
# session has n_batch 16, so its 45-token prompt is prefilled over several passes of
# the first calls while the others take single decode steps beside it.
SCHEDULE = [
    [9, 1, 1, 0, 1, 1, 2],
    [20, 25, 1, 1, 0, 1, 1],
    [0, 23, 1, 1, 1, 0, 1],
]
N_BATCH = [512, 16, 8]


@pytest.fixture(scope="module", params=MODELS)
def core_model(request):
    return _core.Model(str(request.getfixturevalue(request.param)))


def streams(model):
    ids = model.tokenize(TEXT, add_special=False)
    bos = [model.bos] if model.bos >= 0 else []
    out = []
    for i, steps in enumerate(SCHEDULE):
        n = sum(steps)
        start = 7 * i
        out.append(bos + ids[start:start + n - len(bos)])
        assert len(out[-1]) == n
    return out


def reference(model, toks, kv_type):
    s = _core.Session(model, 256, 512, 2, kv_type)
    s.decode(toks, all_logits=True)
    return np.array(s.logits(), dtype=np.float32)


def assert_same(ref, got, what):
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    if np.array_equal(ref, got):
        return
    diff = np.abs(ref.astype(np.float64) - got.astype(np.float64))
    bad = np.nonzero(diff.max(axis=1) > 0)[0]
    pytest.fail(f"{what}: {len(bad)} of {len(ref)} rows differ (first {bad[:8].tolist()}), max |d| {diff.max():.3g}")


@pytest.mark.parametrize("kv_type", ["f16", "f32"])
def test_batched_equals_alone(core_model, kv_type):
    toks = streams(core_model)
    refs = [reference(core_model, t, kv_type) for t in toks]
    sessions = [_core.Session(core_model, 256, nb, 2, kv_type) for nb in N_BATCH]
    pos = [0] * len(toks)
    for step in range(len(SCHEDULE[0])):
        items, which = [], []
        for i, steps in enumerate(SCHEDULE):
            c = steps[step]
            if c:
                # Odd steps keep only the last logits, as a decode loop does.
                items.append((sessions[i], toks[i][pos[i]:pos[i] + c], step % 2 == 0))
                which.append(i)
        _core.decode_batch(items)
        for (s, t, all_logits), i in zip(items, which):
            got = np.array(s.logits(), dtype=np.float32)
            first = pos[i] if all_logits else pos[i] + len(t) - 1
            assert_same(refs[i][first:pos[i] + len(t)], got, f"sequence {i}, step {step}")
            pos[i] += len(t)
            assert s.n_past == pos[i]


def test_prefix_cache_hit(core_model):
    """A session cut back to a shared prefix decodes the rest in a batch as if alone."""
    toks = streams(core_model)
    long, other = toks[1], toks[2]
    ref_long, ref_other = reference(core_model, long, "f16"), reference(core_model, other, "f16")
    a = _core.Session(core_model, 256, 512, 2, "f16")
    a.decode(long[:30] + other[:5])   # a previous conversation that shared 30 tokens
    a.truncate(30)
    b = _core.Session(core_model, 256, 512, 2, "f16")
    _core.decode_batch([(b, other, True), (a, long[30:], True)])
    assert_same(ref_long[30:], np.array(a.logits(), dtype=np.float32), "after the prefix-cache hit")
    assert_same(ref_other, np.array(b.logits(), dtype=np.float32), "its batch neighbour")


def test_sliding_window_slides_per_session(request):
    """gemma3's windowed layers (512 positions) slide a session's rows down when its cache
    is full. In a batch each session slides on its own schedule; logits past the slides
    must equal a session whose cache never slid (n_batch 512 leaves room for all 700)."""
    m = _core.Model(str(request.getfixturevalue("gemma3")))
    ids = m.tokenize(" ".join([TEXT] * 9), add_special=True)[:700]
    short = m.tokenize(TEXT, add_special=True)[:40]
    assert len(ids) == 700
    tail = 40
    ref = _core.Session(m, 1024, 512, 2, "f16")
    ref.decode(ids[:-tail])
    ref.decode(ids[-tail:], all_logits=True)
    want = np.array(ref.logits(), dtype=np.float32)
    ref_short = reference(m, short, "f16")

    long_s = _core.Session(m, 1024, 64, 2, "f16")   # window + 64 + alignment rows: slides
    short_s = _core.Session(m, 1024, 8, 2, "f16")
    pos, k = 0, 0
    while pos < len(ids) - tail:
        n = min(97, len(ids) - tail - pos)   # several passes of 64 per call
        items = [(long_s, ids[pos:pos + n], False)]
        if k < len(short):
            items.append((short_s, short[k:k + 1], True))
        _core.decode_batch(items)
        if k < len(short):
            assert_same(ref_short[k:k + 1], np.array(short_s.logits(), dtype=np.float32), f"short at {k}")
            k += 1
        pos += n
    _core.decode_batch([(short_s, short[k:], True), (long_s, ids[pos:], True)])
    assert_same(want, np.array(long_s.logits(), dtype=np.float32), "long sequence past its slides")
    assert_same(ref_short[k:], np.array(short_s.logits(), dtype=np.float32), "short sequence beside it")


def test_bad_items(stories260k):
    m = _core.Model(str(stories260k))
    a = _core.Session(m, 16, 512, 1, "f16")
    b = _core.Session(m, 16, 512, 1, "f16")
    a.decode([1, 5, 6])
    with pytest.raises(TypeError):
        _core.decode_batch((a, [1], True))               # not a list of items
    with pytest.raises(TypeError):
        _core.decode_batch([(a, [1])])                   # 2-tuple
    with pytest.raises(TypeError):
        _core.decode_batch([("a", [1], True)])           # not a Session
    with pytest.raises(TypeError):
        _core.decode_batch([(a, ["x"], True)])           # not token ids
    with pytest.raises(TypeError):
        _core.decode_batch([(a, [1], 1)])                # all_logits not a bool
    with pytest.raises(ValueError):
        _core.decode_batch([])
    with pytest.raises(ValueError):
        _core.decode_batch([(a, [], True)])
    with pytest.raises(ValueError):
        _core.decode_batch([(a, [1], True), (b, [2], True), (a, [3], True)])
    with pytest.raises(ValueError):
        _core.decode_batch([(a, [2 ** 40], True)])
    with pytest.raises(llm4all.Error, match="item 1"):
        _core.decode_batch([(a, [1], True), (b, [m.n_vocab], True)])
    with pytest.raises(llm4all.Error) as e:
        _core.decode_batch([(b, [1], True), (a, list(range(2, 16)), True)])
    assert e.value.status_name == "LLM4ALL_ERR_CONTEXT_FULL"
    other = _core.Model(str(stories260k))
    c = _core.Session(other, 16, 512, 1, "f16")
    with pytest.raises(llm4all.Error, match="another model"):
        _core.decode_batch([(a, [1], True), (c, [1], True)])
    assert (a.n_past, b.n_past, c.n_past) == (3, 0, 0), "a refused batch changed a cache"


def test_sampler_arguments():
    s = _core.Sampler(temp=0.0)
    assert s.sample(np.array([0.0, 2.0, -np.inf, 2.0], dtype=np.float32)) == 1
    with pytest.raises(TypeError):
        s.sample(np.zeros(4, dtype=np.float64))
    with pytest.raises(TypeError):
        s.sample([0.0, 1.0])
    with pytest.raises(ValueError):
        s.sample(np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(llm4all.Error):
        s.sample(np.full(5, -np.inf, dtype=np.float32))
    with pytest.raises(llm4all.Error):
        s.sample(np.array([0.0, np.nan], dtype=np.float32))
    with pytest.raises(llm4all.Error):
        _core.Sampler(repeat_penalty=0.0)
    with pytest.raises(llm4all.Error):
        _core.Sampler(presence_penalty=float("nan"))
    with pytest.raises(ValueError):
        _core.Sampler(seed=-2)
    with pytest.raises(llm4all.Error):
        s.accept(-1)
    # Masked tokens are never drawn, however likely they would be.
    d = _core.Sampler(temp=1.5, top_k=0, top_p=1.0, seed=7)
    logits = np.full(100, -np.inf, dtype=np.float32)
    logits[[3, 50, 99]] = [0.0, 0.5, -0.25]
    drawn = {d.sample(logits) for _ in range(500)}
    assert drawn == {3, 50, 99}
    # Same seed, same draws; defaults come from the C ABI.
    x, y = _core.Sampler(seed=5), _core.Sampler(seed=5)
    rng = np.random.default_rng(0)
    for _ in range(20):
        row = rng.normal(size=64).astype(np.float32)
        assert x.sample(row) == y.sample(row)
    d = _core.generate_defaults()
    assert d["presence_penalty"] == 0.0 and d["frequency_penalty"] == 0.0


@pytest.mark.parametrize("penalties", [dict(), dict(presence_penalty=0.6, frequency_penalty=0.9)],
                         ids=["repeat", "presence+frequency"])
def test_sampler_reproduces_generate(smollm2, penalties):
    """Sampler + decode_batch give Model.generate's text at the same seed: generate
    accepts every prompt token, then each token it samples, and stops at an EOG token.
    Model.generate takes the OpenAI penalties too, as the server's sampler does."""
    prompt = "Once upon a time, in a small village by the sea,"
    opts = dict(temp=0.8, top_k=30, top_p=0.95, min_p=0.02, repeat_penalty=1.1, repeat_last_n=32, **penalties)
    model = llm4all.Model(smollm2, n_ctx=256, n_threads=2)
    if penalties:   # they reach the sampler: greedy text changes under strong penalties
        plain = model.generate(prompt, max_tokens=40, temp=0, repeat_penalty=1.0)
        assert model.generate(prompt, max_tokens=40, temp=0, repeat_penalty=1.0, presence_penalty=2.0,
                              frequency_penalty=2.0) != plain
    for seed in (1, 12345):
        want = model.generate(prompt, max_tokens=24, seed=seed, **opts)

        m = _core.Model(str(smollm2))
        toks = m.tokenize(prompt, add_special=True, parse_special=True)
        s = _core.Session(m, 256, 512, 2, "f16")
        sampler = _core.Sampler(seed=seed, **opts)
        for t in toks:
            sampler.accept(t)
        _core.decode_batch([(s, toks, False)])
        out = []
        for _ in range(24):
            t = sampler.sample(np.asarray(s.logits()[-1], dtype=np.float32))
            if m.is_eog(t):
                break
            sampler.accept(t)
            out.append(t)
            _core.decode_batch([(s, [t], False)])
        got = b"".join(m.token_to_piece(t) for t in out).decode("utf-8", errors="replace")
        assert len(out) > 5
        assert got == want, f"seed {seed}"
