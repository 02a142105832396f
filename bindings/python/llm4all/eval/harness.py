"""Runs the evaluation of one model: loads the tasks, takes the seeded subsets, scores what
the cache does not hold yet (showing progress), and returns metrics and per-item records.
`llm4all eval` and tools/eval.py both come here through llm4all.eval.command."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

from .cache import ScoreCache
from .progress import Progress
from .scoring import Scorer, headline, record, task_metrics
from .tasks import Item, load_task, subset

# Bumped when a change to scoring makes older cached numbers wrong.
SCORING_VERSION = 1


def settings_key(kv_type: str, n_ctx: int) -> str:
    """What besides the model file decides a log-likelihood (the cache keeps them apart)."""
    return f"v{SCORING_VERSION};kv={kv_type};n_ctx={n_ctx}"


def select_items(tasks: Sequence[str], data_dir: Path, limit: Optional[int], seed: int) -> Dict[str, List[Item]]:
    out = {}
    for task in tasks:
        items = load_task(task, data_dir)
        out[task] = [items[i] for i in subset(len(items), limit, seed)]
    return out


def model_name(spec: str) -> str:
    """A short name for tables: the catalogue name, or the file name without .gguf."""
    p = Path(spec)
    return p.name[:-5] if p.name.endswith(".gguf") else p.name


def evaluate(model, items: Dict[str, List[Item]], cache: ScoreCache, *, n_seq: int = 1, progress: bool = True,
             on_item: Optional[Callable[[Item, List[float], bool], None]] = None) -> Dict:
    """Scores every item (cache first) with a loaded llm4all.Model.

    Returns {"sha256", "results": {task: metrics}, "samples": [records], "scored": items
    scored now, "seconds": scoring time}. on_item(item, logliks, cached) is called after each
    item (after it is in the cache), e.g. to stop a run part way in a test.
    """
    sha = cache.sha256(model.path)
    settings = settings_key(model._kv_type, model.n_ctx)
    scorer = None
    results: Dict[str, Dict] = {}
    samples: List[Dict] = []
    scored = 0
    seconds = 0.0
    total = sum(len(v) for v in items.values())
    bar = Progress(total, model_name(str(model.path)), enabled=progress)
    try:
        for task, task_items in items.items():
            have = cache.load(sha, settings, task)
            logliks: Dict[int, List[float]] = {}
            todo = []
            for it in task_items:
                hit = have.get((it.index, it.digest))
                if hit is not None and len(hit) == len(it.requests):
                    logliks[it.index] = hit
                    bar.update(cached=True)
                    if on_item:
                        on_item(it, hit, True)
                else:
                    todo.append(it)
            if todo:
                if scorer is None:
                    scorer = Scorer(model, n_seq=n_seq)
                t0 = time.perf_counter()
                for it, ll in scorer.score_items(todo):
                    cache.put(sha, settings, task, it.index, it.digest, ll)
                    logliks[it.index] = ll
                    scored += 1
                    bar.update()
                    if on_item:
                        on_item(it, ll, False)
                seconds += time.perf_counter() - t0
            recs = [record(it, logliks[it.index]) for it in task_items]
            results[task] = task_metrics(task, recs)
            samples.extend(recs)
    finally:
        bar.close()
    return {"sha256": sha, "settings": settings, "results": results, "samples": samples,
            "scored": scored, "seconds": seconds}


def average(results: Dict[str, Dict], metric: str = "headline") -> float:
    """The Avg. column: the mean over tasks of each task's table number."""
    vals = [pick(task, m, metric) for task, m in results.items()]
    return sum(vals) / len(vals) if vals else float("nan")


def pick(task: str, metrics: Dict, metric: str) -> float:
    """A task's table number: metric "acc", "acc_norm" (falls back to acc where a task has
    none) or "headline" (acc_norm where lm-eval reports it)."""
    if metric == "acc":
        return metrics["acc"]
    return headline(task, metrics)

