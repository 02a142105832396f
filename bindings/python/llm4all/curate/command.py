"""Command line of curation (tools/curate.py): filter and deduplicate prompt-response files into
one normalized JSONL, with a report of what each rule removed and a map of the data.

    python tools/curate.py data/*.jsonl data/*.json -o clean.jsonl --report report.json --map map.html
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

from .pipeline import CurateOptions, curate, rule_names
from .rules import RuleOptions, default_phrases, load_phrases


def build_parser(prog: str = "curate") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Curate prompt-response data: drop refusals, empty, short, "
                                "malformed and over-long pairs and duplicates; report and map the result.")
    p.add_argument("inputs", nargs="+", metavar="IN", help="JSON or JSONL files: {prompt, response}, "
                   "{instruction, input, response|output}, {messages} or {conversations} records")
    p.add_argument("-o", "--output", required=True, metavar="OUT.jsonl", help="kept pairs, one normalized record a line")
    p.add_argument("--report", metavar="FILE.json", help="what each rule removed, with examples")
    p.add_argument("--removed", metavar="FILE.jsonl", help="the removed pairs, each with removed_by and detail")
    p.add_argument("--map", metavar="FILE.html", help="self-contained HTML data map (a PNG is written beside it)")
    p.add_argument("--map-png", metavar="FILE.png", help="PNG map path (default: --map's path with .png; "
                   "alone, only the PNG)")
    g = p.add_argument_group("rules")
    g.add_argument("--refusal-phrases", metavar="FILE", action="append", default=[],
                   help="more refusal phrases, one a line (# comments, ^ = only at the start of a turn)")
    g.add_argument("--no-default-refusals", action="store_true", help="use only --refusal-phrases files")
    g.add_argument("--min-words", type=int, default=1, help="responses with fewer words are short (default 1)")
    g.add_argument("--min-words-long-form", type=int, default=5,
                   help="... and fewer than this for a write/explain/describe request (default 5)")
    g.add_argument("--max-chars", type=int, default=8192, help="longest conversation kept, in characters "
                   "(default 8192, about 2048 tokens)")
    g.add_argument("--near-threshold", type=float, default=0.8, help="Jaccard similarity from which pairs are "
                   "near duplicates (default 0.8)")
    g.add_argument("--num-perm", type=int, default=128, help="MinHash permutations (default 128)")
    g.add_argument("--skip", action="append", default=[], metavar="RULE",
                   help=f"do not apply a rule (repeatable): {', '.join(rule_names())}")
    g.add_argument("--examples", type=int, default=3, help="examples per rule in the report (default 3)")
    m = p.add_argument_group("map")
    m.add_argument("--embed-model", default="minilm", help="engine embedding model for the map (catalogue name "
                   "or GGUF path; default minilm)")
    m.add_argument("--tfidf", action="store_true", help="TF-IDF vectors instead of the embedding model")
    m.add_argument("--projection", choices=["auto", "umap", "tsne"], default="auto",
                   help="2-D projection (auto: UMAP when umap-learn is installed, else t-SNE)")
    m.add_argument("--clusters", type=int, default=0, help="k-means clusters (default: about sqrt(n)/4, 2 to 12)")
    m.add_argument("--map-points", type=int, default=20000, help="map at most this many pairs, a seeded "
                   "random sample (default 20000; 0: all)")
    m.add_argument("--seed", type=int, default=0, help="seed of the sample, projection and clusters")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summary")
    return p


def main(argv: Optional[List[str]] = None, prog: str = "curate") -> int:
    args = build_parser(prog).parse_args(argv)
    phrases = [] if args.no_default_refusals else default_phrases()
    for path in args.refusal_phrases:
        phrases += load_phrases(path)
    map_png = args.map_png or (str(Path(args.map).with_suffix(".png")) if args.map else None)
    opts = CurateOptions(
        rules=RuleOptions(refusal_phrases=phrases, min_words=args.min_words,
                          min_words_long_form=args.min_words_long_form, max_chars=args.max_chars),
        skip=args.skip, near_threshold=args.near_threshold, num_perm=args.num_perm, examples=args.examples,
        map_html=args.map, map_png=map_png, embed_model=None if args.tfidf else args.embed_model,
        projection=args.projection, clusters=args.clusters, map_points=args.map_points, seed=args.seed, progress=not args.quiet)
    try:
        curate(args.inputs, args.output, args.report, args.removed, opts)
    except (OSError, ValueError, RuntimeError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    return 0


__all__ = ["build_parser", "main"]
