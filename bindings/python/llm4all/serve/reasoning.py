"""Splits a reply into `<think>` reasoning and the answer, incrementally, exactly as the core
chat does it on the whole text (core/src/chat.cpp, Chat::respond): the streamed pieces joined
equal the non-streamed split, because the non-streamed path feeds the same splitter."""

from __future__ import annotations

from typing import List, Tuple

WS = " \t\r\n"            # chat.cpp's lstrip/strip set
OPEN, CLOSE = "<think>", "</think>"


def split_reasoning(text: str, prompt_opened: bool) -> Tuple[str, str]:
    """(reasoning, answer) of a whole reply: the reference the incremental splitter follows."""
    if prompt_opened:
        text = OPEN + text
    body = text.lstrip(WS)
    if not body.startswith(OPEN):
        return "", text
    end = body.find(CLOSE)
    if end < 0:
        return body[len(OPEN):].strip(WS), ""
    return body[len(OPEN):end].strip(WS), body[end + len(CLOSE):].lstrip(WS)


def prompt_opens_think(prompt: str) -> bool:
    """The prompt ends inside an open <think> (DeepSeek-R1, Qwen3 templates write it)."""
    o, c = prompt.rfind(OPEN), prompt.rfind(CLOSE)
    return o >= 0 and (c < 0 or c < o)


def _partial_suffix(s: str, tag: str) -> int:
    """Length of the longest suffix of s that is a proper prefix of tag."""
    for n in range(min(len(s), len(tag) - 1), 0, -1):
        if s.endswith(tag[:n]):
            return n
    return 0


class ReasoningSplitter:
    """feed(text) -> [("reasoning" | "content", text)], finish() -> the rest. Text that might
    still turn out to be a tag, or whitespace strip() would remove, is held back."""

    def __init__(self, prompt_opened: bool) -> None:
        self._state = "think" if prompt_opened else "detect"
        self._buf = ""
        self._started = False    # reasoning text seen (leading whitespace is dropped before it)

    def feed(self, text: str) -> List[Tuple[str, str]]:
        self._buf += text
        out: List[Tuple[str, str]] = []
        while True:
            if self._state == "detect":
                b = self._buf.lstrip(WS)
                if b.startswith(OPEN):
                    self._state, self._buf = "think", b[len(OPEN):]
                    continue
                if b == "" or OPEN.startswith(b):
                    return out           # may still become "<think>"
                self._state = "answer"
                continue
            if self._state == "think":
                if not self._started:
                    self._buf = self._buf.lstrip(WS)
                    if not self._buf:
                        return out
                end = self._buf.find(CLOSE)
                if end >= 0:
                    r = self._buf[:end].rstrip(WS)
                    if r:
                        out.append(("reasoning", r))
                    self._state, self._buf = "after", self._buf[end + len(CLOSE):]
                    continue
                safe = len(self._buf) - _partial_suffix(self._buf, CLOSE)
                emit = len(self._buf[:safe].rstrip(WS))
                if emit:
                    self._started = True
                    out.append(("reasoning", self._buf[:emit]))
                    self._buf = self._buf[emit:]
                return out
            if self._state == "after":
                self._buf = self._buf.lstrip(WS)
                if not self._buf:
                    return out
                self._state = "answer"
                continue
            # answer
            if self._buf:
                out.append(("content", self._buf))
                self._buf = ""
            return out

    def finish(self) -> List[Tuple[str, str]]:
        out: List[Tuple[str, str]] = []
        if self._state == "detect" and self._buf:
            out.append(("content", self._buf))
        elif self._state == "think":
            r = self._buf.rstrip(WS)
            if r:
                out.append(("reasoning", r))
        self._buf = ""
        return out
