"""Special tokens split exactly as llama.cpp splits them, and the same end-of-generation set.

For every vocabulary we have (the four catalogue models, llama.cpp's ggml-vocab-*.gguf test
files and stories260K), strings are built from every control, user-defined and unknown token
and every ordinary token whose text looks special (``</s>``, ``<s>``, ``<|...|>``, ``<...>``,
``[...]``): alone, inside text, next to each other, with white space around (lstrip/rstrip),
cut short (a prefix of the token is not the token), and chat prompts rendered with the file's
own template (jinja2) around messages that quote special tokens. Each string is tokenized by
llm4all and by llama.cpp (llama-cpp-python, ``vocab_only``) with parse_special and add_special
on and off; the ids must be equal. ``is_eog`` over every id must equal llama.cpp's
``llama_vocab_is_eog``, and the pieces of the special tokens its ``llama_token_to_piece``.

The vocab-only test files are wrapped in a one-layer zero-weight llama (tools/vocab_from_hf.py)
for llm4all, which loads only whole models; llama.cpp reads the original file.
"""

import itertools
import os
import random
import re
import sys
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))

llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python (the reference) is not installed")
gguf = pytest.importorskip("gguf", reason="the gguf package is needed to wrap the vocab-only test files")

ATTR_UNKNOWN, ATTR_CONTROL, ATTR_USER_DEFINED = 1 << 1, 1 << 4, 1 << 5
# Ordinary tokens that a chat template or a user may still write as markup.
LOOKS_SPECIAL = re.compile(rb"^(<[^<>\s]{1,64}>|\[[^\[\]\s]{1,32}\]|<\|.*\|>)$", re.S)
CATALOGUE = ["smollm2", "gemma3", "qwen05", "qwen15"]


def _vocab_files():
    """llama.cpp's vocab-only test files in the test data, plus those in $LLM4ALL_EXTRA_VOCABS
    (a folder, e.g. llama.cpp's models/ with the larger ggml-vocab-*.gguf the test data lacks)."""
    from conftest import _testdata_dir
    dirs = [_testdata_dir() / "vocab"]
    if os.environ.get("LLM4ALL_EXTRA_VOCABS"):
        dirs.append(Path(os.environ["LLM4ALL_EXTRA_VOCABS"]))
    found = {}
    for d in dirs:
        for p in sorted(d.glob("ggml-vocab-*.gguf")) if d.is_dir() else []:
            found.setdefault(p.name, p)
    return list(found.values())


# ---- the two engines -------------------------------------------------------------------------


class Reference:
    """llama.cpp through llama-cpp-python's low-level API."""

    def __init__(self, path: Path):
        self.llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
        self.vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self.n = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self._buf = (llama_cpp.llama_token * 4096)()

    def tokenize(self, text: bytes, add_special: bool, parse_special: bool):
        n = llama_cpp.llama_tokenize(self.vocab, text, len(text), self._buf, len(self._buf), add_special, parse_special)
        if n < 0:   # -n: the number of tokens it needs room for
            self._buf = (llama_cpp.llama_token * (-n))()
            n = llama_cpp.llama_tokenize(self.vocab, text, len(text), self._buf, len(self._buf), add_special,
                                         parse_special)
        return self._buf[:n]

    def text(self, tok: int) -> bytes:
        return llama_cpp.llama_vocab_get_text(self.vocab, tok)

    def attr(self, tok: int) -> int:
        return int(llama_cpp.llama_vocab_get_attr(self.vocab, tok))

    def is_eog(self, tok: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.vocab, tok))

    def piece(self, tok: int, special: bool) -> bytes:
        buf = (llama_cpp.ctypes.c_char * 1024)()
        n = llama_cpp.llama_token_to_piece(self.vocab, tok, buf, len(buf), 0, special)
        assert n >= 0
        return bytes(buf[:n])


