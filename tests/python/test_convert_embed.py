"""Sentence encoders converted to GGUF (llm4all.convert) against sentence-transformers.

all-MiniLM-L6-v2 (BERT, mean pooling) and EmbeddingGemma-300M (bidirectional Gemma 3, mean
pooling, then two Dense projections) are converted; llama.cpp (xllamacpp, in a subprocess)
embeds 10 sentences with the converted file, and every embedding must have cosine
similarity >= 0.999 with the one sentence-transformers computes on the original folder
(its whole pipeline: pooling, Dense layers, normalisation). Models come from the catalogue
(`llm4all pull minilm embgemma`, or $LLM4ALL_MINILM / $LLM4ALL_EMBGEMMA).
"""
import json
import subprocess
import sys

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")
from llm4all.convert import convert  # noqa: E402

MIN_COSINE = 0.999

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on stage.",
    "Quantum computers use qubits to represent information.",
    "I love eating pizza with extra cheese!",
    "Paris is the capital and most populous city of France.",
    "def add(a, b):\n    return a + b",
    "Das Wetter ist heute sehr schön.",
    "The stock market fell sharply after the announcement.",
    "Photosynthesis converts light energy into chemical energy.",
    "Can you recommend a good book about the history of Rome?",
]

# llama.cpp's server pools per its pooling_type (from the file) and applies the file's
# dense_2/dense_3 projections; cosine similarity ignores its normalisation.
_XLLAMACPP_EMBED = r"""
import json, sys, xllamacpp as xl
p = xl.CommonParams()
p.model.path = sys.argv[1]
p.embedding = True
p.n_ctx = p.n_batch = p.n_ubatch = 512
p.cpuparams.n_threads = p.cpuparams_batch.n_threads = 2
s = xl.Server(p)
r = s.handle_embeddings({"input": json.loads(sys.argv[2])})
print("RESULT" + json.dumps([d["embedding"] for d in r["data"]]))
"""


def llamacpp_embeddings(path) -> np.ndarray:
    pytest.importorskip("xllamacpp")
    proc = subprocess.run([sys.executable, "-c", _XLLAMACPP_EMBED, str(path), json.dumps(SENTENCES)],
                          capture_output=True, text=True, timeout=600)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line is not None, f"llama.cpp (xllamacpp) failed on {path}: {proc.stderr[-2000:]}"
    return np.array(json.loads(line[len("RESULT"):]), dtype=np.float64)


def sentence_transformer(folder, modules=None):
    st = pytest.importorskip("sentence_transformers")
    model = st.SentenceTransformer(str(folder), device="cpu")
    return model if modules is None else st.SentenceTransformer(modules=[model[i] for i in modules], device="cpu")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def fields(path):
    r = gguf.GGUFReader(str(path))
    return r, {k: f.contents() for k, f in r.fields.items() if not k.startswith("GGUF.")}


# ---- all-MiniLM-L6-v2 ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def minilm_reference(minilm):
    return sentence_transformer(minilm).encode(SENTENCES, convert_to_numpy=True).astype(np.float64)


def test_minilm_converts_to_bert_gguf(minilm, tmp_path):
    out = convert(minilm, tmp_path / "minilm.gguf", "f16")
    r, kv = fields(out)
    assert kv["general.architecture"] == "bert"
    assert kv["bert.block_count"] == 6 and kv["bert.embedding_length"] == 384
    assert kv["bert.pooling_type"] == gguf.PoolingType.MEAN
    assert kv["tokenizer.ggml.model"] == "bert" and kv["tokenizer.ggml.pre"] == "jina-v2-en"
    assert len(kv["tokenizer.ggml.tokens"]) == 30522 and kv["tokenizer.ggml.tokens"][101] == "[CLS]"
    assert kv["tokenizer.ggml.tokens"][2023] == "\u2581this"  # phantom-space form of WordPiece
    types = {t.name: t.tensor_type.name for t in r.tensors}
    assert len(types) == 5 + 6 * 16
    assert types["token_embd.weight"] == "F16" and types["position_embd.weight"] == "F32"
    assert types["token_types.weight"] == "F32" and types["blk.5.ffn_down.weight"] == "F16"


@pytest.mark.parametrize("outtype", ["f32", "f16"])
def test_minilm_embeddings_match_sentence_transformers(minilm, minilm_reference, outtype, tmp_path):
    got = llamacpp_embeddings(convert(minilm, tmp_path / f"minilm-{outtype}.gguf", outtype))
    assert got.shape == minilm_reference.shape == (10, 384)
    cos = cosines(got, minilm_reference)
    print(f"minilm {outtype}: min cosine {cos.min():.7f}")
    assert cos.min() >= MIN_COSINE, cos


# ---- EmbeddingGemma-300M -------------------------------------------------------------------

@pytest.mark.slow
def test_embgemma_embeddings_match_sentence_transformers(embgemma, tmp_path):
    out = convert(embgemma, tmp_path / "embgemma.gguf", "f32")
    r, kv = fields(out)
    assert kv["general.architecture"] == "gemma-embedding"
    assert kv["gemma-embedding.pooling_type"] == gguf.PoolingType.MEAN
    assert kv["gemma-embedding.attention.sliding_window"] == 512
    # config.json (transformers 4.x) has rope_theta 1e6 for the global layers and
    # rope_local_base_freq 1e4 for the sliding ones.
    assert kv["gemma-embedding.rope.freq_base"] == 1e6 and kv["gemma-embedding.rope.freq_base_swa"] == 1e4
    assert kv["tokenizer.ggml.add_bos_token"] is True and kv["tokenizer.ggml.add_eos_token"] is True
    for key, want in (("dense_2_feat_in", 768), ("dense_2_feat_out", 3072), ("dense_3_feat_in", 3072),
                      ("dense_3_feat_out", 768)):
        assert kv[f"gemma-embedding.{key}"] == want, key
    shapes = {t.name: t.shape.tolist() for t in r.tensors}  # GGUF order: columns first
    assert shapes["dense_2.weight"] == [768, 3072] and shapes["dense_3.weight"] == [3072, 768]

    st = sentence_transformer(embgemma)
    assert [type(m).__name__ for m in st] == ["Transformer", "Pooling", "Dense", "Dense", "Normalize"]
    ref = st.encode(SENTENCES, convert_to_numpy=True).astype(np.float64)
    del st
    got = llamacpp_embeddings(out)
    assert got.shape == ref.shape == (10, 768)
    cos = cosines(got, ref)
    print(f"embgemma f32: min cosine {cos.min():.7f}")
    if cos.min() < MIN_COSINE:
        # Say whether llama.cpp left out the Dense projections (pooled transformer output only).
        pooled = sentence_transformer(embgemma, modules=[0, 1]).encode(SENTENCES, convert_to_numpy=True)
        pytest.fail(f"cosines {np.round(cos, 5)}; against the unprojected pooled output: "
                    f"{np.round(cosines(got, pooled.astype(np.float64)), 5)}")
