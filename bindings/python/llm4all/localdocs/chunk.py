"""LocalDocs chunking: Blocks -> Chunks of at most ~max_chars, cut at structure (a heading
always starts a new chunk; paragraphs, then sentences, then words), consecutive chunks of a
section sharing ~overlap_chars of text so a passage cut in two is still whole in one of them.
Each chunk keeps its heading path (embedded with it) and its source location.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, List, Tuple

from .parse import Block

__all__ = ["Chunk", "chunk_blocks", "MAX_CHARS", "OVERLAP_CHARS"]

# ~1000 characters is ~200-250 tokens of English: inside every embedding model's window
# (all-MiniLM-L6-v2 reads 256 word pieces) and small enough that a hit points at a passage.
MAX_CHARS = 1000
OVERLAP_CHARS = 200


@dataclass
class Chunk:
    text: str
    title: str            # heading path, "Document > Section"
    line_start: int = 0
    line_end: int = 0
    page_start: int = 0
    page_end: int = 0
    para_start: int = 0
    para_end: int = 0

    @property
    def location(self) -> str:
        """Where the chunk is, for people: "page 3", "pages 3-4", "lines 10-25", "paragraphs 4-9"."""
        for word, a, b in (("page", self.page_start, self.page_end), ("line", self.line_start, self.line_end),
                           ("paragraph", self.para_start, self.para_end)):
            if a:
                return f"{word} {a}" if a == b else f"{word}s {a}-{b}"
        return ""

    def embed_text(self) -> str:
        """What is embedded: the heading path gives a passage the topic its words may not name."""
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass
class _Unit:
    text: str
    para: int          # which paragraph it belongs to (units of one paragraph join with a space)
    line_start: int
    line_end: int
    page: int
    docx_para: int


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])[\"')\]]*\s+(?=\S)")


def _pieces(text: str, limit: int, code: bool) -> List[Tuple[int, int]]:
    """(start, end) spans of text: sentences for prose, lines for code; any span longer than
    limit is cut at whitespace (or hard, for a word longer than that)."""
    spans: List[Tuple[int, int]] = []
    if code:
        pos = 0
        for line in text.split("\n"):
            spans.append((pos, pos + len(line)))
            pos += len(line) + 1
        # group lines up to the limit, so code is cut into runs of lines, not single lines
        grouped: List[Tuple[int, int]] = []
        for a, b in spans:
            if grouped and b - grouped[-1][0] <= limit // 2:
                grouped[-1] = (grouped[-1][0], b)
            else:
                grouped.append((a, b))
        spans = grouped
    else:
        pos = 0
        for m in _SENTENCE_END.finditer(text):
            spans.append((pos, m.start()))
            pos = m.end()
        spans.append((pos, len(text)))
    out: List[Tuple[int, int]] = []
    for a, b in spans:
        while b - a > limit:
            cut = text.rfind(" ", a + limit // 2, a + limit)
            cut = cut if cut > a else a + limit
            out.append((a, cut))
            a = cut
            while a < b and text[a].isspace():
                a += 1
        if text[a:b].strip():
            out.append((a, b))
    return out


def _units(blocks: Iterable[Block], limit: int) -> Iterable[Tuple[int, List[_Unit], Block]]:
    """Yields (heading level or 0, units of a paragraph, block)."""
    for n, b in enumerate(blocks):
        if b.level:
            yield b.level, [], b
            continue
        units = []
        for a, e in _pieces(b.text, limit, b.code):
            first = b.line_start + b.text.count("\n", 0, a) if b.line_start else 0
            last = b.line_start + b.text.count("\n", 0, e) if b.line_start else 0
            units.append(_Unit(b.text[a:e].strip() if not b.code else b.text[a:e].rstrip(), n, first, last,
                               b.page, b.para))
        yield 0, units, b


def _make(units: List[_Unit], title: str) -> Chunk:
    parts: List[str] = []
    for i, u in enumerate(units):
        if i:
            parts.append(" " if u.para == units[i - 1].para else "\n\n")
        parts.append(u.text)
    nz = lambda xs: [x for x in xs if x]  # noqa: E731
    lines = nz([u.line_start for u in units] + [u.line_end for u in units])
    pages = nz([u.page for u in units])
    paras = nz([u.docx_para for u in units])
    return Chunk("".join(parts), title, min(lines, default=0), max(lines, default=0), min(pages, default=0),
                 max(pages, default=0), min(paras, default=0), max(paras, default=0))


def chunk_blocks(blocks: List[Block], doc_title: str = "", max_chars: int = MAX_CHARS,
                 overlap_chars: int = OVERLAP_CHARS) -> List[Chunk]:
    """Chunks of a document's blocks, in order."""
    out: List[Chunk] = []
    headings: List[Tuple[int, str]] = []
    cur: List[_Unit] = []
    size = 0
    fresh = 0   # units in cur that no earlier chunk holds (an overlap alone is not a chunk)

    def title() -> str:
        names = [doc_title] if doc_title else []
        names += [h for _, h in headings]
        return " > ".join(names)

    def emit(keep_overlap: bool) -> None:
        nonlocal cur, size, fresh
        if not fresh:
            cur, size = [], 0
            return
        fresh = 0
        out.append(_make(cur, title()))
        if not keep_overlap:
            cur, size = [], 0
            return
        # carry the last units (up to overlap_chars, at least not the whole chunk) into the next
        keep: List[_Unit] = []
        kept = 0
        for u in reversed(cur[1:]):
            if kept + len(u.text) > overlap_chars:
                break
            keep.insert(0, u)
            kept += len(u.text) + 1
        cur, size = keep, kept

    for level, units, block in _units(blocks, max_chars):
        if level:
            emit(False)
            headings = [h for h in headings if h[0] < level] + [(level, block.text)]
            continue
        for u in units:
            if cur and size + len(u.text) + 1 > max_chars:
                emit(True)
                # the overlap alone plus this unit could still be too long: drop overlap then
                if size + len(u.text) + 1 > max_chars:
                    cur, size = [], 0
            cur.append(u)
            fresh += 1
            size += len(u.text) + 1
    emit(False)
    return out