def _wrap_vocab_only(src: Path, dst: Path) -> Path:
    """The vocab-only GGUF's keys (architecture keys left out) over a tiny zero-weight llama."""
    import vocab_from_hf
    from gguf import GGUFValueType as VT

    r = gguf.GGUFReader(str(src))

    def value(f):
        if f.types[0] == VT.ARRAY:
            if f.types[1] == VT.STRING:
                return [bytes(f.parts[i]) for i in f.data], VT.STRING
            return [f.parts[i].tolist()[0] for i in f.data], f.types[1]
        if f.types[0] == VT.STRING:
            return bytes(f.parts[f.data[0]]), None
        return f.parts[f.data[0]].tolist()[0], None

    arch = value(r.fields["general.architecture"])[0].decode()
    w = gguf.GGUFWriter(str(dst), "llama")
    n_vocab = 0
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture" or name.startswith(arch + "."):
            continue
        val, sub = value(f)
        if name == "tokenizer.ggml.tokens":
            n_vocab = len(val)
        w.add_key_value(name, val, f.types[0], sub_type=sub)
    vocab_from_hf._add_tiny_llama(w, n_vocab)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return dst


# Small SentencePiece vocabularies written here, each with the tokens that trigger one of
# llama.cpp's load-time rules (none of our real files has them): (extra tokens as (text, GGUF
# token type), general.name, tokenizer.ggml.pre, other keys, whether token types are written).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, BYTE = 1, 2, 3, 4, 6
SYNTHETIC = {
    # gpt-oss: <|end|> ends a message only; its channel markers are always rendered.
    "harmony": ([("<|return|>", CONTROL), ("<|call|>", CONTROL), ("<|end|>", CONTROL), ("<|start|>", CONTROL),
                 ("<|channel|>", CONTROL), ("<|message|>", CONTROL), ("<|constrain|>", CONTROL)],
                "gpt-oss-tiny", None, {}, True),
    "solar-open": ([("<|calls|>", CONTROL), ("<|flush|>", CONTROL), ("<|end|>", NORMAL), ("<|eot_id|>", NORMAL)],
                   "solar", None, {}, True),
    # Gemma 4 style: with <|tool_response>, </s> is ordinary text.
    "normal-s": ([("<|tool_response>", CONTROL), ("<turn|>", CONTROL), ("<eos>", USER_DEFINED)], "g4", None,
                 {"types": {"</s>": USER_DEFINED, "<s>": USER_DEFINED}}, True),
    # Several texts for one fill-in-the-middle / end-of-turn slot: llama.cpp's map order decides.
    "contested": ([("<|fim_pad|>", NORMAL), ("<fim-pad>", NORMAL), ("<PAD>", NORMAL), ("[PAD]", NORMAL),
                   ("<fim_pad>", NORMAL), ("<|fim_prefix|>", NORMAL), ("<PRE>", NORMAL), ("\u2581<PRE>", NORMAL),
                   ("<|repo_name|>", NORMAL), ("<reponame>", NORMAL), ("<REPO>", NORMAL), ("<|im_end|>", NORMAL),
                   ("<EOT>", NORMAL), ("[EOT]", NORMAL), ("<|im_start|>", NORMAL), ("<unused7>", CONTROL),
                   ("<unused8>", USER_DEFINED)], "contested", None, {}, True),
    # Phi-3: every special token eats the white space after it, except <unk>, <s>, <|endoftext|>.
    "phi3-name": ([("<|user|>", CONTROL), ("<|end|>", CONTROL), ("<|assistant|>", USER_DEFINED),
                   ("<|endoftext|>", CONTROL), ("<|placeholder1|>", USER_DEFINED)], "Phi-3-mini-tiny", None, {}, True),
    "jina-mask": ([("<mask>", USER_DEFINED), ("<sep>", CONTROL)], "jina", "jina-v2-de", {}, True),
    "modern-bert-mask": ([("[MASK]", USER_DEFINED), ("[SEP]", CONTROL), ("[CLS]", CONTROL)], "Modern-BERT-tiny",
                         None, {}, True),
    # No tokenizer.ggml.token_type: every token is ordinary until the end-of-generation texts.
    "no-types": ([("<|im_start|>", NORMAL), ("<|im_end|>", NORMAL), ("<|endoftext|>", NORMAL)], "untyped", None, {},
                 False),
    # Ids out of range keep the tokenizer's defaults.
    "bad-ids": ([("<|im_end|>", CONTROL)], "bad ids", None,
                {"ids": {"tokenizer.ggml.eos_token_id": 0xFFFFFFFF, "tokenizer.ggml.bos_token_id": 1 << 20,
                         "tokenizer.ggml.eot_token_id": 0xFFFFFFFF}}, True),
    # Overlapping user-defined tokens of one length: the cache order decides which is taken.
    "overlap": ([("".join(t), USER_DEFINED) for t in itertools.product("abc", repeat=3)] +
                [("".join(t), USER_DEFINED) for t in itertools.product("abc", repeat=2)] +
                [(t, CONTROL) for t in ("<x>", "<y>", "x>", "<x", "y><x")], "overlap", None, {}, True),
}


