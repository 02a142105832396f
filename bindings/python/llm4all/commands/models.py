"""`llm4all list [--installed]`, `llm4all rm NAME`, `llm4all search WORDS`: the model library.

list shows the catalogue (models.json plus $LLM4ALL_CATALOG) with size, RAM need, whether it
fits this machine's available memory and whether it is installed; the RAM column is a lower
bound (the weights, marked >=) where the catalogue states no figure.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Optional

from .. import catalog


def add_parser(sub: Any) -> None:
    p = sub.add_parser("list", help="list the catalogue (size, RAM, fits, installed) or what is installed")
    p.add_argument("--installed", action="store_true", help="only what the model cache holds, with paths")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--cache-dir", default=None, help="default: $LLM4ALL_CACHE or ~/.cache/llm4all/models")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("rm", help="delete a model from the cache")
    p.add_argument("names", nargs="+", metavar="NAME", help="a catalogue name or a .gguf file name in the cache")
    p.add_argument("--cache-dir", default=None)
    p.set_defaults(func=cmd_rm)

    p = sub.add_parser("search", help="find catalogue models by words (name, description, use, ...)")
    p.add_argument("words", nargs="+", metavar="WORD")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_search)


def _mb(n: int) -> str:
    return f"{n / 1e9:.1f}GB" if n >= 1e9 else f"{n / 1e6:.0f}MB"


def _record(entry: catalog.CatalogEntry, cache: Optional[str], avail: Optional[int]) -> dict:
    ram, exact = catalog.ram_needed(entry, cache)
    return {"name": entry.name, "display_name": entry.info.get("name", entry.name),
            "description": entry.description, "size": entry.size, "ram": ram, "ram_exact": exact,
            "fits": None if avail is None else ram <= avail, "use": entry.info.get("use", []),
            "installed": catalog.is_cached(entry.name, cache), "path": str(catalog.cached_path(entry.name, cache))}


def _table(records: list, avail: Optional[int]) -> str:
    w = max([12] + [len(r["name"]) + 2 for r in records])   # catalogue ids run to 20+ characters
    lines = [f"{'name':<{w}}{'size':>8}  {'RAM':>9}  {'fits':<5}{'installed':<10}description"]
    for r in records:
        ram = ("" if r["ram_exact"] else ">=") + _mb(r["ram"])
        fits = "?" if r["fits"] is None else ("yes" if r["fits"] else "NO")
        lines.append(f"{r['name']:<{w}}{_mb(r['size']):>8}  {ram:>9}  {fits:<5}{'yes' if r['installed'] else '-':<10}"
                     f"{r['description']}")
    lines.append(f"fits: RAM need against the {_mb(avail)} available now" if avail is not None
                 else "fits: available memory unknown")
    if any(not r["ram_exact"] for r in records):
        lines.append(">=: the weights alone; the context and compute buffers come on top")
    return "\n".join(lines) + "\n"


def cmd_list(args: argparse.Namespace) -> int:
    if args.installed:
        rows = catalog.installed(args.cache_dir)
        if args.json:
            sys.stdout.write(json.dumps([{"name": n, "path": str(p), "size": s} for n, p, s in rows], indent=1) + "\n")
        elif not rows:
            sys.stdout.write(f"nothing installed in {catalog.cache_dir(args.cache_dir)}\n")
        else:
            sys.stdout.write("".join(f"{n:<24}{_mb(s):>8}  {p}\n" for n, p, s in rows))
        return 0
    avail = catalog.available_memory()
    records = [_record(e, args.cache_dir, avail) for e in catalog.CATALOG.values()]
    sys.stdout.write(json.dumps(records, indent=1) + "\n" if args.json else _table(records, avail))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    for name in args.names:
        for path in catalog.remove(name, args.cache_dir):
            sys.stdout.write(f"removed {path}\n")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    hits = catalog.search(args.words)
    avail = catalog.available_memory()
    records = [_record(e, None, avail) for e in hits]
    if args.json:
        sys.stdout.write(json.dumps(records, indent=1) + "\n")
    elif not hits:
        sys.stdout.write(f"no catalogue model matches {' '.join(args.words)!r}\n")
        return 1
    else:
        sys.stdout.write(_table(records, avail))
    return 0
