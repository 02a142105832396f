"""The serve engine's scheduler (llm4all.serve.engine): every request, alone or among
others, after a prefix-cache hit or not, gives exactly what Model.generate gives on the
same prompt tokens; stop strings, logprobs (against log-softmax of Session.logits),
cancellation, queue limits, context limits and a failing request that fails alone."""

import asyncio
import threading

import numpy as np
import pytest

import llm4all
from llm4all import _core

engine_mod = pytest.importorskip("llm4all.serve.engine")
from llm4all.serve.engine import (ContextLengthExceeded, Delta, Engine, Finish, GenRequest,  # noqa: E402
                                  QueueFull)

pytestmark = pytest.mark.skipif(not (hasattr(_core, "decode_batch") and hasattr(_core, "Sampler")),
                                reason="this _core has no decode_batch / Sampler (rebuild the package)")

N_CTX = 256
REASONS = {"eog": "stop", "stop_string": "stop", "max_tokens": "length", "context_full": "length"}
STORIES_PROMPTS = ["Once upon a time", "Lily and Tom went to the park", "The cat sat on the mat and",
                   "One day, a little bird", "Tim had a big red ball.", "The sun was hot. Mom said"]


class Result:
    def __init__(self):
        self.text = ""
        self.tokens = []
        self.logprobs = []
        self.deltas = 0
        self.finish = None


async def collect(job, on_delta=None):
    r = Result()
    async for ev in job:
        assert r.finish is None, "an event after Finish"
        if isinstance(ev, Delta):
            r.deltas += 1
            r.text += ev.text
            r.tokens += ev.tokens
            if ev.logprobs is not None:
                r.logprobs += ev.logprobs
            if on_delta is not None:
                on_delta(job, r)
        else:
            assert isinstance(ev, Finish)
            r.finish = ev
    assert r.finish is not None
    return r


def run(engine, reqs):
    async def main():
        jobs = [engine.submit(r) for r in reqs]
        return await asyncio.gather(*(collect(j) for j in jobs))
    return asyncio.run(main())


@pytest.fixture(scope="module")
def stories(stories260k):
    return llm4all.Model(str(stories260k), n_ctx=N_CTX, n_threads=2)


def prompt_tokens(model, text):
    return model.tokenize(text, add_special=True, parse_special=True)   # as Model.generate tokenizes


def reference(model, text, **kw):
    """Model.generate on the same prompt: (text, n_generated, finish reason)."""
    out = model.generate(text, **kw)
    st = model.last_stats
    return out, st["n_generated"], REASONS[st["stop_reason"]]


def greedy_tokens(model, tokens, n):
    """Greedy continuation by plain Session decoding (argmax, lowest id on ties)."""
    s = _core.Session(model._model, N_CTX, 512, 2)
    s.decode(tokens)
    out = []
    for _ in range(n):
        t = int(np.argmax(s.logits()[-1]))
        if model.is_eog(t):
            break
        out.append(t)
        s.decode([t])
    return out


def engine_for(model, **kw):
    kw.setdefault("n_ctx", N_CTX)
    kw.setdefault("n_threads", 2)
    return Engine(model._model, **kw)


def test_greedy_solo_equals_generate(stories):
    text = STORIES_PROMPTS[0]
    with engine_for(stories, n_parallel=2) as eng:
        (r,) = run(eng, [GenRequest(prompt_tokens(stories, text), max_tokens=40, temp=0)])
    ref_text, ref_n, ref_reason = reference(stories, text, max_tokens=40, temp=0)
    assert r.text == ref_text
    assert r.tokens == greedy_tokens(stories, prompt_tokens(stories, text), 40)
    assert (r.finish.reason, r.finish.completion_tokens) == (ref_reason, ref_n) == ("length", 40)
    assert r.finish.prompt_tokens == len(prompt_tokens(stories, text))
    assert stories.detokenize(r.tokens) == r.text


