"""Builds real document folders for the LocalDocs tests from WikiText-2 articles
(shared/testdata/ppl/wiki.test.raw): Markdown, plain text, PDF (fpdf2, a real PDF writer)
and DOCX (python-docx) files, each article with its headings and paragraphs, plus the
"known passages" (one sentence per article) the retrieval tests look for.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

# Test data as conftest.py finds it: $LLM4ALL_TESTDATA or ../shared/testdata beside the repository.
_TESTDATA = os.environ.get("LLM4ALL_TESTDATA")
WIKI = ((Path(_TESTDATA) if _TESTDATA else Path(__file__).resolve().parents[3] / "shared" / "testdata")
        / "ppl" / "wiki.test.raw")


@dataclass
class Article:
    title: str
    sections: List[Tuple[int, str, List[str]]]   # (heading level, heading, paragraphs); level 1 = the title

    def paragraphs(self) -> List[str]:
        return [p for _, _, ps in self.sections for p in ps]


def _clean(line: str) -> str:
    # WikiText's tokenisation (" , ", " @-@ ", " 's") back to ordinary prose.
    s = line.strip()
    s = s.replace(" @-@ ", "-").replace(" @,@ ", ",").replace(" @.@ ", ".")
    s = re.sub(r" ([,.;:!?)\]'])", r"\1", s)
    s = re.sub(r"([(\[]) ", r"\1", s)
    s = s.replace(" n't", "n't").replace('" ', '"')
    return s


def articles(limit: Optional[int] = None) -> List[Article]:
    """Articles of wiki.test.raw with at least 3 paragraphs of prose."""
    out: List[Article] = []
    cur: Optional[Article] = None
    for raw in WIKI.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            continue
        m = re.fullmatch(r"(=(?: =)*) (.+?) (=(?: =)*)", line)
        if m:
            level = m.group(1).count("=")
            if level == 1:
                if cur is not None and len(cur.paragraphs()) >= 3:
                    out.append(cur)
                    if limit and len(out) >= limit:
                        return out
                cur = Article(_clean(m.group(2)), [(1, _clean(m.group(2)), [])])
            elif cur is not None:
                cur.sections.append((level, _clean(m.group(2)), []))
            continue
        if cur is not None:
            cur.sections[-1][2].append(_clean(line))
    if cur is not None and len(cur.paragraphs()) >= 3 and not (limit and len(out) >= limit):
        out.append(cur)
    return out


def slug(title: str) -> str:
    s = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_")[:60] or "article"


def write_markdown(a: Article, path: Path) -> None:
    parts = []
    for level, heading, paras in a.sections:
        parts.append("#" * level + " " + heading)
        parts.extend(paras)
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")


def write_text(a: Article, path: Path) -> None:
    parts = []
    for level, heading, paras in a.sections:
        parts.append(heading.upper() if level == 1 else heading)
        parts.extend(paras)
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")


def _latin1(s: str) -> str:
    s = s.replace("\u2013", "-").replace("\u2014", "-").replace("\u2019", "'").replace("\u201c", '"') \
         .replace("\u201d", '"')
    return unicodedata.normalize("NFKC", s).encode("latin-1", "replace").decode("latin-1")


def write_pdf(a: Article, path: Path) -> None:
    from fpdf import FPDF
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    for level, heading, paras in a.sections:
        pdf.set_font("Helvetica", "B", 16 if level == 1 else 13)
        pdf.multi_cell(0, 8, _latin1(heading))
        pdf.ln(2)
        pdf.set_font("Helvetica", "", 11)
        for p in paras:
            pdf.multi_cell(0, 5.5, _latin1(p))
            pdf.ln(3)
    pdf.output(str(path))


def write_docx(a: Article, path: Path) -> None:
    import docx
    d = docx.Document()
    for level, heading, paras in a.sections:
        d.add_heading(heading, level=min(level - 1, 9) if level > 1 else 0)
        for p in paras:
            d.add_paragraph(p)
    d.save(str(path))


WRITERS = {".md": write_markdown, ".txt": write_text, ".pdf": write_pdf, ".docx": write_docx}


def known_sentence(a: Article, index: int) -> str:
    """A sentence of the article (varied by index) long enough to be a real passage."""
    sentences = [s for p in a.paragraphs() for s in re.split(r"(?<=[.!?])\s+", p) if 60 <= len(s) <= 300]
    if not sentences:
        sentences = a.paragraphs()
    return sentences[(index * 7) % len(sentences)]


def shortened(a: Article, max_paragraphs: int) -> Article:
    """The article's first sections holding at most max_paragraphs paragraphs (tests stay quick)."""
    sections, left = [], max_paragraphs
    for level, heading, paras in a.sections:
        if left <= 0:
            break
        sections.append((level, heading, paras[:left]))
        left -= len(paras[:left])
    return Article(a.title, sections)


def build_folder(folder: Path, n: int, kinds=(".md", ".txt", ".pdf", ".docx"), start: int = 0,
                 max_paragraphs: int = 8) -> Dict[Path, Article]:
    """n articles (their first max_paragraphs paragraphs) as files in folder, cycling through
    the kinds; returns file -> article."""
    folder.mkdir(parents=True, exist_ok=True)
    out: Dict[Path, Article] = {}
    for i, a in enumerate(articles(start + n)[start:]):
        a = shortened(a, max_paragraphs)
        ext = kinds[i % len(kinds)]
        path = folder / f"{i:03d}_{slug(a.title)}{ext}"
        WRITERS[ext](a, path)
        out[path] = a
    return out


def query_of(sentence: str) -> str:
    """A query that is not the sentence verbatim: every third word dropped, lower case."""
    words = re.findall(r"[\w'-]+", sentence.lower())
    return " ".join(w for i, w in enumerate(words) if i % 3 != 2)
