"""LocalDocs parsing: a document file -> a list of Blocks (headings and paragraphs), each
remembering where it came from (line range in the source, PDF page, DOCX paragraph), so
chunks built from them can cite their place. One reader per format; failures raise
ParseError with a one-line reason (the indexer reports the file and goes on).
"""

from __future__ import annotations

import html.parser
import os
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

__all__ = ["Block", "ParseError", "parse_file", "parse_bytes", "SUPPORTED_EXTENSIONS", "is_supported"]


@dataclass
class Block:
    """A heading (level >= 1) or a paragraph (level 0) of a document.
    line_start/line_end: 1-based lines in the source text (0 when the format has none);
    page: 1-based PDF page (0 otherwise); para: 1-based DOCX paragraph (0 otherwise)."""
    text: str
    level: int = 0
    line_start: int = 0
    line_end: int = 0
    page: int = 0
    para: int = 0
    code: bool = False   # source code: split at lines, never at sentences


class ParseError(Exception):
    """A file that cannot be read as a document (corrupt, encrypted, binary...)."""


# Plain-text formats read by the paragraph reader; source files keep their lines.
_PROSE = {".txt", ".text", ".log", ".csv", ".tsv"}
_CODE = {".py", ".c", ".h", ".cc", ".cpp", ".hpp", ".cxx", ".hh", ".java", ".js", ".mjs", ".ts", ".tsx", ".jsx",
         ".go", ".rs", ".rb", ".php", ".cs", ".swift", ".kt", ".kts", ".scala", ".sh", ".bash", ".zsh", ".ps1",
         ".lua", ".pl", ".r", ".m", ".sql", ".css", ".scss", ".json", ".yaml", ".yml", ".toml", ".ini", ".cfg",
         ".xml", ".tex", ".cmake", ".dart", ".zig", ".jl", ".hs", ".ml", ".ex", ".exs", ".erl", ".clj", ".vue"}
_MARKDOWN = {".md", ".markdown", ".mdx"}
_RST = {".rst"}
_HTML = {".html", ".htm", ".xhtml"}
SUPPORTED_EXTENSIONS = frozenset(_PROSE | _CODE | _MARKDOWN | _RST | _HTML | {".pdf", ".docx"})


