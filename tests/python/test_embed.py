"""Embedding models (issue 14) against sentence-transformers on the same checkpoints.

all-MiniLM-L6-v2 (BERT) and EmbeddingGemma-300M (bidirectional Gemma 3 + two Dense layers) are
converted with llm4all.convert; the engine's vectors must have cosine >= 0.9999 with what
sentence-transformers computes on the Hugging Face folder for F32/F16 files, >= 0.99 for Q8_0,
on real sentences of varied length and language. Then the pipeline's options against
references built from sentence-transformers' token vectors (mean/CLS/last pooling,
normalize, Matryoshka dimensionality, prompts), long texts (windows averaged as gpt4all does,
or truncated), batch invariance, the C ABI's error paths through ctypes, Embed4All,
`llm4all embed` and POST /v1/embeddings. EmbeddingGemma's tests are marked slow (1.2 GB).
"""
import ctypes
import json
import re
import subprocess
import sys

import numpy as np
import pytest

import llm4all
from llm4all import _core

gguf = pytest.importorskip("gguf")
st_mod = pytest.importorskip("sentence_transformers")
from llm4all.convert import convert  # noqa: E402

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Robert Boulter is an English film, television and theatre actor.",
    "He had a guest-starring role on the television series The Bill in 2000.",
    "Quantum computers use qubits, which can represent 0 and 1 at the same time, to solve certain "
    "problems far faster than classical machines.",
    "I love eating pizza with extra cheese!",
    "Das Wetter ist heute sehr schön, aber morgen soll es regnen.",
    "La tour Eiffel a été construite pour l'Exposition universelle de 1889.",
    "東京は日本の首都です。",
    "def add(a, b):\n    return a + b",
    "SELECT name, COUNT(*) FROM users GROUP BY name HAVING COUNT(*) > 1;",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "Can you recommend a good book about the history of Rome?",
    "¿Dónde está la biblioteca?",
    "OK",
    "The stock market fell sharply after the central bank unexpectedly raised interest rates by half a point, "
    "surprising analysts who had predicted a pause; technology shares led the decline, while energy companies "
    "gained on rising oil prices and a weaker dollar.",
    "",
]


def cosines(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)


@pytest.fixture(scope="module")
def minilm_files(minilm, tmp_path_factory):
    d = tmp_path_factory.mktemp("minilm")
    return {t: convert(minilm, d / f"minilm-{t}.gguf", t, progress=False) for t in ("f32", "f16", "q8_0")}


@pytest.fixture(scope="module")
def minilm_st(minilm):
    return st_mod.SentenceTransformer(str(minilm), device="cpu")


@pytest.fixture(scope="module")
def minilm_model(minilm_files):
    return llm4all.Model(minilm_files["f32"], n_threads=2)


# ---- fidelity -------------------------------------------------------------------------------

