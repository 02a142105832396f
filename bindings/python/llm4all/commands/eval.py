"""`llm4all eval MODEL...`: registers the evaluation command; the work is in llm4all.eval
(the same code path as tools/eval.py)."""

from __future__ import annotations

from typing import Any


def add_parser(sub: Any) -> None:
    from ..eval.command import add_parser as eval_parser
    eval_parser(sub)
