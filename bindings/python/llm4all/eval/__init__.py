"""Zero-shot evaluation of language models, lm-evaluation-harness style: the GPT4All paper's
seven tasks (tasks), engine scoring with prefix reuse (scoring), a resumable score cache
(cache), the table/JSON/charts (report) and the Self-Instruct perplexity (selfinstruct)."""

import importlib
from typing import Any

# Loaded on first use: `llm4all --help` builds the eval command's parser from
# llm4all.eval.command, and must not import numpy (scoring) to do it.
_WHERE = {"evaluate": "harness", "select_items": "harness", "Scorer": "scoring", "record": "scoring",
          "task_metrics": "scoring", "TASKS": "tasks", "Item": "tasks", "lmeval_split": "tasks",
          "load_task": "tasks", "subset": "tasks"}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
