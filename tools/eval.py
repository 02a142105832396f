#!/usr/bin/env python3
"""The GPT4All paper's seven-task zero-shot evaluation (and Self-Instruct perplexity) for any
GGUF: the same as `llm4all eval` (llm4all.eval.command), for running from the source tree.

    python tools/eval.py smollm2 qwen05 --limit 100 --markdown table.md --output results.json
"""

import sys

if __name__ == "__main__":
    try:
        from llm4all.eval.command import main
    except ImportError as e:
        print(f"eval: error: {e} (install the package: pip install .)", file=sys.stderr)
        raise SystemExit(1)
    raise SystemExit(main(prog="eval"))
