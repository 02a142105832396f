"""Self-Instruct ground-truth perplexity (GPT4All paper §2.4): for each of the 252
user-oriented instructions, the perplexity of the reference output given the instruction and
its input, rendered as a user turn of the model's chat template (an Alpaca-style prompt for a
model without one), clipped at 100 as in the paper."""

from __future__ import annotations

import hashlib
import json
import math
import os
import statistics
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from .cache import ScoreCache
from .progress import Progress

CLIP = 100.0
FILE = "user_oriented_instructions.jsonl"
ALPACA = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
ALPACA_NO_INPUT = "### Instruction:\n{instruction}\n\n### Response:\n"


def default_data_file() -> Optional[Path]:
    from .tasks import default_data_dir
    env = os.environ.get("LLM4ALL_SELFINSTRUCT")
    if env:
        return Path(env)
    d = default_data_dir()
    if d is not None and (d.parent / "selfinstruct" / FILE).is_file():
        return d.parent / "selfinstruct" / FILE
    return None


def load(path: Path) -> List[Dict]:
    """[{id, instruction, input, output, digest}], the first instance of each instruction."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            d = json.loads(line)
            inst = d["instances"][0]
            out.append({"id": d["id"], "instruction": d["instruction"], "input": inst.get("input") or "",
                        "output": inst["output"],
                        "digest": hashlib.sha1(line.strip().encode("utf-8")).hexdigest()[:16]})
    return out


def prompt(model, ex: Dict) -> Tuple[str, bool]:
    """The text before the reference output, and whether it already holds the BOS text."""
    user = ex["instruction"] + ("\n\n" + ex["input"] if ex["input"] else "")
    if model.chat_template:
        text = model.apply_chat_template([{"role": "user", "content": user}], add_generation_prompt=True)
        bos = model.special_token_strings().get("bos_token")
        return text, bool(bos) and text.startswith(bos)
    fmt = ALPACA if ex["input"] else ALPACA_NO_INPUT
    return fmt.format(instruction=ex["instruction"], input=ex["input"]), False


def tokens(model, ex: Dict) -> Tuple[List[int], int]:
    """(tokens, first): the reference output is tokens[first:], split as lm-eval splits."""
    text, has_bos = prompt(model, ex)

    def tok(s: str) -> List[int]:
        # Special-token text of the template becomes its tokens; BOS is added unless the
        # template wrote it already.
        return model.tokenize(s, add_special=not has_bos, parse_special=True)
    # Encoded whole, then split after the prompt's own tokens (lm-eval's split, but the
    # prompt's final newline stays in the prompt: only the reference output is scored).
    ctx = tok(text)
    cont = tok(text + ex["output"])[len(ctx):]
    all_tokens = ctx + cont
    if len(all_tokens) > model.n_ctx:
        all_tokens = all_tokens[-model.n_ctx:]
    return all_tokens, max(1, len(all_tokens) - len(cont))


def evaluate(model, path: Path, cache: ScoreCache, progress: bool = True) -> Dict:
    """{"n", "median", "mean", "ppl": clipped perplexity per instruction, "ppl_unclipped", "ids"}."""
    examples = load(path)
    sha = cache.sha256(model.path)
    from .harness import settings_key
    settings = settings_key(model._kv_type, model.n_ctx) + ";selfinstruct"
    have = cache.load(sha, settings, "selfinstruct")
    bar = Progress(len(examples), "selfinstruct", enabled=progress)
    ppl, raw = [], []
    try:
        for i, ex in enumerate(examples):
            hit = have.get((i, ex["digest"]))
            if hit is None:
                toks, first = tokens(model, ex)
                lp = np.asarray(model.score(toks, first), dtype=np.float64)
                hit = [float(lp.sum()), float(len(lp))]
                cache.put(sha, settings, "selfinstruct", i, ex["digest"], hit)
                bar.update()
            else:
                bar.update(cached=True)
            raw.append(math.exp(-hit[0] / hit[1]))
            ppl.append(min(CLIP, raw[-1]))
    finally:
        bar.close()
    return {"n": len(ppl), "median": statistics.median(ppl), "mean": statistics.fmean(ppl), "clip": CLIP,
            "ppl": ppl, "ppl_unclipped": raw, "ids": [ex["id"] for ex in examples]}
