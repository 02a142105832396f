"""`llm4all embed MODEL TEXT...`: embedding vectors of texts as JSON.

MODEL is a .gguf embedding model or a catalogue name (`minilm`, `embgemma`: converted to GGUF
on first use). Prints {"model", "dim", "n_tokens", "embeddings": [[...], ...]} with one vector
per TEXT, in order; `-` as the only TEXT reads one text per line from stdin.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("embed", help="embedding vectors of texts (JSON)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="an embedding model: a .gguf file or a catalogue name (e.g. minilm)")
    p.add_argument("texts", nargs="+", metavar="TEXT", help="texts to embed ('-' = lines of stdin)")
    p.add_argument("--prefix", default=None, help="a task prompt name the model knows (e.g. EmbeddingGemma's "
                   "'query', 'document') or literal text put before each text")
    p.add_argument("--dimensionality", type=int, default=None, metavar="D",
                   help="keep the first D values (Matryoshka), renormalised")
    p.add_argument("--no-normalize", action="store_true", help="do not L2-normalise the vectors")
    p.add_argument("--long-text", default="mean", choices=["mean", "truncate", "error"],
                   help="texts longer than the model's window: average windows (default), cut, or fail")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (default: every core)")
    p.add_argument("--device", default="auto", help='"auto", "cpu", ... (default auto)')
    from ..cli import skip_memory_check_arg
    skip_memory_check_arg(p)
    p.set_defaults(func=cmd_embed)


def cmd_embed(args: argparse.Namespace) -> int:
    from ..model import Model

    texts = args.texts
    if texts == ["-"]:
        texts = [line.rstrip("\n") for line in sys.stdin]
    model = Model(args.model, n_threads=args.threads or None, device=args.device,
                  skip_memory_check=args.skip_memory_check)
    if not model.is_embedding:
        raise ValueError(f"{args.model} is not an embedding model (try `llm4all embed minilm TEXT`)")
    vecs, n_tokens = model.embed(list(texts), normalize=not args.no_normalize, dimensionality=args.dimensionality,
                                 prefix=args.prefix, long_text_mode=args.long_text, return_tokens=True)
    dim = len(vecs[0]) if vecs else 0
    json.dump({"model": str(args.model), "dim": dim, "n_tokens": n_tokens, "embeddings": vecs}, sys.stdout)
    sys.stdout.write("\n")
    return 0
