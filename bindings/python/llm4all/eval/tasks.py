"""The seven zero-shot tasks of the GPT4All evaluation table: where their data lives, how an
item becomes scoring requests (lm-evaluation-harness conventions), and the seeded subsets
that `--limit` takes so quick runs stay comparable."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

# Table order of the paper; file names inside the data folder.
TASKS = ("boolq", "piqa", "hellaswag", "winogrande", "arc_easy", "arc_challenge", "openbookqa")
FILES = {
    "boolq": "boolq/boolq_lmeval_validation.jsonl",
    "piqa": "piqa/piqa_lmeval_validation.jsonl",
    "hellaswag": "hellaswag/hellaswag_lmeval_validation.jsonl.gz",
    "winogrande": "winogrande/winogrande_lmeval_validation.jsonl",
    "arc_easy": "arc_easy/arc_easy_lmeval_test.jsonl",
    "arc_challenge": "arc_challenge/arc_challenge_lmeval_test.jsonl",
    "openbookqa": "openbookqa/openbookqa_lmeval_test.jsonl",
}
TITLES = {"boolq": "BoolQ", "piqa": "PIQA", "hellaswag": "HellaSwag", "winogrande": "WinoG.",
          "arc_easy": "ARC-e", "arc_challenge": "ARC-c", "openbookqa": "OBQA"}
# BoolQ and WinoGrande report acc only (lm-eval): their choices are not free text of varied length.
ACC_ONLY = ("boolq", "winogrande")


@dataclass
class Item:
    """One question: the log-likelihood of each (context, continuation) request is one choice."""
    task: str
    id: object            # the data set's id (some HellaSwag ids repeat; index is unique)
    index: int            # 0-based line number in the data file
    requests: List[Tuple[str, str]]  # (context, continuation) per choice, continuation with its " "
    norm_lengths: List[int]          # characters of each choice, for acc_norm
    gold: int
    digest: str           # hash of the data line: a changed item never reuses a cached score


def parse_tasks(spec: Optional[str]) -> List[str]:
    """'boolq,piqa' -> ['boolq', 'piqa']; None or 'all' -> every task."""
    if not spec or spec == "all":
        return list(TASKS)
    names = [t.strip() for t in spec.split(",") if t.strip()]
    bad = [t for t in names if t not in TASKS]
    if bad:
        raise ValueError(f"unknown task(s) {', '.join(bad)}; known: {', '.join(TASKS)}")
    return list(dict.fromkeys(names))


def default_data_dir() -> Optional[Path]:
    """$LLM4ALL_EVAL_DATA, else $LLM4ALL_TESTDATA/eval, else ../shared/testdata/eval beside the
    current directory or beside this source tree."""
    env = os.environ.get("LLM4ALL_EVAL_DATA")
    if env:
        return Path(env)
    candidates = []
    if os.environ.get("LLM4ALL_TESTDATA"):
        candidates.append(Path(os.environ["LLM4ALL_TESTDATA"]) / "eval")
    candidates.append(Path.cwd().parent / "shared" / "testdata" / "eval")
    candidates.append(Path(__file__).resolve().parents[4] / "shared" / "testdata" / "eval")
    for c in candidates:
        if (c / FILES["piqa"]).is_file():
            return c
    return None


def _lines(path: Path) -> List[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [line for line in f if line.strip()]


def _item(task: str, index: int, line: str) -> Item:
    d = json.loads(line)
    digest = hashlib.sha1(line.strip().encode("utf-8")).hexdigest()[:16]
    if task == "winogrande":
        # Partial scoring: the same continuation after each of the two filled-in contexts.
        cont = " " + d["continuation"]
        return Item(task, d["id"], index, [(c, cont) for c in d["contexts"]],
                    [len(d["continuation"])] * len(d["contexts"]), int(d["gold"]), digest)
    choices = d["choices"]
    return Item(task, d["id"], index, [(d["context"], " " + c) for c in choices],
                [len(c) for c in choices], int(d["gold"]), digest)


def load_task(task: str, data_dir: Path) -> List[Item]:
    path = Path(data_dir) / FILES[task]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: eval data for {task} not found (--data-dir)")
    return [_item(task, i, line) for i, line in enumerate(_lines(path))]


def subset(n: int, limit: Optional[int], seed: int) -> List[int]:
    """Indices of a fixed, seeded subset of limit items out of n, in file order. The subset
    for a smaller limit is contained in the one for a larger limit with the same seed."""
    if limit is None or limit <= 0 or limit >= n:
        return list(range(n))
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return sorted(order[:limit])


def lmeval_split(tokenize, context: str, continuation: str) -> Tuple[List[int], List[int]]:
    """Tokens of context and continuation as lm-evaluation-harness splits them: trailing
    spaces of the context move to the continuation, the whole text is encoded once (with
    BOS where the tokenizer adds it) and the continuation is what follows the tokens of the
    context encoded alone. tokenize(text) -> ids."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = tokenize(context + continuation)
    ctx = tokenize(context)
    return ctx, whole[len(ctx):]