def is_supported(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in SUPPORTED_EXTENSIONS


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252/Latin-1; NUL bytes mean binary."""
    if b"\x00" in data[:8192]:
        raise ParseError("binary data (NUL bytes) in a text file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _paragraphs(lines: List[str], first_line: int = 1, code: bool = False) -> List[Block]:
    """Runs of non-blank lines become paragraphs with their line range."""
    out: List[Block] = []
    start = None
    for i, line in enumerate(lines + [""]):
        if line.strip():
            if start is None:
                start = i
        elif start is not None:
            out.append(Block("\n".join(lines[start:i]).strip("\n"), 0, first_line + start, first_line + i - 1,
                             code=code))
            start = None
    return out


# wikitext-style headings (" = Title = ", " = = Section = = ") in plain text files.
_WIKI_HEADING = re.compile(r"^\s*(=(?:\s=)*)\s+(.+?)\s+(=(?:\s=)*)\s*$")


def parse_text(text: str, code: bool = False) -> List[Block]:
    lines = text.split("\n")
    if code:
        return _paragraphs(lines, code=True)
    out: List[Block] = []
    for b in _paragraphs(lines):
        m = _WIKI_HEADING.match(b.text) if "\n" not in b.text else None
        if m and m.group(1).count("=") == m.group(3).count("="):
            b.level = m.group(1).count("=")
            b.text = m.group(2).strip()
        out.append(b)
    return out


_ATX = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


def parse_markdown(text: str) -> List[Block]:
    """ATX and setext headings, paragraphs, fenced code kept whole (blank lines included)."""
    lines = text.split("\n")
    out: List[Block] = []
    para: List[str] = []
    para_start = 0
    fence: Optional[str] = None

    def flush(end: int) -> None:
        nonlocal para
        if para and any(x.strip() for x in para):
            out.append(Block("\n".join(para).strip("\n"), 0, para_start + 1, end, code=fence is not None))
        para = []

    i = 0
    while i < len(lines):
        line = lines[i]
        if fence is not None:
            para.append(line)
            if line.strip().startswith(fence):
                flush(i + 1)
                fence = None
            i += 1
            continue
        m = _FENCE.match(line)
        if m:
            flush(i)
            fence = m.group(1)
            para, para_start = [line], i
            i += 1
            continue
        m = _ATX.match(line)
        if m:
            flush(i)
            out.append(Block(m.group(2), len(m.group(1)), i + 1, i + 1))
            i += 1
            continue
        if (para and len(para) == 1 and line.strip() and set(line.strip()) <= {"="} or
                para and len(para) == 1 and len(line.strip()) >= 2 and set(line.strip()) <= {"-"}):
            out.append(Block(para[0].strip(), 1 if "=" in line else 2, para_start + 1, i + 1))
            para = []
            i += 1
            continue
        if not line.strip():
            flush(i)
        else:
            if not para:
                para_start = i
            para.append(line)
        i += 1
    fence = None
    flush(len(lines))
    return out


_RST_ADORN = re.compile(r"^([=\-~^\"'`#*+:.<>_])\1{2,}\s*$")


def parse_rst(text: str) -> List[Block]:
    """reStructuredText: a title is a line underlined (optionally overlined) by a run of one
    punctuation character; levels follow the order the adornments first appear in."""
    lines = text.split("\n")
    levels: Dict[str, int] = {}
    out: List[Block] = []
    body: List[str] = []
    body_start = 0

    def flush_body() -> None:
        nonlocal body
        out.extend(_paragraphs(body, body_start + 1))
        body = []

    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        over = _RST_ADORN.match(line)
        if over and i + 2 < len(lines) and lines[i + 1].strip() and _RST_ADORN.match(lines[i + 2]):
            key = "o" + line.strip()[0]
            title, end = lines[i + 1].strip(), i + 3
        elif line.strip() and not over and _RST_ADORN.match(nxt) and len(nxt.strip()) >= len(line.strip()):
            key = "u" + nxt.strip()[0]
            title, end = line.strip(), i + 2
        else:
            if not body:
                body_start = i
            body.append(line)
            i += 1
            continue
        flush_body()
        level = levels.setdefault(key, len(levels) + 1)
        out.append(Block(title, min(level, 6), i + 1, end))
        i = end
        body_start = i
    flush_body()
    return out


class _HTMLReader(html.parser.HTMLParser):
    """Text of block elements with the source line each starts on; script/style dropped."""
    _BLOCKS = {"p", "div", "li", "tr", "td", "th", "pre", "blockquote", "section", "article", "br", "dt", "dd",
               "figcaption", "caption", "table", "ul", "ol", "header", "footer", "main", "nav", "aside", "title"}
    _SKIP = {"script", "style", "noscript", "template", "svg", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: List[Block] = []
        self.buf: List[str] = []
        self.start = 0
        self.level = 0
        self.skip = 0
        self.pre = 0
        self.title: List[str] = []
        self.in_title = False

    def _flush(self) -> None:
        text = "".join(self.buf)
        text = text.strip("\n") if self.pre else re.sub(r"\s+", " ", text).strip()
        if text:
            line = self.getpos()[0]
            self.blocks.append(Block(text, self.level, self.start or line, max(line, self.start), code=self.pre > 0))
        self.buf = []
        self.start = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "title":
            self.in_title = True
        if tag in self._SKIP:
            self.skip += 1
            return
        if re.fullmatch(r"h[1-6]", tag) or tag in self._BLOCKS:
            self._flush()
            self.level = int(tag[1]) if re.fullmatch(r"h[1-6]", tag) else 0
        if tag == "pre":
            self.pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if tag in self._SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if re.fullmatch(r"h[1-6]", tag) or tag in self._BLOCKS:
            self._flush()
            self.level = 0
        if tag == "pre":
            self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        if self.skip:
            return
        if not self.buf and data.strip():
            self.start = self.getpos()[0] + data[:len(data) - len(data.lstrip())].count("\n")
        self.buf.append(data)


def parse_html(text: str) -> List[Block]:
    r = _HTMLReader()
    r.feed(text)
    r.close()
    r._flush()
    blocks = r.blocks
    title = " ".join("".join(r.title).split())
    if title and not any(b.level for b in blocks):
        blocks.insert(0, Block(title, 1, 1, 1))
    return blocks


def parse_pdf(data: bytes) -> List[Block]:
    """Each page's text (pypdf), in paragraphs; a page with no text layer gives nothing."""
    try:
        import pypdf
    except ImportError as e:
        raise ParseError("reading PDF files needs pypdf (pip install pypdf)") from e
    import io
    import logging
    logging.getLogger("pypdf").setLevel(logging.ERROR)   # its warnings on odd files are not ours to print
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise ParseError("encrypted PDF")
            except ParseError:
                raise
            except Exception as e:
                raise ParseError(f"encrypted PDF ({e})") from e
        out: List[Block] = []
        for n, page in enumerate(reader.pages, 1):
            text = (page.extract_text() or "").replace("\r\n", "\n").replace("\r", "\n")
            for b in _pdf_paragraphs(text):
                b.page = n
                out.append(b)
        return out
    except ParseError:
        raise
    except Exception as e:  # pypdf raises many kinds on damaged files
        raise ParseError(f"corrupt PDF: {' '.join(str(e).split()) or type(e).__name__}") from e


def _pdf_paragraphs(text: str) -> List[Block]:
    # PDF text has a line per printed line; blank lines (when present) separate paragraphs,
    # otherwise a line ending a sentence and shorter than most is taken as a paragraph end.
    blocks = _paragraphs(text.split("\n"))
    out: List[Block] = []
    for b in blocks:
        lines = b.text.split("\n")
        width = sorted(len(x) for x in lines)[len(lines) * 3 // 4] if lines else 0
        cur: List[str] = []
        for line in lines:
            cur.append(line.strip())
            if line.rstrip().endswith((".", "!", "?", ":")) and len(line.strip()) < 0.8 * width:
                out.append(Block(" ".join(cur)))
                cur = []
        if cur:
            out.append(Block(" ".join(cur)))
    return [b for b in out if b.text.strip()]


def parse_docx(data: bytes) -> List[Block]:
    """Paragraphs of a Word document (python-docx); "Heading N"/"Title" styles are headings;
    table cells follow as paragraphs."""
    try:
        import docx
    except ImportError as e:
        raise ParseError("reading .docx files needs python-docx (pip install python-docx)") from e
    import io
    try:
        doc = docx.Document(io.BytesIO(data))
        out: List[Block] = []
        n = 0
        for p in doc.paragraphs:
            n += 1
            text = p.text.strip()
            if not text:
                continue
            style = (p.style.name if p.style is not None else "") or ""
            m = re.match(r"Heading (\d)", style)
            level = int(m.group(1)) if m else (1 if style == "Title" else 0)
            out.append(Block(text, level, para=n))
        for table in doc.tables:
            for row in table.rows:
                cells = [c.text.strip() for c in row.cells if c.text.strip()]
                if cells:
                    n += 1
                    out.append(Block(" | ".join(cells), para=n))
        return out
    except Exception as e:
        raise ParseError(f"corrupt .docx: {' '.join(str(e).split()) or type(e).__name__}") from e


def parse_bytes(data: bytes, ext: str) -> List[Block]:
    """Blocks of a document given its bytes and extension (".md", ".pdf"...)."""
    ext = ext.lower()
    if ext == ".pdf":
        return parse_pdf(data)
    if ext == ".docx":
        return parse_docx(data)
    text = decode_text(data)
    readers: Dict[str, Callable[[str], List[Block]]] = {}
    readers.update({e: parse_markdown for e in _MARKDOWN})
    readers.update({e: parse_rst for e in _RST})
    readers.update({e: parse_html for e in _HTML})
    readers.update({e: (lambda t: parse_text(t, code=True)) for e in _CODE})
    return readers.get(ext, parse_text)(text)


def parse_file(path: str) -> List[Block]:
    with open(path, "rb") as f:
        data = f.read()
    return parse_bytes(data, os.path.splitext(path)[1])