def test_seeded_sampling_equals_generate(stories):
    kw = dict(temp=0.9, top_k=20, top_p=0.95, min_p=0.02, repeat_penalty=1.1, repeat_last_n=32)
    with engine_for(stories, n_parallel=2) as eng:
        rs = run(eng, [GenRequest(prompt_tokens(stories, STORIES_PROMPTS[1]), max_tokens=48, seed=s, **kw)
                       for s in (7, 8)])
    refs = [reference(stories, STORIES_PROMPTS[1], max_tokens=48, seed=s, **kw) for s in (7, 8)]
    assert [r.text for r in rs] == [t for t, _, _ in refs]
    assert rs[0].text != rs[1].text   # the seed matters: the test can fail
    assert [r.finish.completion_tokens for r in rs] == [n for _, n, _ in refs]


def _mixed_requests(model, prompts):
    """Different prompts, lengths, greedy and seeded, and a long prompt that is prefilled in
    chunks while the others generate."""
    reqs, refs = [], []
    for i, text in enumerate(prompts):
        if i == 2:
            text = " ".join([text] * 12)    # long: several prefill chunks at n_batch=16
        kw = dict(max_tokens=12 + 7 * i)
        kw.update(dict(temp=0) if i % 2 == 0 else dict(temp=0.8, seed=100 + i))
        reqs.append(GenRequest(prompt_tokens(model, text), **kw))
        refs.append(reference(model, text, **kw))
    return reqs, refs


@pytest.mark.parametrize("n_parallel", [4, 8])
def test_concurrent_jobs_each_equal_their_solo_run(stories, n_parallel):
    reqs, refs = _mixed_requests(stories, STORIES_PROMPTS)
    with engine_for(stories, n_parallel=n_parallel, n_batch=16) as eng:
        rs = run(eng, reqs)
    for r, (t, n, reason) in zip(rs, refs):
        assert (r.text, r.finish.completion_tokens, r.finish.reason) == (t, n, reason)


def test_concurrent_jobs_smollm2(smollm2):
    model = llm4all.Model(str(smollm2), n_ctx=N_CTX, n_threads=2)
    prompts = ["The capital of France is", "def fibonacci(n):", "日本語で挨拶すると",
               "<|im_start|>user\nName three colours.<|im_end|>\n<|im_start|>assistant\n"]
    reqs, refs = _mixed_requests(model, prompts)
    with engine_for(model, n_parallel=4, n_batch=32) as eng:
        rs = run(eng, reqs)
    for r, (t, n, reason) in zip(rs, refs):
        assert (r.text, r.finish.completion_tokens, r.finish.reason) == (t, n, reason)


def test_long_prompt_is_prefilled_in_chunks_beside_generating_jobs(stories, monkeypatch):
    calls = []
    real = _core.decode_batch

    def traced(items):
        calls.append([len(toks) for _, toks, _ in items])
        return real(items)
    monkeypatch.setattr(_core, "decode_batch", traced)
    short, long = STORIES_PROMPTS[0], " ".join(STORIES_PROMPTS * 4)
    with engine_for(stories, n_parallel=2, n_batch=16) as eng:
        rs = run(eng, [GenRequest(prompt_tokens(stories, short), max_tokens=40, temp=0),
                       GenRequest(prompt_tokens(stories, long), max_tokens=10, temp=0)])
    assert len(prompt_tokens(stories, long)) > 100
    assert all(sum(c) <= 16 for c in calls)           # the step budget holds
    assert calls.count([1, 15]) >= 5                    # one token generated beside each chunk
    assert [r.text for r in rs] == [reference(stories, short, max_tokens=40, temp=0)[0],
                                    reference(stories, long, max_tokens=10, temp=0)[0]]


