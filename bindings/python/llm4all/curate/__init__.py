"""Curation of prompt-response training data, as the GPT4All paper did it: read GPT4All/Alpaca/
chat files (formats), drop refusals, empty, short, malformed and over-long pairs (rules),
remove exact and near duplicates (dedup), report what went (report) and map the data in 2-D
(mapdata, plot, page). pipeline.curate runs it all; command is tools/curate.py's command line.
"""

import importlib
from typing import Any

# Loaded on first use, so that importing the package costs nothing (the map needs
# scikit-learn and matplotlib, near-dedup datasketch).
_WHERE = {"curate": "pipeline", "CurateOptions": "pipeline", "RuleOptions": "rules", "Pair": "formats",
          "read_pairs": "formats", "build_rules": "rules", "main": "command"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
