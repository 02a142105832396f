"""Reading prompt-response data in the GPT4All/Alpaca formats and writing it in one shape.

Input records: `{prompt, response}` (GPT4All; `completion`/`output` also name the answer),
`{instruction, input, response|output}` (Alpaca), chat `{messages: [{role, content}]}` and
ShareGPT `{conversations: [{from, value}]}`, in JSON arrays or JSONL files. Every record becomes
a Pair; `Pair.record()` is the normalized output line (see docs/curation.md).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

# GPT4All's prompt-response files often carry the Alpaca template already rendered into the
# prompt; the normalized prompt is the request itself, so a trainer applies its own template.
_ALPACA = re.compile(
    r"^\s*Below is an instruction that describes a task(?:, paired with an input that provides further context)?\."
    r" Write a response that appropriately completes the request\.\s*"
    r"### Instruction:\s*\n(?P<instruction>.*?)\s*(?:### Input:\s*\n(?P<input>.*?)\s*)?### Response:\s*$",
    re.S)

_ROLES = {"user": "user", "human": "user", "system": "system", "assistant": "assistant", "gpt": "assistant",
          "bot": "assistant", "model": "assistant", "chatgpt": "assistant"}


@dataclass
class Pair:
    """One prompt-response example (possibly a multi-turn conversation) and its fate."""

    id: str                           # "<source>#<index>"
    source: str                       # the input file it came from (its name)
    index: int                        # position of the record in that file, from 0
    format: str                       # prompt_response | alpaca | messages | sharegpt | unreadable
    messages: List[Dict[str, str]]    # system?, user, assistant, ... ending with the response
    origin: Optional[str] = None      # the record's own "source" field, when it has one
    removed_by: Optional[str] = None  # name of the rule that dropped it (None: kept)
    detail: str = ""                  # why that rule fired (matched phrase, duplicate of ...)
    problem: str = ""                 # for unreadable records: what was wrong

    @property
    def prompt(self) -> str:
        """The last user turn (the request the response answers)."""
        for m in reversed(self.messages):
            if m["role"] == "user":
                return m["content"]
        return ""

    @property
    def response(self) -> str:
        """The last assistant turn ("" when the conversation has none)."""
        if self.messages and self.messages[-1]["role"] == "assistant":
            return self.messages[-1]["content"]
        return ""

    def turns(self, role: str) -> List[str]:
        return [m["content"] for m in self.messages if m["role"] == role]

    def text(self) -> str:
        """All turns joined: what dedup and the map compare."""
        return "\n".join(m["content"] for m in self.messages)

    def record(self) -> Dict[str, Any]:
        """The normalized output line."""
        out: Dict[str, Any] = {"id": self.id, "source": self.source, "index": self.index, "format": self.format,
                               "prompt": self.prompt, "response": self.response, "messages": self.messages}
        if self.origin is not None:
            out["origin"] = self.origin
        return out


def _text(value: Any) -> Optional[str]:
    return value if isinstance(value, str) else None


def _answer(rec: Dict[str, Any]) -> Optional[str]:
    for key in ("response", "output", "completion"):
        if key in rec:
            return _text(rec[key])
    return None


def _from_prompt(rec: Dict[str, Any]) -> Optional[Tuple[str, List[Dict[str, str]]]]:
    prompt, answer = _text(rec.get("prompt")), _answer(rec)
    if prompt is None or answer is None:
        return None
    m = _ALPACA.match(prompt)
    if m:
        prompt = m.group("instruction") + (f"\n\n{m.group('input')}" if m.group("input") else "")
    return "prompt_response", [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def _from_alpaca(rec: Dict[str, Any]) -> Optional[Tuple[str, List[Dict[str, str]]]]:
    instruction, extra, answer = _text(rec.get("instruction")), rec.get("input", ""), _answer(rec)
    if instruction is None or answer is None or not isinstance(extra, str):
        return None
    prompt = instruction.strip() + (f"\n\n{extra.strip()}" if extra.strip() else "")
    return "alpaca", [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def _from_turns(turns: Any, role_key: str, text_key: str) -> Optional[List[Dict[str, str]]]:
    if not isinstance(turns, list) or not turns:
        return None
    out = []
    for t in turns:
        if not isinstance(t, dict):
            return None
        role, content = _ROLES.get(str(t.get(role_key, "")).lower()), t.get(text_key)
        if role is None or not isinstance(content, str):
            return None
        out.append({"role": role, "content": content})
    return out


def parse_record(rec: Any) -> Tuple[str, List[Dict[str, str]], str]:
    """(format, messages, problem) of one decoded record; format "unreadable" with a problem
    when it is none of the known shapes."""
    if not isinstance(rec, dict):
        return "unreadable", [], f"a record is a JSON object, not {type(rec).__name__}"
    if "messages" in rec:
        msgs = _from_turns(rec["messages"], "role", "content")
        return ("messages", msgs, "") if msgs else ("unreadable", [], "messages is not a list of {role, content}")
    if "conversations" in rec:
        msgs = _from_turns(rec["conversations"], "from", "value")
        return ("sharegpt", msgs, "") if msgs else ("unreadable", [], "conversations is not a list of {from, value}")
    got = _from_alpaca(rec) if "instruction" in rec else _from_prompt(rec)
    if got:
        return got[0], got[1], ""
    return "unreadable", [], "no prompt/instruction with a response/output, messages or conversations"


_RECORD_KEYS = ("prompt", "instruction", "response", "output", "completion", "messages", "conversations")


def _records(path: Path) -> Iterator[Tuple[Any, str]]:
    """(decoded record, problem) for each record of a JSON array or JSONL file."""
    with open(path, "rb") as f:
        raw = f.read()
    # Bytes that are not UTF-8 are kept as U+FFFD: the encoding rule then reports the record.
    data = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    head = data.lstrip()[:1]
    if head in ("[", "{"):
        try:
            doc = json.loads(data)
        except json.JSONDecodeError:
            doc = None
        if isinstance(doc, list):
            yield from ((r, "") for r in doc)
            return
        if isinstance(doc, dict):
            # {"data": [...]}-style wrappers (Hugging Face's JSON datasets) or one record.
            lists = [v for v in doc.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
            if len(lists) == 1 and not any(k in doc for k in _RECORD_KEYS):
                yield from ((r, "") for r in lists[0])
            else:
                yield doc, ""
            return
    # split("\n"), not splitlines(): JSON strings may hold U+2028 or U+0085 unescaped.
    for line in data.split("\n"):
        if not line.strip():
            continue
        try:
            yield json.loads(line), ""
        except json.JSONDecodeError as e:
            yield None, f"invalid JSON line: {e.msg}"


def source_names(paths: Sequence[os.PathLike]) -> List[str]:
    """The name each input is known by: its file name, or its path when two names clash."""
    names = [Path(p).name for p in paths]
    return [n if names.count(n) == 1 else str(p) for n, p in zip(names, paths)]


def read_pairs(paths: Sequence[os.PathLike]) -> Tuple[List[Pair], List[Dict[str, Any]]]:
    """All pairs of the input files, in order, and one summary per file."""
    pairs: List[Pair] = []
    summaries = []
    for path, name in zip(paths, source_names(paths)):
        counts: Dict[str, int] = {}
        for i, (rec, problem) in enumerate(_records(Path(path))):
            if problem:
                fmt, msgs = "unreadable", []
            else:
                fmt, msgs, problem = parse_record(rec)
            origin = rec.get("source") if isinstance(rec, dict) and isinstance(rec.get("source"), str) else None
            pairs.append(Pair(id=f"{name}#{i}", source=name, index=i, format=fmt, messages=msgs, origin=origin,
                              problem=problem))
            counts[fmt] = counts.get(fmt, 0) + 1
        summaries.append({"path": str(path), "name": name, "records": sum(counts.values()), "formats": counts})
    return pairs, summaries


def write_jsonl(path: os.PathLike, records: Sequence[Dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


__all__ = ["Pair", "parse_record", "read_pairs", "source_names", "write_jsonl"]
