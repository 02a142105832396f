#!/usr/bin/env python3
"""Convert a Hugging Face model folder to GGUF: the same as `llm4all convert`.

    python tools/convert.py path/to/hf-folder -o model.gguf --outtype q8_0

Runs the converter of this source tree (pure Python: gguf and numpy), so it works without
building or installing the engine.
"""

import sys
import types
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "bindings" / "python" / "llm4all"

if __name__ == "__main__":
    # Stand in for the llm4all package so that importing its converter does not load the
    # compiled engine (llm4all/__init__.py imports it).
    stub = types.ModuleType("llm4all")
    stub.__path__ = [str(PKG)]
    sys.modules["llm4all"] = stub
    try:
        from llm4all.convert.command import main
    except ImportError as e:
        print(f"convert: error: {e} (pip install 'llm4all[convert]' or: pip install gguf numpy)", file=sys.stderr)
        raise SystemExit(1)
    raise SystemExit(main(prog="convert"))
