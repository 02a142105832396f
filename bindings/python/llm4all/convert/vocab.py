"""Tokenizer metadata for GGUF, written the way llama.cpp's converter writes it.

Three vocabulary kinds: SentencePiece ("llama": from tokenizer.model, read without the
sentencepiece package, or from an SPM-style tokenizer.json), byte-level BPE ("gpt2": tokens,
merges and the pre-tokenizer name llama.cpp expects) and WordPiece ("bert"). Special token
ids, add_bos/add_eos and the chat template come from gguf.SpecialVocab, the gguf package's
reader of tokenizer_config.json / tokenizer.json / config.json, so they match llama.cpp.
"""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import gguf

from .errors import ConvertError
from .source import read_json

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
_BYTE_TOKEN = re.compile(r"<0x[0-9A-Fa-f]{2}>")

# llama.cpp identifies a BPE pre-tokenizer by hashing the ids that the tokenizer gives for
# this text (its convert_hf_to_gguf_update.py); the same text gives the same hashes here.
CHECK_TEXT = ("\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis "
              "concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 "
              "កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български "
              "''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? "
              "'M not sure I'll make it, 'D you like some tea? We'Ve a'lL")

# sha256 of str(ids of CHECK_TEXT) -> tokenizer.ggml.pre, for the model families we convert
# (values as published by llama.cpp's converter).
KNOWN_PRE_HASHES = {
    "0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5": "llama-bpe",     # Llama 3
    "e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea": "qwen2",         # Qwen 1.5 - 3
    "b3f499bb4255f8ca19fccd664443283318f2fd2414d5e0b040fbdd0cc195d6c5": "deepseek-r1-qwen",
    "855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249": "smollm",        # SmolLM 1/2
    "3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454": "gpt-2",
    "63b97e4253352e6f357cc59ea5b583e3a680eaeaf2632188c2b952de2588485e": "tekken",        # Mistral Nemo
    "9d032fcbd5501f4a38150912590928bfb36091efb5df11b8e2124b0390e3fb1e": "falcon3",
    "0876d13b50744004aa9aeae05e7b0647eac9d801b5ba4668afc01e709c15e19f": "jina-v2-en",    # BERT WordPiece (uncased)
    "8e62295832751ca1e8f92f2226f403dea30dc5165e448b5bfa05af5340c64ec7": "bert-bge-large",
}

# When the hash is unknown (a retrained or trimmed vocabulary), the pre-tokenizer's own
# split pattern still says which rules apply.
_LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
KNOWN_SPLIT_PATTERNS = {_LLAMA3_SPLIT: "llama-bpe", _QWEN2_SPLIT: "qwen2"}


def looks_special(text: str) -> bool:
    """Added tokens that some checkpoints forget to flag special but are control tokens."""
    return (text in ("<pad>", "<mask>", "<2mass>", "[@BOS@]")
            or (text.startswith("<|") and text.endswith("|>"))
            or (text.startswith("<｜") and text.endswith("｜>"))
            or (text.startswith("<unused") and text.endswith(">")))


class Vocab:
    """What goes into the tokenizer.ggml.* keys."""

    def __init__(self, model: str, tokens: List[str], types: List[int], scores: Optional[List[float]] = None,
                 pre: Optional[str] = None, merges_from_json: bool = False) -> None:
        self.model, self.tokens, self.types, self.scores, self.pre = model, tokens, types, scores, pre
        self.merges_from_json = merges_from_json
        self.extra: Dict[str, Any] = {}   # further keys, e.g. {"add_space_prefix": False}

    def __len__(self) -> int:
        return len(self.tokens)

    def write(self, w: gguf.GGUFWriter, folder: Path) -> None:
        w.add_tokenizer_model(self.model)
        if self.pre is not None:
            w.add_tokenizer_pre(self.pre)
        w.add_token_list(self.tokens)
        if self.scores is not None:
            w.add_token_scores(self.scores)
        w.add_token_types(self.types)
        for key, value in self.extra.items():
            getattr(w, f"add_{key}")(value)
        special = gguf.SpecialVocab(folder, load_merges=self.merges_from_json, n_vocab=len(self.tokens))
        special.add_to_gguf(w, quiet=True)


