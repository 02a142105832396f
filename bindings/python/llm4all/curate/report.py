"""The curation report: how many pairs each rule removed (and how many broke it at all, since a
pair is counted under the first rule it breaks), a few examples of each, counts per source
file, and a plain-text table of the same for the terminal.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, TextIO, Tuple

from .formats import Pair

EXAMPLE_CHARS = 300


def _short(text: str, n: int = EXAMPLE_CHARS) -> str:
    return text if len(text) <= n else text[:n - 1] + "\u2026"


def build_report(pairs: Sequence[Pair], rules: Sequence[Tuple[str, str]], matched: Sequence[Tuple[str, ...]],
                 inputs: List[Dict[str, Any]], settings: Dict[str, Any], examples: int = 3) -> Dict[str, Any]:
    """rules: (name, description) in the order applied; matched: every per-pair rule each pair
    broke (from rules.apply_rules)."""
    kept = sum(p.removed_by is None for p in pairs)
    broke: Dict[str, int] = {}
    for hits in matched:
        for name in hits:
            broke[name] = broke.get(name, 0) + 1
    out_rules = []
    for name, description in rules:
        gone = [p for p in pairs if p.removed_by == name]
        entry: Dict[str, Any] = {"name": name, "description": description, "removed": len(gone)}
        if not name.endswith("_duplicate"):  # duplicates depend on order: no separate count
            entry["matched"] = broke.get(name, 0)
        entry["examples"] = [{"id": p.id, "detail": p.detail, "prompt": _short(p.prompt),
                              "response": _short(p.response)} for p in gone[:examples]]
        out_rules.append(entry)
    by_source: Dict[str, Dict[str, Any]] = {}
    for p in pairs:
        s = by_source.setdefault(p.source, {"total": 0, "kept": 0, "removed": {}})
        s["total"] += 1
        if p.removed_by is None:
            s["kept"] += 1
        else:
            s["removed"][p.removed_by] = s["removed"].get(p.removed_by, 0) + 1
    return {"inputs": inputs, "total": len(pairs), "kept": kept, "removed": len(pairs) - kept,
            "rules": out_rules, "by_source": by_source, "settings": settings}


def print_summary(report: Dict[str, Any], out: TextIO) -> None:
    width = max([len(r["name"]) for r in report["rules"]] + [10])
    out.write(f"{'rule':<{width}}  removed  matched\n")
    for r in report["rules"]:
        matched = r.get("matched", "")
        out.write(f"{r['name']:<{width}}  {r['removed']:>7}  {matched:>7}\n")
    out.write(f"{'kept':<{width}}  {report['kept']:>7} of {report['total']}\n")


__all__ = ["build_report", "print_summary"]
