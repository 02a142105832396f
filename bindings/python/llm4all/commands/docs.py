"""`llm4all docs ...`: LocalDocs collections on the command line.

  llm4all docs add NAME FOLDER...      create a collection (or add folders to it)
  llm4all docs list                    collections, folders, counts
  llm4all docs remove NAME             forget a collection (the files are untouched)
  llm4all docs index [NAME]            index new and changed files (all collections without NAME)
  llm4all docs search NAME "query"     the best passages, with file, location and score

The data directory is $LLM4ALL_DATA_DIR (default ~/.local/share/llm4all); the embedding
model is --embed-model (default: the catalogue's embedding model).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("docs", help="LocalDocs: index folders of documents and search them",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # Also accepted before the action (`llm4all docs --json list`); own dests, since a
    # subparser's defaults would overwrite the parent's values of the same name.
    p.add_argument("--embed-model", dest="docs_embed_model", default=None, metavar="MODEL", help=argparse.SUPPRESS)
    p.add_argument("--json", dest="docs_json", action="store_true", help=argparse.SUPPRESS)
    dsub = p.add_subparsers(dest="docs_command", metavar="ACTION")
    dsub.required = True

    def common(q: argparse.ArgumentParser, embed: bool = True) -> None:
        if embed:
            q.add_argument("--embed-model", default=None, metavar="MODEL",
                           help="embedding model: a .gguf file or a catalogue name (default: the collection's, "
                                "else the catalogue's embedding model)")
        q.add_argument("--json", action="store_true", help="print JSON")

    q = dsub.add_parser("add", help="create a collection of folders (or add folders to one)")
    q.add_argument("name")
    q.add_argument("folders", nargs="+", metavar="FOLDER")
    common(q)
    q.set_defaults(func=cmd_add)

    q = dsub.add_parser("list", help="list collections")
    common(q, embed=False)
    q.set_defaults(func=cmd_list)

    q = dsub.add_parser("remove", help="forget a collection (its files are not touched)")
    q.add_argument("name")
    common(q, embed=False)
    q.set_defaults(func=cmd_remove)

    q = dsub.add_parser("index", help="index new and changed files (every collection without NAME)")
    q.add_argument("name", nargs="?", default=None)
    q.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    common(q)
    q.set_defaults(func=cmd_index)

    q = dsub.add_parser("search", help="the passages of a collection that best match a query")
    q.add_argument("name")
    q.add_argument("query")
    q.add_argument("-k", type=int, default=5, help="how many passages (default 5)")
    common(q)
    q.set_defaults(func=cmd_search)


def _merge(args: argparse.Namespace) -> None:
    args.json = getattr(args, "json", False) or args.docs_json
    if hasattr(args, "embed_model"):
        args.embed_model = args.embed_model or args.docs_embed_model


def _out(text: str) -> None:
    from ..cli import _write
    _write(text)


def cmd_add(args: argparse.Namespace) -> int:
    from .. import localdocs
    _merge(args)
    c = localdocs.add(args.name, args.folders, embed_model=args.embed_model)
    if args.json:
        _out(json.dumps(c, ensure_ascii=False) + "\n")
    else:
        _out(f"collection {c['name']}: {len(c['folders'])} folder(s), embedding model {c['embed_model']}; "
             f"run `llm4all docs index {c['name']}` to index it\n")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from .. import localdocs
    _merge(args)
    cs = localdocs.collections()
    if args.json:
        _out(json.dumps(cs, ensure_ascii=False) + "\n")
        return 0
    if not cs:
        _out("no collections (llm4all docs add NAME FOLDER...)\n")
    for c in cs:
        _out(f"{c['name']}: {c['documents']} documents, {c['chunks']} chunks"
             + (f", {c['failed']} failed" if c["failed"] else "") + f", model {c['embed_model']}\n")
        for f in c["folders"]:
            _out(f"  {f}\n")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from .. import localdocs
    _merge(args)
    localdocs.remove(args.name)
    if args.json:
        _out(json.dumps({"removed": args.name}) + "\n")
    else:
        _out(f"collection {args.name} removed\n")
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from .. import localdocs
    _merge(args)

    def on_failure(path: str, reason: str) -> None:
        sys.stderr.write(f"\n{path}: skipped: {reason}\n" if not args.quiet and sys.stderr.isatty()
                         else f"{path}: skipped: {reason}\n")

    reports = localdocs.index(args.name, embed_model=args.embed_model, progress=not args.quiet,
                              on_failure=on_failure)
    total = localdocs.IndexReport()
    for r in reports.values():
        for k, v in r.counts().items():
            setattr(total, k, getattr(total, k) + v)
    if args.json:
        _out(json.dumps(total.counts()) + "\n")
    else:
        for name, r in reports.items():
            c = r.counts()
            _out(f"{name}: {c['files_added']} added, {c['files_updated']} updated, {c['files_removed']} removed, "
                 f"{c['files_unchanged']} unchanged, {c['files_failed']} failed; "
                 f"{c['chunks_embedded']} chunks embedded\n")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from .. import localdocs
    _merge(args)
    hits = localdocs.search(args.name, args.query, k=args.k, embed_model=args.embed_model)
    if args.json:
        _out(json.dumps([h.as_dict() for h in hits], ensure_ascii=False) + "\n")
        return 0
    if not hits:
        _out("no passages found\n")
    for i, h in enumerate(hits, 1):
        snippet = " ".join(h.text.split())
        if len(snippet) > 300:
            snippet = snippet[:297] + "..."
        _out(f"[{i}] {h.file} ({h.location or 'whole file'}) score {h.score:.4f}\n    {snippet}\n")
    return 0
