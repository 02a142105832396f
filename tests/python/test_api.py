"""The Python API (llm4all.Model and llm4all._core) on stories260K: tokens round
trip, errors as llm4all.Error with the C message, streaming equal to the
non-streaming text, seed reproducibility, stopping, scoring and perplexity."""

import json
import math
import os

import numpy as np
import pytest

import llm4all
from llm4all import _core

TEXT = "Once upon a time, there was a little girl named Lily. She loved to play outside."


@pytest.fixture(scope="module")
def model(stories260k):
    return llm4all.Model(str(stories260k), n_ctx=256, n_threads=2)


def test_library_and_plugins_found():
    assert _core.abi_version() == _core.ABI_VERSION
    assert _core.version() == llm4all.__version__
    lib = _core.lib_path()
    assert os.path.isfile(lib)
    plugins = [f for f in os.listdir(os.path.dirname(lib)) if f.startswith("libllm4all-") and f.endswith(".so")]
    assert plugins, "no backend plugin installed beside the core library"
    devices = json.loads(_core.devices_json())
    assert any(d.get("devices") for d in devices)


def test_tokenize_detokenize_round_trip(model):
    toks = model.tokenize(TEXT)
    assert toks[0] == model.bos_token
    plain = model.tokenize(TEXT, add_special=False)
    assert toks[1:] == plain
    assert model.tokenize(TEXT.encode()) == toks
    assert model.detokenize(plain) in (TEXT, " " + TEXT)
    assert model.detokenize(toks) in (TEXT, " " + TEXT)


def test_errors_carry_the_c_message(model, tmp_path):
    with pytest.raises(llm4all.Error) as e:
        model.tokenize(b"bad \xff utf8")
    assert e.value.status_name == "LLM4ALL_ERR_BAD_UTF8" and str(e.value)
    assert isinstance(e.value, RuntimeError)

    missing = tmp_path / "missing.gguf"
    with pytest.raises(llm4all.Error) as e:
        llm4all.Model(str(missing))
    assert e.value.status_name == "LLM4ALL_ERR_IO"
    assert "missing.gguf" in str(e.value)

    notgguf = tmp_path / "text.gguf"
    notgguf.write_bytes(b"hello, this is not a gguf file at all" * 10)
    with pytest.raises(llm4all.Error) as e:
        _core.Model(str(notgguf))
    assert e.value.status_name == "LLM4ALL_ERR_BAD_GGUF" and "text.gguf" in str(e.value)


def test_context_full_is_an_error(stories260k):
    m = _core.Model(str(stories260k))
    s = _core.Session(m, n_ctx=16)
    with pytest.raises(llm4all.Error) as e:
        s.set_tokens(list(range(1, 40)))
    assert e.value.status_name == "LLM4ALL_ERR_CONTEXT_FULL"


def test_seed_reproducible(model):
    a = model.generate("Once upon a time", max_tokens=24, temp=0.9, top_p=0.95, seed=1234)
    b = model.generate("Once upon a time", max_tokens=24, temp=0.9, top_p=0.95, seed=1234)
    assert a == b and a


def test_streaming_joins_to_the_same_text(model):
    kw = dict(max_tokens=32, temp=0.8, top_p=0.95, seed=7)
    text = model.generate("Lily and Ben", **kw)
    pieces = list(model.generate("Lily and Ben", streaming=True, **kw))
    assert all(isinstance(p, str) for p in pieces)
    assert "".join(pieces) == text
    greedy = model.generate("Lily and Ben", max_tokens=16, temp=0)
    assert "".join(model.generate("Lily and Ben", max_tokens=16, temp=0, streaming=True)) == greedy


def test_closing_the_stream_stops_generation(model):
    gen = model.generate("Once upon a time", max_tokens=200, temp=0.8, seed=3, streaming=True)
    got = [next(gen), next(gen)]
    gen.close()
    assert all(got)
    assert model.last_stats["n_generated"] < 200
    assert model.last_stats["stop_reason"] in ("aborted", "eog")
    assert model.generate("Once upon a time", max_tokens=4, temp=0)  # still usable