def test_penalty_window_starts_with_the_prompt_tail(stories):
    text = 'Tom said, "Let\'s go to the park." Lily said, "Let\'s go to the'
    kw = dict(max_tokens=30, temp=0, repeat_penalty=1.5, repeat_last_n=8)
    with engine_for(stories, n_parallel=1) as eng:
        (r,) = run(eng, [GenRequest(prompt_tokens(stories, text), **kw)])
    assert r.text == reference(stories, text, **kw)[0]
    # The test can fail: without the penalty, or with a window over the whole prompt, the text differs.
    assert r.text != reference(stories, text, max_tokens=30, temp=0)[0]
    assert r.text != reference(stories, text, **{**kw, "repeat_last_n": 200})[0]


def test_prefix_cache_hit_equals_cold_run(stories):
    base = STORIES_PROMPTS[0]
    longer = base + " there was a little girl named Lily. She"
    with engine_for(stories, n_parallel=1) as eng:
        (first,) = run(eng, [GenRequest(prompt_tokens(stories, longer), max_tokens=20, temp=0)])
        assert first.finish.cached_tokens == 0
        # The same prompt again: all but the last token come from the cache.
        (again,) = run(eng, [GenRequest(prompt_tokens(stories, longer), max_tokens=20, temp=0)])
        assert again.finish.cached_tokens == len(prompt_tokens(stories, longer)) - 1
        # The first prompt plus its reply plus more: the shared prefix is reused.
        cont = longer + first.text + " The end. Once upon a time"
        (hit,) = run(eng, [GenRequest(prompt_tokens(stories, cont), max_tokens=20, temp=0.7, seed=3)])
    assert again.text == first.text
    n_cont = len(prompt_tokens(stories, cont))
    assert 0 < hit.finish.cached_tokens < n_cont
    assert hit.text == reference(stories, cont, max_tokens=20, temp=0.7, seed=3)[0]


@pytest.mark.parametrize("name", ["smollm2", "gemma3"])
def test_prefix_cache_hit_on_real_models(name, request):
    """A second turn reuses the first turn's cache (truncated where the prompts part) and
    still answers exactly as a cold Model.generate on the whole prompt."""
    model = llm4all.Model(str(request.getfixturevalue(name)), n_ctx=N_CTX, n_threads=2)
    first = "<|im_start|>user\nWrite one sentence about the sea.<|im_end|>\n<|im_start|>assistant\n"
    with engine_for(model, n_parallel=2) as eng:
        (r1,) = run(eng, [GenRequest(prompt_tokens(model, first), max_tokens=16, temp=0)])
        second = first + r1.text + "<|im_end|>\n<|im_start|>user\nAnd one about the sky.<|im_end|>\n" \
                                   "<|im_start|>assistant\n"
        (r2,) = run(eng, [GenRequest(prompt_tokens(model, second), max_tokens=16, temp=0.7, seed=11)])
    assert r1.text == reference(model, first, max_tokens=16, temp=0)[0]
    assert r2.finish.cached_tokens >= len(prompt_tokens(model, first))
    cold = llm4all.Model(str(request.getfixturevalue(name)), n_ctx=N_CTX, n_threads=2)
    assert r2.text == reference(cold, second, max_tokens=16, temp=0.7, seed=11)[0]


def test_prefix_cache_picks_the_slot_with_the_longest_common_prefix(stories):
    a, b = STORIES_PROMPTS[1], STORIES_PROMPTS[3]
    with engine_for(stories, n_parallel=3) as eng:
        run(eng, [GenRequest(prompt_tokens(stories, a), max_tokens=4, temp=0),
                  GenRequest(prompt_tokens(stories, b), max_tokens=4, temp=0)])
        (r,) = run(eng, [GenRequest(prompt_tokens(stories, b + " and"), max_tokens=8, temp=0)])
    assert r.finish.cached_tokens == len(prompt_tokens(stories, b))
    assert r.text == reference(stories, b + " and", max_tokens=8, temp=0)[0]