# ---- SentencePiece model file ---------------------------------------------------------------

def _varint(buf: bytes, i: int) -> Tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes):
    """(field number, wire type, value) of a protobuf message; enough of the wire format
    for SentencePiece's ModelProto."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, i = _varint(buf, i)
        elif wire == 1:
            val, i = buf[i:i + 8], i + 8
        elif wire == 2:
            n, i = _varint(buf, i)
            val, i = buf[i:i + n], i + n
        elif wire == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if i > len(buf):
            raise ValueError("truncated message")
        yield num, wire, val


def read_sentencepiece(path: Path) -> List[Tuple[str, float, int]]:
    """(piece, score, type) of every piece of a tokenizer.model. The piece types numbered
    by SentencePiece (NORMAL=1 ... BYTE=6) are GGUF's token types."""
    try:
        data = path.read_bytes()
        pieces = []
        for num, wire, val in _fields(data):
            if num != 1 or wire != 2:
                continue
            piece, score, ptype = "", 0.0, NORMAL
            for n2, w2, v2 in _fields(val):
                if n2 == 1 and w2 == 2:
                    piece = v2.decode("utf-8")
                elif n2 == 2 and w2 == 5:
                    (score,) = struct.unpack("<f", v2)
                elif n2 == 3 and w2 == 0:
                    ptype = int(v2)
            pieces.append((piece, score, ptype))
    except (ValueError, UnicodeDecodeError) as e:
        raise ConvertError(f"{path}: not a valid SentencePiece model ({e})") from None
    if not pieces:
        raise ConvertError(f"{path}: no pieces in the SentencePiece model")
    return pieces


def _added_tokens_decoder(folder: Path) -> Dict[int, Dict[str, Any]]:
    cfg = folder / "tokenizer_config.json"
    if not cfg.is_file():
        return {}
    data = read_json(cfg)
    out = {}
    for k, v in (data.get("added_tokens_decoder") or {}).items() if isinstance(data, dict) else ():
        if isinstance(v, dict) and "content" in v:
            out[int(k)] = v
    return out


def spm_vocab(folder: Path, n_vocab: Optional[int]) -> Vocab:
    """A "llama" vocabulary from tokenizer.model, padded to the model's vocab_size, with the
    added tokens of added_tokens.json and tokenizer_config.json applied as llama.cpp does."""
    pieces = read_sentencepiece(folder / "tokenizer.model")
    n = n_vocab or len(pieces)
    tokens = [f"[PAD{i}]" for i in range(n)]
    scores = [-10000.0] * n
    types = [UNUSED] * n
    for i, (piece, score, ptype) in enumerate(pieces[:n]):
        tokens[i], scores[i], types[i] = piece, score, ptype
    added = folder / "added_tokens.json"
    if added.is_file():
        for text, tid in (read_json(added) or {}).items():
            if 0 <= int(tid) < n:
                tokens[tid], scores[tid], types[tid] = text, -1000.0, USER_DEFINED
    for tid, info in _added_tokens_decoder(folder).items():
        if not 0 <= tid < n:
            continue
        text = str(info["content"])
        if info.get("special") or looks_special(text):
            types[tid] = CONTROL
        else:
            text = text.replace("\u2581", " ")  # llama.cpp expects user-defined tokens pre-normalized
            types[tid] = USER_DEFINED
        tokens[tid], scores[tid] = text, -1000.0
    return Vocab("llama", tokens, types, scores, pre="default")


# ---- tokenizer.json --------------------------------------------------------------------------

def load_tokenizer_json(folder: Path) -> Optional[Dict[str, Any]]:
    path = folder / "tokenizer.json"
    if not path.is_file():
        return None
    tj = read_json(path)
    if not isinstance(tj, dict) or not isinstance(tj.get("model"), dict):
        raise ConvertError(f"{path}: no tokenizer model in it")
    return tj