def test_callbacks_stop_and_raise(stories260k):
    m = _core.Model(str(stories260k))
    s = _core.Session(m, n_ctx=128)
    seen = []
    _, stats = s.generate("Once upon a time", max_tokens=50, temp=0, callback=lambda p, t: seen.append(t) or False)
    assert len(seen) == 1 and stats["stop_reason"] == "aborted"

    def boom(piece, tok):
        raise ValueError("stop here")
    with pytest.raises(ValueError, match="stop here"):
        s.generate("Once upon a time", max_tokens=50, temp=0, callback=boom)
    text, stats = s.generate("Once upon a time", max_tokens=5, temp=0)  # the session survives
    assert stats["n_generated"] <= 5


def test_gpt4all_style_callback(model):
    seen = []
    text = model.generate("Once upon a time", max_tokens=10, temp=0, callback=lambda tok, piece: seen.append(piece))
    assert "".join(seen) == text


def test_score_matches_logits(stories260k):
    m = _core.Model(str(stories260k))
    s = _core.Session(m, n_ctx=128)
    toks = m.tokenize(TEXT)
    logprobs, top1 = s.score(toks, 1)
    assert logprobs.dtype == np.float32 and top1.dtype == np.int32
    assert len(logprobs) == len(toks) - 1 and np.all(logprobs <= 0)
    s.truncate(0)
    s.decode(toks, all_logits=True)
    logits = s.logits().astype(np.float64)
    assert logits.shape == (len(toks), m.n_vocab)
    mx = logits.max(axis=1, keepdims=True)
    lsm = logits - mx - np.log(np.exp(logits - mx).sum(axis=1, keepdims=True))
    want = lsm[np.arange(len(toks) - 1), toks[1:]]
    np.testing.assert_allclose(logprobs, want, atol=1e-4)
    np.testing.assert_array_equal(top1, logits[:-1].argmax(axis=1))


def test_high_level_score(model):
    toks = model.tokenize(TEXT)
    lp = model.score(toks, first=3)
    assert isinstance(lp, list) and len(lp) == len(toks) - 3


def test_perplexity_is_llamacpp_method(stories260k, testdata):
    text = (testdata / "ppl" / "wiki.test.raw").read_bytes()[:40000].decode("utf-8", "ignore").replace("\r\n", "\n")
    n_ctx = 64
    m = llm4all.Model(str(stories260k), n_ctx=n_ctx)
    res = m.perplexity(text, n_ctx=n_ctx, n_chunks=3)
    assert len(res.running) == 3 and res.n_tokens == 3 * (n_ctx - n_ctx // 2 - 1)
    assert float(res) == res.ppl == res.running[-1]

    # Independent recomputation from full logits of each chunk.
    core, toks = m._model, m.tokenize(text)
    s = _core.Session(core, n_ctx=n_ctx)
    nll, count = 0.0, 0
    for i in range(3):
        chunk = toks[i * n_ctx:(i + 1) * n_ctx]
        chunk[0] = core.bos
        s.truncate(0)
        s.decode(chunk, all_logits=True)
        lg = s.logits().astype(np.float64)
        for j in range(n_ctx // 2, n_ctx - 1):
            row = lg[j]
            nll -= row[chunk[j + 1]] - row.max() - math.log(np.exp(row - row.max()).sum())
            count += 1
    assert res.ppl == pytest.approx(math.exp(nll / count), rel=1e-4)


def test_gguf_read_tensor_matches_gguf_package(stories260k):
    gguf = pytest.importorskip("gguf")
    reader = gguf.GGUFReader(str(stories260k))
    t = next(t for t in reader.tensors if t.name == "token_embd.weight")
    got = _core.gguf_read_tensor(str(stories260k), "token_embd.weight")
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, np.asarray(t.data, dtype=np.float32).reshape(-1))


def test_info(model):
    info = model.info()
    assert isinstance(info, dict) and info
    assert model.n_vocab == 512