def test_stop_strings_match_generate_and_are_never_emitted(stories):
    text = STORIES_PROMPTS[0]
    full, _, _ = reference(stories, text, max_tokens=60, temp=0)
    mid = len(full) // 2
    stops = [full[mid:mid + 5], "zzzz-never"]          # one that spans tokens, one that never comes
    with engine_for(stories, n_parallel=2) as eng:
        hit, miss = run(eng, [GenRequest(prompt_tokens(stories, text), max_tokens=60, temp=0, stop=stops),
                              GenRequest(prompt_tokens(stories, text), max_tokens=60, temp=0,
                                         stop=["zzzz-never", full[-3:] + "qq"])])
    ref_text, ref_n, ref_reason = reference(stories, text, max_tokens=60, temp=0, stop=stops)
    assert hit.text == ref_text == full[:full.find(stops[0])]
    assert (hit.finish.reason, hit.finish.completion_tokens) == ("stop", ref_n)
    assert ref_reason == "stop"
    assert stops[0] not in hit.text
    assert miss.text == full and miss.finish.reason == "length"


def test_logprobs_are_log_softmax_of_the_session_logits(stories):
    text = STORIES_PROMPTS[2]
    toks = prompt_tokens(stories, text)
    with engine_for(stories, n_parallel=2) as eng:
        (r,) = run(eng, [GenRequest(toks, max_tokens=16, temp=0.8, seed=5, logprobs=5)])
    assert len(r.logprobs) == len(r.tokens) == 16
    s = _core.Session(stories._model, N_CTX, 512, 2)
    s.decode(toks)
    for lp, tok in zip(r.logprobs, r.tokens):
        x = s.logits()[-1].astype(np.float64)
        ref = x - x.max() - np.log(np.exp(x - x.max()).sum())
        assert lp.token == tok and lp.piece == stories.token_to_piece(tok)
        assert lp.logprob == pytest.approx(ref[tok], abs=1e-9)
        order = np.argsort(-ref, kind="stable")[:5]
        assert [t for t, _, _ in lp.top] == order.tolist()
        assert [v for _, _, v in lp.top] == pytest.approx(ref[order].tolist(), abs=1e-9)
        s.decode([tok])


class _CancelAt:
    """A constraint that allows everything and cancels its own job after n tokens: on the
    scheduler thread, in the middle of a step."""

    def __init__(self, n):
        self.n, self.seen, self.job = n, 0, None

    def allowed(self):
        return None

    def accept(self, token):
        self.seen += 1
        if self.seen == self.n:
            self.job.cancel()

    def done(self):
        return False


def test_cancel_frees_the_slot_within_one_step(stories):
    c = _CancelAt(5)
    with engine_for(stories, n_parallel=1, queue_size=4) as eng:
        async def main():
            job = eng.submit(GenRequest(prompt_tokens(stories, STORIES_PROMPTS[0]), temp=0, constraint=c))
            c.job = job
            waiting = eng.submit(GenRequest(prompt_tokens(stories, STORIES_PROMPTS[1]), max_tokens=10, temp=0))
            st = eng.stats()
            assert st["slots_busy"] + st["queued"] == 2
            return await asyncio.gather(collect(job), collect(waiting))
        cancelled, queued = asyncio.run(main())
        assert eng.stats() == {"slots_busy": 0, "queued": 0, "n_parallel": 1, "n_ctx": N_CTX}
    assert cancelled.finish.reason == "cancelled"
    assert cancelled.finish.completion_tokens == 5       # no step after the one that cancelled
    assert queued.finish.reason == "length"
    assert queued.text == reference(stories, STORIES_PROMPTS[1], max_tokens=10, temp=0)[0]


class _CancelFromAnotherThread(_CancelAt):
    """Cancels from a second thread while the scheduler waits inside a step."""

    def accept(self, token):
        self.seen += 1
        if self.seen == self.n:
            t = threading.Thread(target=self.job.cancel)
            t.start()
            t.join()