def _write_synthetic(name: str, out: Path) -> Path:
    import vocab_from_hf
    extra, model_name, pre, keys, with_types = SYNTHETIC[name]
    toks = [("<unk>", UNKNOWN), ("<s>", CONTROL), ("</s>", CONTROL)]
    toks += [(f"<0x{b:02X}>", BYTE) for b in range(256)]
    chars = ["\u2581"] + [chr(c) for c in range(33, 127)]
    words = ["\u2581a", "\u2581H", "He", "ll", "llo", "Hello", "\u2581world", "or", "ld", "\u2581x", "\u2581y"]
    toks += [(c, NORMAL) for c in chars + words]
    for text, typ in extra:
        typ = keys.get("types", {}).get(text, typ)
        if any(t == text for t, _ in toks):
            toks = [(t, typ if t == text else y) for t, y in toks]
        else:
            toks.append((text, typ))
    toks = [(t, keys.get("types", {}).get(t, y)) for t, y in toks]
    w = gguf.GGUFWriter(str(out), "llama")
    w.add_name(model_name)
    w.add_tokenizer_model("llama")
    if pre:
        w.add_tokenizer_pre(pre)
    w.add_token_list([t for t, _ in toks])
    w.add_token_scores([-float(i) for i in range(len(toks))])
    if with_types:
        w.add_token_types([y for _, y in toks])
    ids = {"tokenizer.ggml.bos_token_id": 1, "tokenizer.ggml.eos_token_id": 2,
           "tokenizer.ggml.unknown_token_id": 0}
    ids.update(keys.get("ids", {}))
    for k, v in ids.items():
        w.add_uint32(k, v)
    vocab_from_hf._add_tiny_llama(w, len(toks))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


@pytest.fixture(scope="module", params=["stories260K"] + CATALOGUE + _vocab_files() + [f"synthetic-{k}" for k in SYNTHETIC],
                ids=lambda p: p if isinstance(p, str) else p.name[len("ggml-vocab-"):-len(".gguf")])
def engines(request, tmp_path_factory):
    """(name, llm4all.Model, Reference) for one vocabulary."""
    import llm4all
    if isinstance(request.param, Path):
        path, name = request.param, request.param.name
        ours_path = _wrap_vocab_only(path, tmp_path_factory.mktemp("vocab") / name)
    elif request.param.startswith("synthetic-"):
        name = request.param
        path = ours_path = _write_synthetic(name[len("synthetic-"):], tmp_path_factory.mktemp("synthetic") / f"{name}.gguf")
    elif request.param == "stories260K":
        name, path = request.param, request.getfixturevalue("stories260k")
        ours_path = path
    else:
        name, path = request.param, request.getfixturevalue(request.param)
        ours_path = path
    ref = Reference(path)
    try:
        ours = llm4all.Model(str(ours_path), n_ctx=32, n_batch=32)
    except llm4all.Error as e:
        if "not supported" in str(e):   # a tokenizer kind llm4all does not have (yet)
            pytest.skip(f"{name}: {e}")
        raise
    assert ours.n_vocab == ref.n, f"{name}: {ours.n_vocab} tokens, llama.cpp has {ref.n}"
    return name, ours, ref