@pytest.mark.parametrize("outtype,threshold", [("f32", 0.9999), ("f16", 0.9999), ("q8_0", 0.99)])
def test_minilm_matches_sentence_transformers(minilm_files, minilm_st, outtype, threshold):
    ref = minilm_st.encode(SENTENCES, convert_to_numpy=True)
    m = llm4all.Model(minilm_files[outtype], n_threads=2)
    assert m.is_embedding and m.embedding_dim == 384 and m.info()["architecture"] == "bert"
    got = np.array(m.embed(SENTENCES))
    assert got.shape == (len(SENTENCES), 384)
    cos = cosines(got, ref)
    print(f"minilm {outtype}: min cosine {cos.min():.7f}")
    assert cos.min() >= threshold, cos
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_embgemma_matches_sentence_transformers(embgemma, tmp_path):
    st = st_mod.SentenceTransformer(str(embgemma), device="cpu")
    ref = st.encode(SENTENCES, convert_to_numpy=True)
    ref_q = st.encode(SENTENCES[:6], prompt_name="query", convert_to_numpy=True)
    ref_128 = st.encode(SENTENCES[:6], prompt_name="document", truncate_dim=128, convert_to_numpy=True)
    # Texts of ~600 and ~1,100 tokens: the sliding layers see |i - j| <= 256 only, as transformers'
    # bidirectional window does.
    long_texts = [" ".join(SENTENCES[:15]) * 4, " ".join(SENTENCES[:15]) * 7]
    ref_long = st.encode(long_texts, convert_to_numpy=True)
    del st
    for outtype, threshold in (("f16", 0.9999), ("q8_0", 0.99)):
        path = convert(embgemma, tmp_path / f"embgemma-{outtype}.gguf", outtype, progress=False)
        m = llm4all.Model(path, n_threads=2)
        assert m.embedding_dim == 768 and m.info()["architecture"] == "gemma-embedding"
        got = np.array(m.embed(SENTENCES))
        cos = cosines(got, ref)
        print(f"embgemma {outtype}: min cosine {cos.min():.7f}")
        assert cos.min() >= threshold, cos
        # Task prompts by name, as sentence-transformers' prompt_name.
        assert cosines(m.embed(SENTENCES[:6], prefix="query"), ref_q).min() >= threshold
        assert "document" in m.embedding_prompts
        # Matryoshka: the first 128 values, renormalised (sentence-transformers' truncate_dim).
        small = np.array(m.embed(SENTENCES[:6], prefix="document", dimensionality=128))
        assert small.shape == (6, 128)
        assert cosines(small, ref_128).min() >= threshold
        if outtype == "f16":
            assert 512 < len(m.tokenize(long_texts[0])) < len(m.tokenize(long_texts[1])) < 2048
            cos = cosines(m.embed(long_texts), ref_long)
            print(f"embgemma {outtype} long texts: cosines {cos}")
            assert cos.min() >= threshold
        del m
        path.unlink()


# ---- pipeline options against sentence-transformers' token vectors --------------------------

def test_pooling_and_normalize(minilm_files, minilm_st):
    tok = minilm_st.encode(SENTENCES[:8], output_value="token_embeddings")
    lib = Lib()
    model = lib.load(minilm_files["f32"])
    try:
        for pooling, pick in ((1, lambda t: t.mean(0)), (2, lambda t: t[0]), (3, lambda t: t[-1])):
            ref = np.stack([pick(t.numpy().astype(np.float64)) for t in tok])
            got = lib.embed(model, SENTENCES[:8], pooling=pooling, normalize=False)
            assert cosines(got, ref).min() >= 0.9999, pooling
            # Unnormalised means the raw pooled vector, length included.
            np.testing.assert_allclose(np.linalg.norm(got, axis=1), np.linalg.norm(ref, axis=1), rtol=1e-4)
    finally:
        lib.free(model)


def test_dimensionality_prefix_and_single(minilm_model, minilm_st):
    ref = minilm_st.encode(SENTENCES[:5], truncate_dim=64, convert_to_numpy=True)
    got = np.array(minilm_model.embed(SENTENCES[:5], dimensionality=64))
    assert got.shape == (5, 64)
    assert cosines(got, ref).min() >= 0.9999
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    # A literal prefix is text before every input, as sentence-transformers' prompt=.
    ref_p = minilm_st.encode(SENTENCES[:5], prompt="query: ", convert_to_numpy=True)
    assert cosines(minilm_model.embed(SENTENCES[:5], prefix="query: "), ref_p).min() >= 0.9999
    one = minilm_model.embed(SENTENCES[1])
    assert isinstance(one, list) and len(one) == 384 and isinstance(one[0], float)
    assert minilm_model.embed([]) == []
    with pytest.raises(ValueError, match="dimensionality"):
        minilm_model.embed("x", dimensionality=0)
    with pytest.raises(ValueError, match="exceeds"):
        minilm_model.embed("x", dimensionality=385)
    with pytest.raises(ValueError, match="long_text_mode"):
        minilm_model.embed("x", long_text_mode="split")


def test_embedding_model_does_not_generate(minilm_model, stories260k):
    for call in (lambda: minilm_model.generate("hi", max_tokens=2), lambda: minilm_model.chat_session(),
                 lambda: minilm_model.chat([{"role": "user", "content": "hi"}]), lambda: minilm_model.score([1, 2])):
        with pytest.raises(ValueError, match="embedding model"):
            call()
    decoder = llm4all.Model(stories260k, n_ctx=64, n_threads=1)
    assert not decoder.is_embedding and decoder.embedding_dim == 0
    with pytest.raises(ValueError, match="not an embedding model"):
        decoder.embed("hello")