def test_cancel_from_the_consumer_and_from_another_thread(stories):
    with engine_for(stories, n_parallel=2, queue_size=0) as eng:
        async def main():
            toks = prompt_tokens(stories, STORIES_PROMPTS[0])
            a = eng.submit(GenRequest(toks, temp=0))
            c = _CancelFromAnotherThread(3)
            b = c.job = eng.submit(GenRequest(toks, temp=0.5, seed=1, constraint=c))

            def stop_after_first(job, r):
                job.cancel()
            return await asyncio.gather(collect(a, stop_after_first), collect(b))
        ra, rb = asyncio.run(main())
        assert ra.finish.reason == rb.finish.reason == "cancelled"
        assert ra.finish.completion_tokens < N_CTX - 10
        assert rb.finish.completion_tokens == 3
        # Both slots are free again.
        assert len(run(eng, [GenRequest([1, 2, 3], max_tokens=2, temp=0)] * 2)) == 2


def test_queue_full(stories):
    toks = prompt_tokens(stories, STORIES_PROMPTS[0])
    with engine_for(stories, n_parallel=1, queue_size=1) as eng:
        async def main():
            a = eng.submit(GenRequest(toks, temp=0))
            b = eng.submit(GenRequest(toks, max_tokens=3, temp=0))
            with pytest.raises(QueueFull):
                eng.submit(GenRequest(toks, max_tokens=3, temp=0))
            a.cancel()
            ra, rb = await asyncio.gather(collect(a), collect(b))
            c = eng.submit(GenRequest(toks, max_tokens=3, temp=0))   # room again
            return ra, rb, await collect(c)
        ra, rb, rc = asyncio.run(main())
    assert ra.finish.reason == "cancelled"
    assert rb.finish.reason == rc.finish.reason == "length"


class _Gate:
    """A constraint that holds the scheduler inside its first step until released."""

    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()

    def allowed(self):
        self.entered.set()
        assert self.release.wait(60), "the test never released the scheduler"
        return None

    def accept(self, token):
        pass

    def done(self):
        return True


def test_cancelled_queued_jobs_stop_counting_at_once(stories):
    """A client that hangs up while its request waits must not hold a queue place until the
    scheduler's next step (16 clients hanging up after the headers got 503s otherwise)."""
    toks = prompt_tokens(stories, STORIES_PROMPTS[0])
    gate = _Gate()
    with engine_for(stories, n_parallel=1, queue_size=3) as eng:
        async def main():
            busy = eng.submit(GenRequest(toks, temp=0, constraint=gate))
            assert gate.entered.wait(60)          # the scheduler is now stuck in a step
            gone = [eng.submit(GenRequest(toks, max_tokens=3, temp=0)) for _ in range(3)]
            with pytest.raises(QueueFull):
                eng.submit(GenRequest(toks, max_tokens=3, temp=0))
            for j in gone:
                j.cancel()
                j.cancel()                        # twice is harmless
            assert eng.stats()["queued"] == 0
            later = [eng.submit(GenRequest(toks, max_tokens=3, temp=0)) for _ in range(3)]
            assert eng.stats()["queued"] == 3
            with pytest.raises(QueueFull):
                eng.submit(GenRequest(toks, max_tokens=3, temp=0))
            gate.release.set()
            return await asyncio.gather(*(collect(j) for j in [busy, *gone, *later]))
        try:
            res = asyncio.run(main())
        finally:
            gate.release.set()
        assert eng.stats() == {"slots_busy": 0, "queued": 0, "n_parallel": 1, "n_ctx": N_CTX}
    assert res[0].finish.reason == "stop"
    assert [r.finish.reason for r in res[1:4]] == ["cancelled"] * 3
    assert all(r.finish.completion_tokens == 0 and r.text == "" for r in res[1:4])
    assert [r.finish.reason for r in res[4:]] == ["length"] * 3


