"""The per-pair filters of curation: each a named Rule whose check returns why a pair breaks
it (a short detail) or None. Refusals, empty and very short answers, malformed output
(unbalanced code fences, broken encoding, truncated text) and over-long pairs; duplicates are
dedup.py's, since they depend on the other pairs.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

from .formats import Pair

DEFAULT_PHRASES_FILE = Path(__file__).with_name("refusal_phrases.txt")


@dataclass
class Rule:
    name: str
    description: str
    check: Callable[[Pair], Optional[str]]


@dataclass
class RuleOptions:
    refusal_phrases: List[str] = field(default_factory=list)   # as in refusal_phrases.txt
    min_words: int = 1          # any response with fewer words is "short"
    min_words_long_form: int = 5  # ... and fewer than this for a request for long-form text
    max_chars: int = 8192       # all turns together; ~2048 tokens of English, the default context


def load_phrases(path: os.PathLike) -> List[str]:
    """Phrases of a refusal phrase file (one a line, # comments, ^ anchors at the start)."""
    with open(path, encoding="utf-8") as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]


def default_phrases() -> List[str]:
    return load_phrases(DEFAULT_PHRASES_FILE)


_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2032": "'"})


def _fold(text: str) -> str:
    """Lower case, one kind of apostrophe, single spaces: what phrases are matched against."""
    return " ".join(text.translate(_APOSTROPHES).lower().split())


def _words(text: str) -> List[str]:
    return re.findall(r"\w+(?:['\u2019.-]\w+)*", text)


# ---- refusals ---------------------------------------------------------------------------

def _refusal(phrases: Sequence[str]) -> Callable[[Pair], Optional[str]]:
    anywhere = [_fold(p) for p in phrases if not p.startswith("^")]
    at_start = [_fold(p[1:]) for p in phrases if p.startswith("^")]

    def check(pair: Pair) -> Optional[str]:
        for turn in pair.turns("assistant"):
            t = _fold(turn)
            hit = next((p for p in anywhere if p in t), None) or next((p for p in at_start if t.startswith(p)), None)
            if hit:
                return f"says {hit!r}"
        return None
    return check


# ---- empty and short ------------------------------------------------------------------------

def _empty(pair: Pair) -> Optional[str]:
    if not any(ch.isalnum() for ch in pair.prompt):
        return "no prompt text"
    if not any(ch.isalnum() for ch in pair.response):
        return "no response text" if not pair.response.strip() else f"response is only {pair.response.strip()[:20]!r}"
    return None


# Requests for long-form text: a one- or two-word answer to these is not an answer. Short
# factual answers ("1945", "Tiger barb") to questions stay.
_LONG_FORM = re.compile(
    r"^\W*(?:please\s+|(?:can|could|would|will)\s+you\s+(?:please\s+)?)?"
    r"(?:write|describe|explain|compose|summari[sz]e|draft|elaborate|discuss|outline|tell\s+me\s+about|"
    r"tell\s+(?:me\s+)?a\s+story|create\s+an?\s+(?:story|essay|poem|article|letter|dialogue))\b", re.I)


# Replies that answer nothing whatever was asked ("ok", "sure", "thanks"); "yes"/"no" only
# count when the prompt is not a yes/no question.
_FILLER = {"ok", "okay", "k", "sure", "sure thing", "thanks", "thank you", "lol", "hmm", "idk", "i don't know",
           "i do not know", "n/a", "na", "none", "nothing", "same", "whatever", "fine", "good", "cool", "great"}
_YES_NO = {"yes", "no", "yeah", "nope", "yep"}
_YES_NO_QUESTION = re.compile(r"^\W*(?:is|are|was|were|do|does|did|can|could|will|would|should|shall|has|have|had|"
                              r"may|might|must|am)\b", re.I)


def _short(opts: RuleOptions) -> Callable[[Pair], Optional[str]]:
    def check(pair: Pair) -> Optional[str]:
        n = len(_words(pair.response))
        if n < opts.min_words:
            return f"{n} words"
        said = " ".join(w.lower() for w in _words(pair.response))
        if said in _FILLER or (said in _YES_NO and not _YES_NO_QUESTION.match(pair.prompt)):
            return f"{pair.response.strip()[:20]!r} answers nothing"
        if n < opts.min_words_long_form and _LONG_FORM.match(pair.prompt):
            return f"{n} words for a long-form request"
        return None
    return check


# ---- malformed output ---------------------------------------------------------------------

_FENCE = re.compile(r"^[ \t]*(```|~~~)", re.M)


def _fences(pair: Pair) -> Optional[str]:
    for turn in pair.turns("assistant"):
        n = len(_FENCE.findall(turn))
        if n % 2:
            return f"{n} code fence lines"
    return None


# cp1252's characters for bytes 0x80-0x9f (the others are Latin-1): UTF-8 read as cp1252
# turns each continuation byte into one of these or a Latin-1 letter.
_CP1252 = {ch: b for b in range(0x80, 0xA0) for ch in [bytes([b]).decode("cp1252", errors="ignore")] if ch}
_MOJIBAKE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf" + "".join(_CP1252) + "]+")