def test_batch_invariance(minilm_model):
    """A text's vector is the same bits alone or among others, in any order."""
    alone = [minilm_model.embed(s) for s in SENTENCES]
    together = minilm_model.embed(SENTENCES)
    reversed_ = minilm_model.embed(SENTENCES[::-1])[::-1]
    assert together == alone and reversed_ == alone


def test_long_text_mean_and_truncate(minilm_model, minilm_st):
    words = re.findall(r"\S+", " ".join(SENTENCES[:13]) * 6)
    text = " ".join(words)
    body = minilm_model.tokenize(text, add_special=False)
    assert len(body) > 1100   # three windows of 510 text tokens
    cls, sep = minilm_model.tokenize("", add_special=True)
    # gpt4all's windows: 510 tokens, each after the first starting 8 tokens early.
    windows, j = [], 0
    while True:
        end = min(j + 510, len(body))
        windows.append([cls] + body[j:end] + [sep])
        if end == len(body):
            break
        j = end - 8
    assert len(windows) == 3
    per_window = np.array(minilm_model.embed([w for w in windows]))   # token lists: used as given
    expected = per_window.mean(0)
    expected /= np.linalg.norm(expected)
    got, n_tokens = minilm_model.embed(text, return_tokens=True)
    np.testing.assert_allclose(got, expected, atol=2e-6)
    assert n_tokens == sum(map(len, windows))
    # Truncation keeps the first window: sentence-transformers with the same 512-token limit.
    minilm_st.max_seq_length = 512
    ref = minilm_st.encode([text], convert_to_numpy=True)
    minilm_st.max_seq_length = 256
    trunc = minilm_model.embed([text], long_text_mode="truncate")
    assert cosines(trunc, ref).min() >= 0.9999
    np.testing.assert_allclose(trunc[0], per_window[0], atol=2e-6)
    with pytest.raises(llm4all.Error, match="more than the window"):
        minilm_model.embed(text, long_text_mode="error")


# ---- the C ABI ------------------------------------------------------------------------------

ON_BATCH = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.c_void_p)


class EmbedOptions(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("n_threads", ctypes.c_int32), ("normalize", ctypes.c_bool),
                ("dimensionality", ctypes.c_int32), ("prefix", ctypes.c_char_p), ("pooling", ctypes.c_int32),
                ("long_text", ctypes.c_int32), ("n_ctx", ctypes.c_int32), ("on_batch", ON_BATCH),
                ("user", ctypes.c_void_p)]


class Lib:
    """The public C ABI through ctypes, as a C program would call it."""

    def __init__(self):
        L = self.L = ctypes.CDLL(_core.lib_path())
        L.llm4all_model_load.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
        L.llm4all_model_free.argtypes = [ctypes.c_void_p]
        L.llm4all_model_embedding_dim.argtypes = [ctypes.c_void_p]
        L.llm4all_embed_options_init.argtypes = [ctypes.POINTER(EmbedOptions)]
        L.llm4all_embed.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t),
                                    ctypes.c_size_t, ctypes.POINTER(EmbedOptions),
                                    ctypes.POINTER(ctypes.POINTER(ctypes.c_float)), ctypes.POINTER(ctypes.c_int32),
                                    ctypes.POINTER(ctypes.c_uint64)]
        L.llm4all_last_error.restype = ctypes.c_char_p
        L.llm4all_free.argtypes = [ctypes.c_void_p]
        L.llm4all_session_new.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]

    def load(self, path):
        m = ctypes.c_void_p()
        assert self.L.llm4all_model_load(str(path).encode(), None, ctypes.byref(m)) == 0, self.error()
        return m

    def free(self, m):
        self.L.llm4all_model_free(m)

    def error(self):
        return self.L.llm4all_last_error().decode()

    def call(self, model, texts, lens=None, **opts):
        o = EmbedOptions()
        self.L.llm4all_embed_options_init(ctypes.byref(o))
        for k, v in opts.items():
            setattr(o, k, v)
        arr = (ctypes.c_char_p * max(len(texts), 1))(*texts)
        lens_arr = None if lens is None else (ctypes.c_size_t * len(lens))(*lens)
        out, dim, ntok = ctypes.POINTER(ctypes.c_float)(), ctypes.c_int32(-1), ctypes.c_uint64()
        rc = self.L.llm4all_embed(model, arr, lens_arr, len(texts), ctypes.byref(o), ctypes.byref(out),
                                  ctypes.byref(dim), ctypes.byref(ntok))
        vecs = None
        if rc == 0:
            vecs = np.ctypeslib.as_array(out, shape=(len(texts), dim.value)).astype(np.float64)
            self.L.llm4all_free(out)
        else:
            assert not out and dim.value == 0   # nothing returned on failure
        return rc, vecs

    def embed(self, model, texts, **opts):
        rc, vecs = self.call(model, [t.encode() for t in texts], **opts)
        assert rc == 0, self.error()
        return vecs