def test_context_limits(stories):
    toks = prompt_tokens(stories, STORIES_PROMPTS[0])
    with engine_for(stories, n_parallel=1, n_ctx=64) as eng:
        async def submit(req):
            return eng.submit(req)
        with pytest.raises(ContextLengthExceeded,
                           match=rf"maximum context length is 64 tokens\. However, you requested 70 tokens "
                                 rf"\({len(toks)} in the messages, {70 - len(toks)} in the completion\)"):
            asyncio.run(submit(GenRequest(toks, max_tokens=70 - len(toks))))
        with pytest.raises(ContextLengthExceeded, match="resulted in 65 tokens"):
            asyncio.run(submit(GenRequest([1] * 65)))
        # max_tokens None: until the context is full, as Model.generate with a small n_ctx.
        (r,) = run(eng, [GenRequest(toks, temp=0)])
    small = llm4all.Model(str(stories.path), n_ctx=64, n_threads=2)
    ref_text, ref_n, ref_reason = reference(small, STORIES_PROMPTS[0], max_tokens=1000, temp=0)
    assert (r.text, r.finish.completion_tokens, r.finish.reason) == (ref_text, ref_n, "length")
    assert ref_reason == "length" and ref_n == 64 - len(toks) + 1


@pytest.mark.parametrize("bad", [dict(temp=float("nan")), dict(repeat_penalty=0), dict(top_p="x"),
                                 dict(prompt=[]), dict(prompt=[10 ** 7]), dict(max_tokens=-1),
                                 dict(logprobs=-1), dict(stop=[3])])
def test_bad_values_are_value_errors(stories, bad):
    with engine_for(stories, n_parallel=1) as eng:
        req = GenRequest(**{"prompt": [1, 2, 3], **bad})

        async def main():
            eng.submit(req)
        with pytest.raises(ValueError):
            asyncio.run(main())
        assert eng.stats()["queued"] == 0


class _Restrict:
    """Allows only `tokens`, is done after n of them; raises on accept number `fail_at`."""

    def __init__(self, n_vocab, tokens, n, fail_at=None):
        self.mask = np.zeros(n_vocab, dtype=bool)
        self.mask[tokens] = True
        self.n, self.count, self.fail_at = n, 0, fail_at

    def allowed(self):
        return self.mask

    def accept(self, token):
        self.count += 1
        if self.count == self.fail_at:
            raise ValueError("constraint broke on purpose")
        if not self.mask[token]:
            raise ValueError(f"token {token} is not allowed")

    def done(self):
        return self.count >= self.n


def test_constraint_masks_and_finishes(stories):
    allowed = stories.tokenize(" the cat dog ran", add_special=False)
    c = _Restrict(stories.n_vocab, allowed, 9)
    with engine_for(stories, n_parallel=1) as eng:
        (r,) = run(eng, [GenRequest(prompt_tokens(stories, STORIES_PROMPTS[0]), max_tokens=50, temp=1.0, seed=2,
                                    constraint=c)])
    assert r.finish.reason == "stop" and r.finish.completion_tokens == 9
    assert set(r.tokens) <= set(allowed)


class _Force:
    """Allows exactly one token at each step: the sequence `tokens`, then done."""

    def __init__(self, n_vocab, tokens):
        self.n_vocab, self.tokens, self.i = n_vocab, tokens, 0

    def allowed(self):
        m = np.zeros(self.n_vocab, dtype=bool)
        m[self.tokens[self.i]] = True
        return m

    def accept(self, token):
        assert token == self.tokens[self.i]
        self.i += 1

    def done(self):
        return self.i == len(self.tokens)


def _byte_token(model, b):
    return next(t for t in range(model.n_vocab) if model.token_to_piece(t) == bytes([b]))


