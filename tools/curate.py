#!/usr/bin/env python3
"""Curate prompt-response training data (the GPT4All paper's cleaning step): the same code as
llm4all.curate, for running from the source tree. See docs/curation.md.

    python tools/curate.py IN.jsonl IN.json -o OUT.jsonl --report report.json --map map.html
"""

import sys

if __name__ == "__main__":
    try:
        from llm4all.curate.command import main
    except ImportError as e:
        print(f"curate: error: {e} (install the package: pip install '.[curate]')", file=sys.stderr)
        raise SystemExit(1)
    raise SystemExit(main(prog="curate"))