def test_c_abi_embed_and_errors(minilm_files, minilm_model, stories260k):
    lib = Lib()
    m = lib.load(minilm_files["f32"])
    try:
        assert lib.L.llm4all_model_embedding_dim(m) == 384
        got = lib.embed(m, SENTENCES[:4])
        np.testing.assert_array_equal(got, np.array(minilm_model.embed(SENTENCES[:4]), dtype=np.float32))
        # Lengths given: bytes need no NUL and may hold one.
        rc, v = lib.call(m, [b"hello worldXXX"], lens=[11])
        assert rc == 0 and np.allclose(v[0], lib.embed(m, ["hello world"])[0])
        rc, _ = lib.call(m, [])
        assert rc == -1 and "nothing to embed" in lib.error()            # empty input: INVALID_ARGUMENT
        rc, _ = lib.call(m, [b"fine", None])
        assert rc == -1 and "texts[1] is NULL" in lib.error()
        rc, _ = lib.call(m, [b"caf\xc3", b"ok"])
        assert rc == -8 and "UTF-8" in lib.error()                       # LLM4ALL_ERR_BAD_UTF8
        rc, _ = lib.call(m, [b"x"], prefix=b"\xff")
        assert rc == -8
        rc, _ = lib.call(m, [b"x"], dimensionality=385)
        assert rc == -1 and "dimensionality" in lib.error()
        rc, _ = lib.call(m, [b"x"], pooling=7)
        assert rc == -1
        rc, _ = lib.call(m, [b"x"], n_ctx=513)
        assert rc == -1 and "n_ctx" in lib.error()
        seen = []
        cancel = ON_BATCH(lambda n, count, user: seen.append([n[i] for i in range(count)]) or False)
        rc, _ = lib.call(m, [b"a b c", b"d"], on_batch=cancel)
        assert rc == -9 and seen == [[8]]                                # CANCELLED, asked with the plan
        sess = ctypes.c_void_p()
        assert lib.L.llm4all_session_new(m, None, ctypes.byref(sess)) == -4   # UNSUPPORTED
        assert "embedding model" in lib.error()
    finally:
        lib.free(m)
    dec = lib.load(stories260k)
    try:
        assert lib.L.llm4all_model_embedding_dim(dec) == 0
        rc, _ = lib.call(dec, [b"hello"])
        assert rc == -4 and "not an embedding model" in lib.error()    # LLM4ALL_ERR_UNSUPPORTED
    finally:
        lib.free(dec)


# ---- gpt4all's Embed4All, the CLI and the server ---------------------------------------------

def test_embed4all(minilm_files, minilm_model):
    from llm4all.gpt4all import CancellationError, Embed4All

    with Embed4All(str(minilm_files["f32"]), n_threads=2) as e:
        one = e.embed(SENTENCES[0])
        assert isinstance(one, list) and len(one) == 384
        many = e.embed(SENTENCES[:3], return_dict=True)
        assert many["embeddings"] == minilm_model.embed(SENTENCES[:3])
        # gpt4all counts the texts' own tokens, without [CLS]/[SEP].
        assert many["n_prompt_tokens"] == sum(len(minilm_model.tokenize(s, add_special=False)) for s in SENTENCES[:3])
        # As gpt4all: MiniLM is not Matryoshka-trained, so only its full size is accepted.
        assert len(e.embed("x", dimensionality=384)) == 384
        with pytest.raises(RuntimeError, match="unsupported dimensionality"):
            e.embed("x", dimensionality=128)
        with pytest.raises(ValueError, match="not a valid task type"):
            e.embed("x", prefix="search_query")
        with pytest.raises(ValueError, match="Long text mode"):
            e.embed("x", long_text_mode="bogus")
        with pytest.raises(ValueError):
            e.embed([])
        calls = []
        with pytest.raises(CancellationError):
            e.embed(SENTENCES, cancel_cb=lambda sizes, backend: calls.append((sizes, backend)) or True)
        assert len(calls) == 1 and calls[0][1] == "cpu" and sum(calls[0][0]) > 0
        assert len(e.embed(SENTENCES[:2], cancel_cb=lambda s, b: False)) == 2
    # gpt4all's folder + file name form.
    f32 = minilm_files["f32"]
    with Embed4All(f32.name, model_path=str(f32.parent), n_threads=2) as e:
        assert e.embed(SENTENCES[0]) == minilm_model.embed(SENTENCES[0])