def _id_table(tj: Dict[str, Any], n_vocab: Optional[int]) -> Tuple[List[Optional[str]], Dict[int, Dict[str, Any]]]:
    """Token text by id (None for gaps) from the model vocab plus the added tokens."""
    vocab = tj["model"].get("vocab")
    if isinstance(vocab, list):  # Unigram: [[piece, score], ...]
        vocab = {p[0]: i for i, p in enumerate(vocab)}
    if not isinstance(vocab, dict):
        raise ConvertError("tokenizer.json: model.vocab is missing")
    added = {int(t["id"]): t for t in tj.get("added_tokens") or [] if "id" in t and "content" in t}
    size = max([*vocab.values(), *added, -1]) + 1
    if n_vocab is not None:
        if size > n_vocab:
            raise ConvertError(f"tokenizer.json has token id {size - 1} but config.json says vocab_size {n_vocab}")
        size = n_vocab
    table: List[Optional[str]] = [None] * size
    for text, tid in vocab.items():
        table[int(tid)] = text
    for tid, t in added.items():
        table[tid] = t["content"]
    return table, added


def is_spm_style(tj: Dict[str, Any]) -> bool:
    """A BPE tokenizer.json converted from SentencePiece: byte fallback and '▁' for spaces."""
    m = tj["model"]
    return m.get("type") == "BPE" and bool(m.get("byte_fallback")) and "\u2581" in str(tj.get("pre_tokenizer") or "") \
        + str(tj.get("normalizer") or "") + str(tj.get("decoder") or "")


def _config_unk(folder: Path) -> Optional[str]:
    """The unk token text that tokenizer_config.json names (a string or an AddedToken dict)."""
    cfg = folder / "tokenizer_config.json"
    tc = read_json(cfg) if cfg.is_file() else None
    unk = tc.get("unk_token") if isinstance(tc, dict) else None
    if isinstance(unk, dict):
        unk = unk.get("content")
    return unk if isinstance(unk, str) else None


def spm_vocab_from_json(tj: Dict[str, Any], n_vocab: Optional[int], unk: Optional[str] = None) -> Vocab:
    """A "llama" vocabulary from an SPM-style BPE tokenizer.json. llama.cpp's SPM tokenizer
    merges by score; SentencePiece BPE scores are minus the piece's rank, and the piece
    order is the id order of the normal tokens, so ranks rebuild the original scores."""
    table, added = _id_table(tj, n_vocab)
    unk = tj["model"].get("unk_token") or unk
    tokens, types, scores = [], [], []
    rank = 0
    for tid, text in enumerate(table):
        if text is None:
            tokens.append(f"[PAD{tid}]"); types.append(UNUSED); scores.append(-10000.0)
            continue
        score = 0.0
        if tid in added and (added[tid].get("special") or looks_special(text)):
            ttype = UNKNOWN if text == unk else CONTROL
        elif text == unk:
            ttype = UNKNOWN
        elif tid in added:
            ttype, score = USER_DEFINED, -1000.0
            text = text.replace("\u2581", " ")
        elif _BYTE_TOKEN.fullmatch(text):
            ttype = BYTE
        else:
            ttype, score = NORMAL, -float(rank)
            rank += 1
        tokens.append(text); types.append(ttype); scores.append(score)
    return Vocab("llama", tokens, types, scores, pre="default")


