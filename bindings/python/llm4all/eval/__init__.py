"""Zero-shot evaluation of language models, lm-evaluation-harness style: the GPT4All paper's
seven tasks (tasks), engine scoring with prefix reuse (scoring), a resumable score cache
(cache), the table/JSON/charts (report) and the Self-Instruct perplexity (selfinstruct)."""

from .harness import evaluate, select_items
from .scoring import Scorer, record, task_metrics
from .tasks import TASKS, Item, lmeval_split, load_task, subset

__all__ = ["TASKS", "Item", "Scorer", "evaluate", "lmeval_split", "load_task", "record", "select_items", "subset",
           "task_metrics"]