def _as_bytes(run: str) -> Optional[bytes]:
    out = bytearray()
    for ch in run:
        o = ord(ch)
        if ch in _CP1252:
            out.append(_CP1252[ch])
        elif o <= 0xFF:
            out.append(o)
        else:
            return None
    return bytes(out)


def mojibake(text: str) -> Optional[str]:
    """The first run of characters that is UTF-8 decoded as cp1252/Latin-1 ("cafÃ©",
    "donâ€™t"), or None. A run counts only when its bytes decode as UTF-8 to something else."""
    for m in _MOJIBAKE.finditer(text):
        raw = _as_bytes(m.group())
        if raw is None:
            continue
        # The run may end in a character that is genuinely Latin-1: try shorter ends too.
        for end in range(len(raw), 1, -1):
            try:
                fixed = raw[:end].decode("utf-8")
            except UnicodeDecodeError:
                continue
            if fixed != m.group()[:end]:
                return m.group()[:end]
    return None


def _encoding(pair: Pair) -> Optional[str]:
    for m in pair.messages:
        text = m["content"]
        if "\ufffd" in text:
            return f"replacement character U+FFFD in the {m['role']} turn"
        bad = next((ch for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r"), None)
        if bad is not None:
            return f"control character U+{ord(bad):04X} in the {m['role']} turn"
        run = mojibake(text)
        if run:
            return f"mojibake {run!r} in the {m['role']} turn"
    return None


# Words a finished English sentence does not end with: articles, conjunctions, prepositions,
# auxiliaries, possessives.
_DANGLING = set("""a an the and or but nor of to with for in on at by from as into onto than that which who
whose whom is are was were be been being has have had will would can could should this these those their
its his her our your my because while if when where until unless although though since via such also""".split())


def _truncated(pair: Pair) -> Optional[str]:
    text = pair.response.rstrip()
    words = _words(text)
    if len(words) < 3:
        return None
    last = text[-1]
    if last in ",;:(-\u2013\u2014" and not (last == "," and text[-2:-1] in ".!?"):
        return f"ends with {text[-20:]!r}"
    if text[-len(words[-1]):] == words[-1] and words[-1].lower() in _DANGLING:
        return f"ends with {text[-20:]!r}"
    return None


# ---- length ------------------------------------------------------------------------------

def _too_long(opts: RuleOptions) -> Callable[[Pair], Optional[str]]:
    def check(pair: Pair) -> Optional[str]:
        n = sum(len(m["content"]) for m in pair.messages)
        return f"{n} characters" if n > opts.max_chars else None
    return check


def _unreadable(pair: Pair) -> Optional[str]:
    if pair.format != "unreadable":
        return None
    return pair.problem or "unreadable record"


def build_rules(opts: RuleOptions) -> List[Rule]:
    """The per-pair rules in the order they are applied (a pair counts under the first one
    it breaks)."""
    return [
        Rule("unreadable", "records that are not JSON or none of the known shapes", _unreadable),
        Rule("empty", "empty prompt or a response without a letter or digit", _empty),
        Rule("refusal", "an assistant turn contains a refusal phrase", _refusal(opts.refusal_phrases)),
        Rule("short_response", f"a filler reply ('ok', 'sure', 'thanks'), fewer than {opts.min_words} words, or "
             f"fewer than {opts.min_words_long_form} for a "
             "request for long-form text (write, explain, describe, ...)", _short(opts)),
        Rule("malformed_code_fence", "an assistant turn with an odd number of ``` / ~~~ fence lines", _fences),
        Rule("malformed_encoding", "U+FFFD, control characters or mojibake (UTF-8 read as cp1252/Latin-1)",
             _encoding),
        Rule("malformed_truncated", "the response stops mid-sentence (a trailing comma, colon, bracket, "
             "dash, article, conjunction or preposition)", _truncated),
        Rule("too_long", f"more than {opts.max_chars} characters in all turns", _too_long(opts)),
    ]


def apply_rules(pairs: Sequence[Pair], rules: Sequence[Rule], progress=None) -> List[Tuple[str, ...]]:
    """Mark each pair with the first rule it breaks; return, per pair, every rule it breaks."""
    matched = []
    for pair in pairs:
        if progress:
            progress.update()
        hits = []
        for rule in rules:
            if pair.format == "unreadable" and rule.name != "unreadable":
                continue
            detail = rule.check(pair)
            if detail is not None:
                hits.append(rule.name)
                if pair.removed_by is None:
                    pair.removed_by, pair.detail = rule.name, detail
        matched.append(tuple(hits))
    return matched


__all__ = ["Rule", "RuleOptions", "build_rules", "apply_rules", "load_phrases", "default_phrases", "mojibake",
           "DEFAULT_PHRASES_FILE"]