def test_cli_embed_json(minilm_files, minilm_model):
    out = subprocess.run([sys.executable, "-m", "llm4all", "embed", str(minilm_files["f32"]), SENTENCES[0],
                          SENTENCES[1], "--dimensionality", "32", "--threads", "2"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["dim"] == 32 and len(doc["embeddings"]) == 2
    np.testing.assert_allclose(doc["embeddings"], minilm_model.embed(SENTENCES[:2], dimensionality=32), atol=1e-7)
    bad = subprocess.run([sys.executable, "-m", "llm4all", "embed", str(minilm_files["f32"]), "x",
                          "--dimensionality", "999"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and bad.stderr.startswith("llm4all: error:") and "exceeds" in bad.stderr


def test_server_embeddings(minilm_files, minilm_model, stories260k):
    pytest.importorskip("fastapi")
    from starlette.testclient import TestClient
    import base64

    from llm4all.serve.app import create_app
    from llm4all.serve.embeddings import EmbeddingEngine
    from llm4all.serve.pool import ModelPool, Served

    core = _core.Model(str(minilm_files["f32"]), "auto")
    client = TestClient(create_app(ModelPool.single(Served("minilm", EmbeddingEngine(core, n_threads=2)))))
    r = client.post("/v1/embeddings", json={"input": SENTENCES[:3], "model": "minilm"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["object"] == "list" and doc["model"] == "minilm" and [d["index"] for d in doc["data"]] == [0, 1, 2]
    np.testing.assert_allclose([d["embedding"] for d in doc["data"]], minilm_model.embed(SENTENCES[:3]), atol=1e-7)
    assert doc["usage"]["prompt_tokens"] == sum(len(minilm_model.tokenize(s)) for s in SENTENCES[:3])
    r = client.post("/v1/embeddings", json={"input": SENTENCES[0], "dimensions": 16, "encoding_format": "base64"})
    vec = np.frombuffer(base64.b64decode(r.json()["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(vec, minilm_model.embed(SENTENCES[0], dimensionality=16), atol=1e-7)
    toks = minilm_model.tokenize(SENTENCES[0])
    r = client.post("/v1/embeddings", json={"input": toks})
    np.testing.assert_allclose(r.json()["data"][0]["embedding"], minilm_model.embed(SENTENCES[0]), atol=1e-7)
    for bad in ({"input": []}, {"input": "x", "dimensions": 999}, {"input": [[]]}, {"input": 5},
                {"input": "x", "encoding_format": "int8"}):
        assert client.post("/v1/embeddings", json=bad).status_code == 400, bad
    assert client.post("/v1/embeddings", json={"input": "x", "model": "other"}).status_code == 404
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400 and "embedding model" in r.json()["error"]["message"]
    assert client.post("/v1/completions", json={"prompt": "hi"}).status_code == 400
    # A generating model's server answers /v1/embeddings with a clear 400.
    from llm4all.serve.engine import Engine
    engine = Engine(_core.Model(str(stories260k), "auto"), n_parallel=1, n_ctx=64, n_threads=1)
    try:
        served = Served("stories", engine)
        r = TestClient(create_app(ModelPool.single(served))).post("/v1/embeddings", json={"input": "x"})
        assert r.status_code == 400 and "not an embedding model" in r.json()["error"]["message"]
    finally:
        engine.close()