@pytest.mark.parametrize("stop", [[], ["\u65e5"], ["\ufffdX"]])
def test_text_is_complete_utf8_as_it_streams(stories, stop):
    raw = b"A\xe6\x97\xa5\xff\xc3"      # A, a 3-byte character in 3 tokens, a bad byte, a cut-off one
    forced = [stories.tokenize("A", add_special=False)[-1]] + [_byte_token(stories, b) for b in raw[1:]]
    assert b"".join(stories.token_to_piece(t) for t in forced).endswith(raw)
    with engine_for(stories, n_parallel=1) as eng:
        async def main():
            job = eng.submit(GenRequest(prompt_tokens(stories, STORIES_PROMPTS[0]), temp=0, stop=stop,
                                        constraint=_Force(stories.n_vocab, forced)))
            return [ev async for ev in job]
        events = asyncio.run(main())
    deltas, finish = events[:-1], events[-1]
    text = "".join(d.text for d in deltas)
    full = b"".join(stories.token_to_piece(t) for t in forced).decode("utf-8", errors="replace")
    assert full.endswith("A\u65e5\ufffd\ufffd")
    n = 4 if stop == ["\u65e5"] else len(forced)     # a stop string ends it at its last byte
    assert [t for d in deltas for t in d.tokens] == forced[:n]
    assert finish.reason == "stop" and finish.completion_tokens == n
    assert text == (full[:full.find(stop[0])] if stop == ["\u65e5"] else full)
    # No delta splits a character: each one is text the reference decoder reads as it is.
    for d in deltas:
        assert d.text.encode("utf-8").decode("utf-8", errors="strict") == d.text
    if not stop:   # the character went out with its third byte, carrying all three tokens
        assert [(d.text, d.tokens) for d in deltas[1:3]] == [("\u65e5", forced[1:4]), ("\ufffd", forced[4:5])]


def test_a_failing_request_fails_alone(stories):
    reqs, refs = _mixed_requests(stories, STORIES_PROMPTS[:4])
    bad = GenRequest(prompt_tokens(stories, STORIES_PROMPTS[4]), max_tokens=30, temp=0,
                     constraint=_Restrict(stories.n_vocab, list(range(stories.n_vocab)), 100, fail_at=3))
    with engine_for(stories, n_parallel=5, n_batch=16) as eng:
        rs = run(eng, reqs[:2] + [bad] + reqs[2:])
        after = run(eng, [reqs[0]])
    failed = rs.pop(2)
    assert failed.finish.reason == "error" and "constraint broke on purpose" in failed.finish.error
    assert failed.finish.completion_tokens == 2
    for r, (t, n, reason) in zip(rs, refs):
        assert (r.text, r.finish.completion_tokens, r.finish.reason) == (t, n, reason)
    assert after[0].text == refs[0][0]     # the engine still serves


def test_a_failing_decode_fails_only_its_request(stories, monkeypatch):
    """When decode_batch fails, each item is retried alone: only the one that fails again
    loses its request, and the others go on as if nothing happened."""
    real = _core.decode_batch
    poison = prompt_tokens(stories, " zebra")[-1]

    def flaky(items):
        if any(poison in toks for _, toks, _ in items):
            raise _core.Error("decode failed on purpose")
        return real(items)
    monkeypatch.setattr(_core, "decode_batch", flaky)
    reqs, refs = _mixed_requests(stories, STORIES_PROMPTS[:3])
    bad = GenRequest(prompt_tokens(stories, STORIES_PROMPTS[4]) + [poison], max_tokens=10, temp=0)
    with engine_for(stories, n_parallel=4, n_batch=16) as eng:
        rs = run(eng, [reqs[0], bad] + reqs[1:])
        after = run(eng, [reqs[1]])
    failed = rs.pop(1)
    assert failed.finish.reason == "error" and "decode failed on purpose" in failed.finish.error
    for r, (t, n, reason) in zip(rs, refs):
        assert (r.text, r.finish.completion_tokens, r.finish.reason) == (t, n, reason)
    assert after[0].text == refs[1][0]


def test_close_cancels_open_jobs(stories):
    eng = engine_for(stories, n_parallel=1, queue_size=2)

    async def main():
        toks = prompt_tokens(stories, STORIES_PROMPTS[0])
        jobs = [eng.submit(GenRequest(toks, temp=0)) for _ in range(2)]
        await asyncio.sleep(0.01)
        await asyncio.get_running_loop().run_in_executor(None, eng.close)
        return await asyncio.gather(*(collect(j) for j in jobs))
    rs = asyncio.run(main())
    assert [r.finish.reason for r in rs] == ["cancelled", "cancelled"]
