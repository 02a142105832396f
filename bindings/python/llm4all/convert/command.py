"""The command line of the converter, shared by `llm4all convert` and tools/convert.py."""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from .errors import ConvertError

# The names of base.OUTTYPES, repeated here so the command line loads without gguf/numpy.
OUTTYPE_NAMES = ("f32", "f16", "bf16", "q8_0", "q4_0")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_dir", help="folder with config.json, *.safetensors and the tokenizer files")
    p.add_argument("-o", "--outfile", required=True, help="the .gguf file to write")
    p.add_argument("--outtype", default="f16", choices=OUTTYPE_NAMES,
                   help="storage type of the weight matrices (default f16)")
    p.add_argument("--pre", default=None, help="force tokenizer.ggml.pre for an unrecognised BPE tokenizer")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> str:
    """Converts as the parsed arguments say; returns the output path."""
    from .base import convert
    return str(convert(args.model_dir, args.outfile, outtype=args.outtype, progress=not args.quiet, pre=args.pre))


def main(argv: Optional[Sequence[str]] = None, prog: str = "convert") -> int:
    p = argparse.ArgumentParser(prog=prog, description="Convert a Hugging Face model folder to GGUF.")
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        print(run(args))
    except (ConvertError, OSError) as e:
        print(f"{prog}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