def detect_pre(folder: Path, tj: Dict[str, Any]) -> str:
    """tokenizer.ggml.pre for a byte-level BPE or WordPiece tokenizer.json: llama.cpp's hash
    of the check text's ids where the tokenizers package is there to compute it, else (or
    for an unknown hash) the pre-tokenizer's split pattern."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        Tokenizer = None
    if Tokenizer is not None:
        try:
            tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
            tok.no_truncation()  # some tokenizer.json files pad or cut to a fixed length
            tok.no_padding()
            ids = tok.encode(CHECK_TEXT).ids
        except Exception as e:  # a tokenizer.json this tokenizers version cannot load
            raise ConvertError(f"{folder / 'tokenizer.json'}: the tokenizers package cannot load it "
                               f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
        digest = hashlib.sha256(str(ids).encode()).hexdigest()
        if digest in KNOWN_PRE_HASHES:
            return KNOWN_PRE_HASHES[digest]
    pt = tj.get("pre_tokenizer") or {}
    parts = pt.get("pretokenizers", [pt]) if isinstance(pt, dict) else []
    for p in parts:
        if isinstance(p, dict) and p.get("type") == "Split":
            pattern = (p.get("pattern") or {}).get("Regex")
            if pattern in KNOWN_SPLIT_PATTERNS:
                return KNOWN_SPLIT_PATTERNS[pattern]
    kinds = [p.get("type") for p in parts if isinstance(p, dict)]
    if kinds == ["ByteLevel"] and parts[0].get("use_regex", True):
        return "gpt-2"
    if kinds and set(kinds) <= {"BertPreTokenizer", "Whitespace", "WhitespaceSplit"}:
        return "default"
    raise ConvertError(f"{folder / 'tokenizer.json'}: unrecognised BPE pre-tokenizer {kinds or pt!r}; "
                       "pass --pre NAME (a llama.cpp tokenizer.ggml.pre value) to choose one")


def bpe_vocab(folder: Path, tj: Dict[str, Any], n_vocab: Optional[int], pre: Optional[str] = None) -> Vocab:
    """A "gpt2" (byte-level BPE) vocabulary; merges are added by SpecialVocab."""
    if tj["model"].get("type") != "BPE":
        raise ConvertError(f"{folder / 'tokenizer.json'}: expected a BPE model, found {tj['model'].get('type')!r}")
    table, added = _id_table(tj, n_vocab)
    tokens, types = [], []
    for tid, text in enumerate(table):
        if text is None:
            tokens.append(f"[PAD{tid}]"); types.append(UNUSED)
        elif tid in added:
            tokens.append(text)
            types.append(CONTROL if added[tid].get("special") or looks_special(text) else USER_DEFINED)
        else:
            tokens.append(text); types.append(NORMAL)
    return Vocab("gpt2", tokens, types, pre=pre or detect_pre(folder, tj), merges_from_json=True)


def wordpiece_vocab(folder: Path, tj: Optional[Dict[str, Any]], n_vocab: Optional[int],
                    pre: Optional[str] = None) -> Vocab:
    """A "bert" vocabulary: WordPiece pieces rewritten to llama.cpp's phantom-space form
    (word starts get '▁', '##' continuations lose it, [BRACKETED] specials stay)."""
    if tj is not None:
        if tj["model"].get("type") != "WordPiece":
            raise ConvertError(f"{folder / 'tokenizer.json'}: expected a WordPiece model for BERT")
        table, added = _id_table(tj, n_vocab)
    else:
        vt = folder / "vocab.txt"
        if not vt.is_file():
            raise ConvertError(f"{folder}: no tokenizer.json or vocab.txt for the BERT vocabulary")
        lines = vt.read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        table, added = list(lines), {}
        if n_vocab is not None:
            table += [None] * max(0, n_vocab - len(table))
    tokens, types = [], []
    for tid, text in enumerate(table):
        if text is None:
            tokens.append(f"[PAD{tid}]"); types.append(UNUSED)
            continue
        if tid in added:
            types.append(CONTROL if added[tid].get("special") or looks_special(text) else USER_DEFINED)
        else:
            types.append(NORMAL)
        if text.startswith("[") and text.endswith("]"):
            tokens.append(text)
        elif text.startswith("##"):
            tokens.append(text[2:])
        else:
            tokens.append("\u2581" + text)
    if pre is None:
        pre = detect_pre(folder, tj) if tj is not None else "default"
    return Vocab("bert", tokens, types, pre=pre)


def llama_family_vocab(folder: Path, n_vocab: Optional[int], pre: Optional[str] = None) -> Vocab:
    """What llama.cpp does for Llama-like models: tokenizer.model if present, else an
    SPM-style tokenizer.json, else a byte-level BPE one (Llama 3, SmolLM, Qwen)."""
    if (folder / "tokenizer.model").is_file():
        return spm_vocab(folder, n_vocab)
    tj = load_tokenizer_json(folder)
    if tj is None:
        raise ConvertError(f"{folder}: no tokenizer (tokenizer.model or tokenizer.json)")
    if is_spm_style(tj):
        return spm_vocab_from_json(tj, n_vocab, _config_unk(folder))
    return bpe_vocab(folder, tj, n_vocab, pre)