# ---- the strings -------------------------------------------------------------------------------


def _valid(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _prefix(t: bytes) -> bytes:
    """The longest valid UTF-8 prefix of t shorter than t ('' if none)."""
    for k in range(len(t) - 1, 0, -1):
        if _valid(t[:k]):
            return t[:k]
    return b""


def _special_texts(ref: Reference):
    """Texts of the tokens to test: control, user-defined, unknown (llama.cpp's attributes after
    its fix-ups) and ordinary tokens that look like markup; valid UTF-8 only."""
    out = []
    for tok in range(ref.n):
        t = ref.text(tok)
        if not t or not _valid(t):
            continue
        if ref.attr(tok) & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED) or LOOKS_SPECIAL.match(t):
            out.append(t)
    return sorted(set(out))


def _contexts(t: bytes, other: bytes, cut: bytes):
    """Every context one special text t is tried in (other: another special; cut: a prefix of t)."""
    out = [t, b"Hello" + t + b"world", b" " + t + b" ", b"Hello " + t + b" world", t + t, b"\n" + t + b"\n",
           b"  " + t + b"\t x", t + other, other + b" " + t + b" ", b"a " + t + b"\n\n" + other + b" b"]
    if cut:
        out += [cut, b"x" + cut + b" " + t + b"y", cut + b" " + cut]
    return out


_ENV = None
_CORPUS = None


def _jinja_env():
    global _ENV
    if _ENV is None:
        import json
        import jinja2
        import jinja2.sandbox

        def raise_exception(msg):
            raise jinja2.exceptions.TemplateError(msg)

        _ENV = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        _ENV.filters["tojson"] = lambda x, indent=None, **_: json.dumps(x, ensure_ascii=False, indent=indent)
        _ENV.globals["raise_exception"] = raise_exception
        _ENV.globals["strftime_now"] = lambda fmt: "26 Jul 2024"
    return _ENV


def _corpus_templates():
    """The real chat templates of tests/python/chat_templates, compiled once."""
    global _CORPUS
    if _CORPUS is None:
        _CORPUS = []
        for p in sorted((REPO / "tests" / "python" / "chat_templates").glob("*.jinja")):
            try:
                _CORPUS.append(_jinja_env().from_string(p.read_text(encoding="utf-8")))
            except Exception:
                pass
    return _CORPUS


def _chat_prompts(ref: Reference, specials):
    """Chat prompts as a chat session sends them: the file's own template and every template of
    the corpus, rendered by jinja2 with this vocabulary's BOS/EOS text around messages that
    quote its special tokens."""
    try:
        import jinja2  # noqa: F401  (transformers' dependency; without it, no rendered prompts)
    except ImportError:
        return []
    templates = list(_corpus_templates())
    own = ref.llm.metadata.get("tokenizer.chat_template")
    if own:
        try:
            templates.insert(0, _jinja_env().from_string(own))
        except Exception:
            pass
    bos_id, eos_id = llama_cpp.llama_vocab_bos(ref.vocab), llama_cpp.llama_vocab_eos(ref.vocab)
    bos = ref.text(bos_id).decode("utf-8", "replace") if bos_id >= 0 else ""
    eos = ref.text(eos_id).decode("utf-8", "replace") if eos_id >= 0 else ""
    rng = random.Random(7)
    quoted = " ".join(s.decode() for s in rng.sample(specials, min(40, len(specials))))
    convs = [
        [{"role": "user", "content": "Hello!"}],
        [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi </s> there <s>"},
         {"role": "assistant", "content": " Sure. <|im_end|> done "}, {"role": "user", "content": "Again " + quoted}],
        [{"role": "user", "content": quoted}, {"role": "assistant", "content": "\n" + quoted + "\n"},
         {"role": "user", "content": "  trailing spaces  "}],
    ]
    out = []
    for tmpl in templates:
        for msgs in convs:
            for gen in (True, False):
                try:
                    out.append(tmpl.render(messages=msgs, add_generation_prompt=gen, bos_token=bos,
                                           eos_token=eos).encode())
                except Exception:   # a template that wants other variables or message shapes
                    continue
    return out


