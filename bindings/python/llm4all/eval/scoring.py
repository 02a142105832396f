"""Log-likelihood scoring of multiple-choice items through the engine, and the metrics.
Each context is decoded once and every choice continues from it (KV prefix reuse); with
n_seq > 1, n_seq items share forward passes (llm4all_decode_batch). acc / acc_norm and their
standard errors as lm-evaluation-harness computes them."""

from __future__ import annotations

import math
from typing import Dict, Iterable, Iterator, List, Sequence, Tuple

import numpy as np

from .. import _core
from .tasks import ACC_ONLY, Item, lmeval_split


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class Scorer:
    """Scores items with a llm4all.Model: one session per item in flight (the first is the
    model's own), all of the model's context size and KV type."""

    def __init__(self, model, n_seq: int = 1) -> None:
        self.model = model
        self.n_ctx = model.n_ctx
        self.sessions = [model.session]
        for _ in range(max(1, int(n_seq)) - 1):
            self.sessions.append(_core.Session(model._model, self.n_ctx, model._n_batch, model._n_threads,
                                               model._kv_type))
        self._tokens: List[List[int]] = [[] for _ in self.sessions]  # what each cache holds
        model.reset()

    def _tokenize(self, text: str) -> List[int]:
        return self.model.tokenize(text, add_special=True)

    def requests(self, item: Item) -> List[Tuple[List[int], int]]:
        """(tokens, first) per choice: tokens[first:] is the continuation; the context is
        cut on the left (as lm-eval does) when the whole does not fit the context size."""
        out = []
        for context, continuation in item.requests:
            ctx, cont = lmeval_split(self._tokenize, context, continuation)
            if not cont:
                raise ValueError(f"{item.task} item {item.index}: the continuation has no tokens")
            tokens = ctx + cont
            if len(tokens) > self.n_ctx:
                tokens = tokens[-self.n_ctx:]
            out.append((tokens, max(1, len(tokens) - len(cont))))
        return out

    # ---- one sequence: the engine's own teacher-forcing call ----------------------------

    def _score_one(self, item: Item) -> List[float]:
        session = self.sessions[0]
        out = []
        for tokens, first in self.requests(item):
            logprobs, _ = session.score(tokens, first)
            out.append(float(np.sum(logprobs, dtype=np.float64)))
        return out

    # ---- several sequences in shared forward passes --------------------------------------

    def _append_job(self, slot: int, tokens: List[int], first: int) -> Tuple[List[int], int]:
        """Prepares session slot to continue with tokens: returns (tokens to decode, position
        of the first one). Position first-1 is always decoded again for its logits."""
        held = self._tokens[slot]
        keep = min(_common_prefix(held, tokens), first - 1)
        if keep < len(held):
            self.sessions[slot].truncate(keep)
        self._tokens[slot] = list(tokens)
        return tokens[keep:], keep

    def _score_batched(self, items: Sequence[Item]) -> Iterator[Tuple[Item, List[float]]]:
        queue = list(items)[::-1]
        # Per slot: [item, requests, next request, logliks] or None when idle.
        slots: List = [None] * len(self.sessions)
        while True:
            for s in range(len(slots)):
                if slots[s] is None and queue:
                    item = queue.pop()
                    slots[s] = [item, self.requests(item), 0, []]
            active = [s for s in range(len(slots)) if slots[s] is not None]
            if not active:
                return
            batch, meta = [], []
            for s in active:
                tokens, first = slots[s][1][slots[s][2]]
                new, pos0 = self._append_job(s, tokens, first)
                batch.append((self.sessions[s], new, True))
                meta.append((s, tokens, first, pos0))
            _core.decode_batch(batch)
            for s, tokens, first, pos0 in meta:
                logits = self.sessions[s].logits()
                # Row r holds the logits after position pos0 + r, which score tokens[pos0 + r + 1].
                rows = logits[first - 1 - pos0:len(tokens) - 1 - pos0].astype(np.float64)
                mx = rows.max(axis=1, keepdims=True)
                lse = mx[:, 0] + np.log(np.exp(rows - mx).sum(axis=1))
                picked = rows[np.arange(len(rows)), np.asarray(tokens[first:])]
                slot = slots[s]
                slot[3].append(float(np.sum(picked - lse)))
                slot[2] += 1
                if slot[2] == len(slot[1]):
                    slots[s] = None
                    yield slot[0], slot[3]

    def score_items(self, items: Iterable[Item]) -> Iterator[Tuple[Item, List[float]]]:
        """(item, summed log-likelihood per choice) for each item, as they complete."""
        items = list(items)
        if len(self.sessions) == 1:
            for item in items:
                yield item, self._score_one(item)
        else:
            yield from self._score_batched(items)


# ---- records and metrics ------------------------------------------------------------------

def argmax(values: Sequence[float]) -> int:
    """Index of the largest value (the first one on a tie, as numpy.argmax)."""
    return int(np.argmax(np.asarray(values, dtype=np.float64)))


def record(item: Item, logliks: Sequence[float]) -> Dict:
    """The per-item record of --log-samples (field names are a contract)."""
    logliks = [float(x) for x in logliks]
    return {
        "task": item.task,
        "id": item.id,
        "index": item.index,
        "logliks": logliks,
        "pred": argmax(logliks),
        # lm-eval's acc_norm: log-likelihood per character of the choice (without its " ").
        "pred_norm": argmax([ll / max(1, n) for ll, n in zip(logliks, item.norm_lengths)]),
        "gold": item.gold,
    }


def mean_stderr(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and its standard error (sample standard deviation / sqrt(n))."""
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan")
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def task_metrics(task: str, records: Sequence[Dict]) -> Dict:
    """acc (and acc_norm except for BoolQ and WinoGrande) with standard errors, from records."""
    acc, acc_se = mean_stderr([float(r["pred"] == r["gold"]) for r in records])
    out = {"n": len(records), "acc": acc, "acc_stderr": acc_se}
    if task not in ACC_ONLY:
        norm, norm_se = mean_stderr([float(r["pred_norm"] == r["gold"]) for r in records])
        out.update(acc_norm=norm, acc_norm_stderr=norm_se)
    return out


def headline(task: str, metrics: Dict) -> float:
    """The number a table shows for a task: acc_norm where lm-eval reports it, else acc
    (the paper's table: acc for BoolQ and WinoGrande, acc_norm for the others)."""
    return metrics.get("acc_norm", metrics["acc"])
