"""Greedy sampling (temperature 0) against numpy's argmax: the first of equal maxima,
whatever the vocabulary's length (the vector passes and their scalar tail), with masked
(-inf) logits and +0/-0 ties; NaN or +inf anywhere is an error naming the logit."""

import numpy as np
import pytest

import llm4all
from llm4all import _core


def test_greedy_is_numpy_argmax():
    rng = np.random.default_rng(12)
    greedy = _core.Sampler(temp=0.0, repeat_penalty=1.0)
    checked = 0
    for trial in range(3000):
        x = rng.integers(-3, 4, size=int(rng.integers(1, 80))).astype(np.float32)
        if trial % 3 == 0:
            x[rng.random(x.size) < 0.4] = -np.inf
        if trial % 5 == 0:
            x[x == 0] = -0.0
        if np.all(x == -np.inf):
            continue
        assert greedy.sample(x) == int(np.argmax(x)), x
        checked += 1
    assert checked > 2000
    big = rng.standard_normal(49152).astype(np.float32)
    big[[7, 30001, 49151]] = big.max() + 1.0
    assert greedy.sample(big) == 7 == int(np.argmax(big))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_anywhere_is_an_error(bad):
    greedy = _core.Sampler(temp=0.0, repeat_penalty=1.0)
    for at in range(41):
        x = np.zeros(41, dtype=np.float32)
        x[at] = bad
        with pytest.raises(llm4all.Error, match=f"logit {at} is"):
            greedy.sample(x)


def test_every_logit_masked_is_an_error():
    with pytest.raises(llm4all.Error, match="every logit is -inf"):
        _core.Sampler(temp=0.0).sample(np.full(19, -np.inf, dtype=np.float32))
