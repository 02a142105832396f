"""One curation run: read the inputs, apply the per-pair rules, remove exact then near
duplicates among the pairs left, write the kept pairs (and optionally the removed ones), the
report and the data map. tools/curate.py and llm4all.curate.command are its command line.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from ..eval.progress import Progress
from .dedup import exact_dedup, near_dedup
from .formats import Pair, read_pairs, write_jsonl
from .report import build_report, print_summary
from .rules import RuleOptions, apply_rules, build_rules

DEDUP_RULES = [("exact_duplicate", "the same conversation as an earlier pair after normalization "
                "(case, punctuation, spacing)"),
               ("near_duplicate", "estimated Jaccard similarity of character 5-grams to an earlier kept pair at "
                "least the threshold, in all turns and in the response alone (MinHash LSH, datasketch)")]


@dataclass
class CurateOptions:
    rules: RuleOptions = field(default_factory=RuleOptions)
    skip: List[str] = field(default_factory=list)        # rule names not applied
    near_threshold: float = 0.8
    num_perm: int = 128
    shingle: int = 5
    examples: int = 3
    map_html: Optional[str] = None
    map_png: Optional[str] = None
    embed_model: Optional[str] = "minilm"                # None: TF-IDF vectors for the map
    projection: str = "auto"                             # umap (when installed) | tsne
    clusters: int = 0                                    # 0: about sqrt(n)/4
    map_points: int = 20000                              # sample this many pairs for the map (0: all)
    seed: int = 0
    progress: bool = True


def rule_names() -> List[str]:
    return [r.name for r in build_rules(RuleOptions())] + [n for n, _ in DEDUP_RULES]


def curate(inputs: Sequence[os.PathLike], output: os.PathLike, report_path: Optional[os.PathLike] = None,
           removed_path: Optional[os.PathLike] = None, options: Optional[CurateOptions] = None,
           log=sys.stderr) -> Dict[str, Any]:
    """Run the whole curation; returns the report (also written to report_path)."""
    opts = options or CurateOptions()
    unknown = set(opts.skip) - set(rule_names())
    if unknown:
        raise ValueError(f"unknown rule(s) {', '.join(sorted(unknown))} (rules: {', '.join(rule_names())})")
    timing: Dict[str, float] = {}
    t = time.perf_counter()
    pairs, summaries = read_pairs(inputs)
    timing["read"] = time.perf_counter() - t

    def bar(label: str, total: int) -> Progress:
        return Progress(total, label, stream=log, enabled=opts.progress and total > 0)

    t = time.perf_counter()
    rules = [r for r in build_rules(opts.rules) if r.name not in opts.skip]
    progress = bar("rules", len(pairs))
    matched = apply_rules(pairs, rules, progress)
    progress.close()
    timing["rules"] = time.perf_counter() - t

    t = time.perf_counter()
    if "exact_duplicate" not in opts.skip:
        exact_dedup(pairs)
    if "near_duplicate" not in opts.skip:
        live = sum(p.removed_by is None for p in pairs)
        progress = bar("near-dedup", live)
        near_dedup(pairs, opts.near_threshold, opts.num_perm, opts.shingle, seed=opts.seed + 1, progress=progress)
        progress.close()
    timing["dedup"] = time.perf_counter() - t

    write_jsonl(output, [p.record() for p in pairs if p.removed_by is None])
    if removed_path:
        write_jsonl(removed_path, [dict(p.record(), removed_by=p.removed_by, detail=p.detail or p.problem)
                                   for p in pairs if p.removed_by is not None])

    settings = {k: v for k, v in asdict(opts).items() if k not in ("rules", "progress")}
    settings.update({k: v for k, v in asdict(opts.rules).items() if k != "refusal_phrases"})
    settings["refusal_phrases"] = len(opts.rules.refusal_phrases)
    applied = [(r.name, r.description) for r in rules] + [d for d in DEDUP_RULES if d[0] not in opts.skip]
    report = build_report(pairs, applied, matched, summaries, settings, opts.examples)
    report["output"] = str(output)

    if opts.map_html or opts.map_png:
        t = time.perf_counter()
        report["map"] = draw_map(pairs, opts, bar, log)
        timing["map"] = time.perf_counter() - t
    report["seconds"] = {k: round(v, 2) for k, v in timing.items()}
    if report_path:
        Path(report_path).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if opts.progress:
        print_summary(report, log)
    return report


def draw_map(pairs: Sequence[Pair], opts: CurateOptions, bar: Callable[[str, int], Progress],
             log=sys.stderr) -> Dict[str, Any]:
    from .mapdata import build_map
    from .page import write_html
    from .plot import write_png

    bars: List[Progress] = []

    def progress(label: str, total: int) -> Callable[[int], None]:
        if total == 0:          # a step without a count: one line saying it runs
            if opts.progress:
                log.write(f"{label}...\n")
            return lambda n: None
        bars.append(bar(label, total))
        return bars[-1].update

    data = build_map(pairs, opts.embed_model, opts.projection, opts.clusters, opts.seed, progress,
                     max_points=opts.map_points)
    for b in bars:
        b.close()
    if opts.map_html:
        write_html(data, opts.map_html)
    if opts.map_png:
        write_png(data, opts.map_png)
    return {"html": opts.map_html, "png": opts.map_png, "embedding": data.embedding, "projection": data.projection,
            "points": len(data.ids), "readable": sum(p.format != "unreadable" for p in pairs),
            "clusters": [{"name": n, "pairs": c} for n, c in zip(data.groups["cluster"], data.counts("cluster"))]}


__all__ = ["CurateOptions", "curate", "rule_names", "DEDUP_RULES"]