def _strings(ref: Reference):
    """(strings tried with parse_special on and off, strings also tried with add_special)."""
    specials = _special_texts(ref)
    rng = random.Random(11)
    both, with_add = [], []
    for t in specials:
        other = specials[rng.randrange(len(specials))]
        ctx = _contexts(t, other, _prefix(t))
        both += ctx
        with_add += ctx[:2]
    # Runs of adjacent specials, with and without text and white space between.
    for _ in range(min(400, 4 * len(specials))):
        k = rng.randrange(2, 5)
        picked = [specials[rng.randrange(len(specials))] for _ in range(k)]
        sep = rng.choice([b"", b" ", b"\n", b"x", b" y ", b"  "])
        both.append(sep.join(picked))
        with_add.append(b" " + sep.join(picked) + b" ")
    prompts = list(dict.fromkeys(_chat_prompts(ref, specials)))   # many templates render alike
    both += prompts
    with_add += prompts[::4]
    both += [b"", b" ", b"Hello world", b"\n\n"]
    with_add += [b"", b" ", b"Hello world"]
    return specials, list(dict.fromkeys(both)), list(dict.fromkeys(with_add))


# ---- the tests -----------------------------------------------------------------------------------


def test_tokenize_matches_llamacpp(engines):
    name, ours, ref = engines
    specials, both, with_add = _strings(ref)
    cases = [(s, False, p) for s in both for p in (True, False)] + [(s, True, p) for s in with_add for p in (True, False)]
    bad = []
    for text, add, parse in cases:
        want = ref.tokenize(text, add, parse)
        got = ours.tokenize(text, add, parse)
        if got != want:
            bad.append((text, add, parse, got, want))
    print(f"\n{name}: {len(specials)} special texts, {len(cases)} tokenizations compared, {len(bad)} differ")
    assert not bad, f"{name}: {len(bad)} of {len(cases)} tokenizations differ from llama.cpp; first ones:\n" + "\n".join(
        f"  {t[:120]!r} add_special={a} parse_special={p}\n    ours     {g[:24]}\n    llama.cpp {w[:24]}"
        for t, a, p, g, w in bad[:8])


def test_is_eog_matches_llamacpp(engines):
    name, ours, ref = engines
    ours_eog = {t for t in range(ref.n) if ours.is_eog(t)}
    want = {t for t in range(ref.n) if ref.is_eog(t)}
    show = lambda ids: sorted((t, ref.text(t)) for t in ids)
    print(f"\n{name}: end-of-generation tokens {show(want)}")
    assert ours_eog == want, f"{name}: only ours {show(ours_eog - want)}, only llama.cpp {show(want - ours_eog)}"


def test_special_pieces_match_llamacpp(engines):
    name, ours, ref = engines
    ids = [t for t in range(ref.n) if ref.attr(t) & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED)
           or LOOKS_SPECIAL.match(ref.text(t)) or ref.is_eog(t)]
    bad = [(t, r, ours.token_to_piece(t, r), ref.piece(t, r)) for t in ids for r in (False, True)
           if ours.token_to_piece(t, r) != ref.piece(t, r)]
    assert not bad, f"{name}: {len(bad)} pieces differ (id, render_special, ours, llama.cpp): {bad[:8]}"


def test_bos_eos_match_llamacpp(engines):
    name, ours, ref = engines
    assert ours.bos_token == llama_cpp.llama_vocab_bos(ref.vocab), name
    assert ours.eos_token == llama_cpp.llama_vocab_eos(ref.vocab), name
