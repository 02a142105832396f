#!/usr/bin/env python3
"""LoRA fine-tuning of a decoder on prompt-response pairs (transformers + peft + accelerate).

    python tools/train.py --config train.yaml [--base B --data F ... --output DIR --max-steps N ...]
    python tools/train.py export ADAPTER_DIR -o adapter.gguf [--outtype f32|f16|q8_0] [--merge]

Training writes a PEFT adapter folder (adapter_config.json, adapter_model.safetensors),
log.jsonl ({"step", "loss"} per logged step, "eval_loss" where evaluated), loss.png and
resumable checkpoints; `export` (tools/lora_export.py) turns the folder into llama.cpp's
adapter GGUF, or with --merge into a full model through `llm4all convert`.
`accelerate launch tools/train.py ...` or `torchrun` runs it on several GPUs; on one CPU it
needs neither (nor DeepSpeed). docs/training.md has the details.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

ALPACA = ("Below is an instruction that describes a task{ctx}. Write a response that appropriately "
          "completes the request.\n\n### Instruction:\n{instruction}\n\n{input}### Response:\n")


@dataclass
class TrainConfig:
    """Everything a run depends on; YAML keys have these names (flags override them)."""
    base: str = ""                    # Hugging Face folder/name, or a .gguf file (dequantized by transformers)
    data: List[str] = field(default_factory=list)   # .json / .jsonl files of pairs
    output: str = "lora-out"
    prompt_format: str = "auto"       # auto | prompt_response | alpaca | messages
    wrap_plain_prompts: bool = True   # a bare prompt (no "### Response:") goes into the Alpaca template
    max_examples: int = 0             # 0 = all
    eval_fraction: float = 0.05       # held-out share for the evaluation loss
    max_length: int = 512             # tokens per example (prompt + response), longer ones are cut
    packing: bool = False             # several examples per row (fewer pad tokens)
    lora_r: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.05
    target_modules: List[str] = field(default_factory=lambda: [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    lr: float = 2e-4
    lr_schedule: str = "cosine"       # cosine | linear | constant
    warmup_steps: int = 0
    weight_decay: float = 0.0
    epochs: float = 1.0
    max_steps: int = 0                # > 0 overrides epochs
    stop_at: int = 0                  # > 0: end this run after that step (the schedule still spans the
                                      # whole run; a later run resumes), e.g. for jobs with a time limit
    batch_size: int = 4
    grad_accum: int = 1
    seed: int = 0
    precision: str = "fp32"           # fp32 | bf16
    log_every: int = 1
    eval_every: int = 50              # steps; 0 = only at the end
    save_every: int = 100             # checkpoint every N steps; 0 = only at the end
    keep_checkpoints: int = 2
    resume: bool = True               # continue from the newest checkpoint in output

    @classmethod
    def from_yaml(cls, path: str) -> "TrainConfig":
        import yaml
        raw = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(raw, dict):
            raise SystemExit(f"{path}: expected a mapping of settings")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise SystemExit(f"{path}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(names))})")
        if isinstance(raw.get("data"), str):
            raw["data"] = [raw["data"]]
        return cls(**raw)


# ---- data -----------------------------------------------------------------------------------

def read_records(paths: Sequence[str]) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []
    for p in paths:
        text = Path(p).read_text(encoding="utf-8")
        if p.endswith(".jsonl"):
            out += [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
            out += data if isinstance(data, list) else [data]
    return out


def to_pair(rec: Dict[str, Any], fmt: str, tok: Any, wrap: bool = True) -> Optional[Tuple[str, str]]:
    """(prompt text, response text) of one record; None for one that has neither form."""
    if fmt in ("auto", "messages") and isinstance(rec.get("messages"), list):
        msgs = rec["messages"]
        if not msgs or msgs[-1].get("role") != "assistant":
            return None
        if getattr(tok, "chat_template", None):
            prompt = tok.apply_chat_template(msgs[:-1], tokenize=False, add_generation_prompt=True)
        else:
            prompt = "".join(f"### {m.get('role', 'user').capitalize()}:\n{m.get('content', '')}\n\n"
                             for m in msgs[:-1]) + "### Assistant:\n"
        return prompt, str(msgs[-1].get("content", ""))
    if fmt in ("auto", "alpaca") and "instruction" in rec:
        inp = str(rec.get("input") or "")
        prompt = ALPACA.format(ctx=", paired with an input that provides further context" if inp else "",
                               instruction=rec["instruction"], input=f"### Input:\n{inp}\n\n" if inp else "")
        resp = rec.get("response", rec.get("output"))
        return (prompt, str(resp)) if resp is not None else None
    if fmt in ("auto", "prompt_response") and "prompt" in rec and "response" in rec:
        prompt = str(rec["prompt"])
        # GPT4All's files hold the template already; curated ones (tools/curate.py) the bare question.
        if wrap and "### Response:" not in prompt:
            prompt = ALPACA.format(ctx="", instruction=prompt, input="")
        return prompt, str(rec["response"])
    return None


def encode(pairs: Sequence[Tuple[str, str]], tok: Any, max_length: int) -> List[Tuple[List[int], List[int]]]:
    """Token ids and labels; labels are -100 on the prompt so only the response is learned."""
    out = []
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    eos = [tok.eos_token_id] if tok.eos_token_id is not None else []
    for prompt, response in pairs:
        p = bos + tok(prompt, add_special_tokens=False)["input_ids"]
        r = tok(response, add_special_tokens=False)["input_ids"] + eos
        if len(p) + len(r) > max_length:
            # Too long: the response keeps at least half the room, the prompt its end
            # (the question sits there in the usual templates).
            r = r[:max(max_length - len(p), max_length // 2)]
            p = p[len(p) - (max_length - len(r)):] if max_length > len(r) else []
        ids = p + r
        labels = [-100] * len(p) + r
        if any(x != -100 for x in labels[1:]):
            out.append((ids, labels))
    return out


def pack(examples: List[Tuple[List[int], List[int]]], max_length: int) -> List[Tuple[List[int], List[int]]]:
    """Concatenates examples into rows of at most max_length tokens (whole examples only)."""
    rows: List[Tuple[List[int], List[int]]] = []
    ids: List[int] = []
    labels: List[int] = []
    for i, l in examples:
        if ids and len(ids) + len(i) > max_length:
            rows.append((ids, labels))
            ids, labels = [], []
        ids, labels = ids + i, labels + l
    if ids:
        rows.append((ids, labels))
    return rows


def collate(batch: Sequence[Tuple[List[int], List[int]]], pad_id: int) -> Dict[str, Any]:
    import torch
    n = max(len(i) for i, _ in batch)
    ids = torch.full((len(batch), n), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), n), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.long)
    for row, (i, l) in enumerate(batch):
        ids[row, :len(i)] = torch.tensor(i)
        labels[row, :len(l)] = torch.tensor(l)
        mask[row, :len(i)] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def batch_order(n_examples: int, batch_size: int, seed: int, epoch: int) -> List[List[int]]:
    """The batches of one epoch: a permutation fixed by (seed, epoch), so a resumed run
    sees exactly the batches the interrupted one would have."""
    idx = list(range(n_examples))
    random.Random(seed * 1000003 + epoch).shuffle(idx)
    return [idx[i:i + batch_size] for i in range(0, n_examples, batch_size)]


# ---- model ----------------------------------------------------------------------------------

def load_base(base: str, dtype: Any) -> Tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    if base.endswith(".gguf"):
        # transformers reads (and dequantizes) GGUF files itself; the folder is the file's.
        d, f = os.path.dirname(os.path.abspath(base)), os.path.basename(base)
        tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
        model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=dtype)
    else:
        tok = AutoTokenizer.from_pretrained(base)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
    return model, tok


def lr_factor(cfg: TrainConfig, step: int, total: int) -> float:
    if step < cfg.warmup_steps:
        return (step + 1) / max(1, cfg.warmup_steps)
    if cfg.lr_schedule == "constant":
        return 1.0
    frac = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    if cfg.lr_schedule == "linear":
        return max(0.0, 1.0 - frac)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac)))


# ---- checkpoints ----------------------------------------------------------------------------

def newest_checkpoint(out: Path) -> Optional[Path]:
    ck = sorted((p for p in (out / "checkpoints").glob("step-*") if (p / "state.pt").is_file()),
                key=lambda p: int(p.name.split("-")[1]))
    return ck[-1] if ck else None


def save_checkpoint(out: Path, step: int, model: Any, opt: Any, sched: Any, keep: int) -> None:
    import numpy as np
    import torch
    from peft import get_peft_model_state_dict
    d = out / "checkpoints" / f"step-{step}"
    tmp = d.with_name(d.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    torch.save({"step": step, "adapter": get_peft_model_state_dict(model), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "rng_torch": torch.get_rng_state(),
                "rng_python": random.getstate(), "rng_numpy": np.random.get_state()}, tmp / "state.pt")
    if d.exists():
        import shutil
        shutil.rmtree(d)
    tmp.rename(d)
    olds = sorted((p for p in (out / "checkpoints").glob("step-*") if not p.name.endswith(".tmp")),
                  key=lambda p: int(p.name.split("-")[1]))
    for p in olds[:-keep] if keep > 0 else []:
        import shutil
        shutil.rmtree(p, ignore_errors=True)


def load_checkpoint(path: Path, model: Any, opt: Any, sched: Any) -> int:
    import numpy as np
    import torch
    from peft import set_peft_model_state_dict
    st = torch.load(path / "state.pt", weights_only=False)
    set_peft_model_state_dict(model, st["adapter"])
    opt.load_state_dict(st["optimizer"])
    sched.load_state_dict(st["scheduler"])
    torch.set_rng_state(st["rng_torch"])
    random.setstate(st["rng_python"])
    np.random.set_state(st["rng_numpy"])
    return int(st["step"])


def plot_losses(out: Path) -> None:
    recs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line.strip()]
    if not recs:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in recs], [r["loss"] for r in recs], label="training loss", lw=1)
    ev = [r for r in recs if "eval_loss" in r]
    if ev:
        ax.plot([r["step"] for r in ev], [r["eval_loss"] for r in ev], "o-", label="held-out loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (response tokens)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "loss.png", dpi=100)
    plt.close(fig)


# ---- training -------------------------------------------------------------------------------

def evaluate(model: Any, examples: List[Tuple[List[int], List[int]]], cfg: TrainConfig, pad_id: int,
             accel: Any) -> Optional[float]:
    """Mean loss per response token over the held-out examples."""
    import torch
    if not examples:
        return None
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), cfg.batch_size):
            b = {k: v.to(accel.device) for k, v in collate(examples[i:i + cfg.batch_size], pad_id).items()}
            logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits.float()
            lab = b["labels"][:, 1:]
            nll = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), lab.reshape(-1),
                                                    ignore_index=-100, reduction="sum")
            total += float(nll)
            count += int((lab != -100).sum())
    model.train()
    return total / max(1, count)


def train(cfg: TrainConfig) -> Path:
    import numpy as np
    import torch
    from accelerate import Accelerator
    from peft import LoraConfig, get_peft_model
    from tqdm import tqdm

    if not cfg.base or not cfg.data:
        raise SystemExit("train: a base model (--base or base:) and data files (--data or data:) are needed")
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    accel = Accelerator(gradient_accumulation_steps=cfg.grad_accum,
                        mixed_precision="bf16" if cfg.precision == "bf16" else "no")
    main = accel.is_main_process

    model, tok = load_base(cfg.base, torch.float32)
    # Data: read, format, encode, split off the held-out part (fixed by the seed).
    records = read_records(cfg.data)
    pairs = [p for p in (to_pair(r, cfg.prompt_format, tok, cfg.wrap_plain_prompts) for r in records) if p is not None]
    random.Random(cfg.seed).shuffle(pairs)
    if cfg.max_examples > 0:
        pairs = pairs[:cfg.max_examples]
    n_eval = int(round(len(pairs) * cfg.eval_fraction)) if cfg.eval_fraction > 0 else 0
    eval_ex = encode(pairs[:n_eval], tok, cfg.max_length)
    train_ex = encode(pairs[n_eval:], tok, cfg.max_length)
    if cfg.packing:
        train_ex = pack(train_ex, cfg.max_length)
    if not train_ex:
        raise SystemExit("train: no usable training examples in the data")

    peft_cfg = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                          target_modules=list(cfg.target_modules), bias="none", task_type="CAUSAL_LM")
    model = get_peft_model(model, peft_cfg)
    # The base as the user named it (peft would record a GGUF file's folder), for export.
    model.peft_config["default"].base_model_name_or_path = (
        os.path.abspath(cfg.base) if os.path.exists(cfg.base) else cfg.base)
    model.config.use_cache = False
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    per_epoch = math.ceil(len(train_ex) / (cfg.batch_size * accel.num_processes * cfg.grad_accum))
    total = cfg.max_steps if cfg.max_steps > 0 else max(1, int(math.ceil(per_epoch * cfg.epochs)))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(cfg, s, total))
    # The schedule counts optimizer steps itself (accelerate's wrapper would step it once per process).
    model, opt = accel.prepare(model, opt)

    step = 0
    ck = newest_checkpoint(out) if cfg.resume else None
    if ck is not None:
        step = load_checkpoint(ck, accel.unwrap_model(model), opt, sched)
        if main:
            print(f"resuming from {ck} (step {step})", file=sys.stderr)
            # Records past the checkpoint (a run stopped between checkpoints) are redone.
            log = out / "log.jsonl"
            kept = [ln for ln in (log.read_text().splitlines() if log.is_file() else [])
                    if ln.strip() and json.loads(ln)["step"] <= step]
            log.write_text("".join(ln + "\n" for ln in kept))
    elif main:
        (out / "log.jsonl").write_text("")
    if main:
        (out / "train_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=1) + "\n")
        if cfg.base.endswith(".gguf"):   # export needs the architecture's names and shapes
            base_model = accel.unwrap_model(model).base_model.model
            base_cfg = base_model.config.to_dict()
            base_cfg.setdefault("architectures", [type(base_model).__name__])
            base_cfg.pop("quantization_config", None)
            (out / "base_config.json").write_text(json.dumps(base_cfg, indent=1) + "\n")

    # One micro-batch = batch_size examples for this process; a step = grad_accum of them
    # on every process. The order is a function of (seed, epoch), so resume skips ahead.
    micro_per_step = cfg.grad_accum * accel.num_processes
    def micro_batches(start_micro: int) -> Iterator[List[int]]:
        epoch, k = 0, 0
        while True:
            for b in batch_order(len(train_ex), cfg.batch_size, cfg.seed, epoch):
                if k >= start_micro and k % accel.num_processes == accel.process_index:
                    yield b
                k += 1
            epoch += 1

    # The held-out loss before any training, the baseline the run is judged against.
    eval_before = evaluate(model, eval_ex, cfg, tok.pad_token_id, accel) if step == 0 else None
    model.train()
    it = micro_batches(step * micro_per_step)
    bar = tqdm(total=total, initial=step, disable=not main, desc="train", unit="step")
    t0, tokens = time.time(), 0
    end = min(total, cfg.stop_at) if cfg.stop_at > 0 else total
    while step < end:
        losses = []
        for _ in range(cfg.grad_accum):
            b = {k: v.to(accel.device) for k, v in collate([train_ex[i] for i in next(it)], tok.pad_token_id).items()}
            tokens += int(b["attention_mask"].sum())
            with accel.accumulate(model):
                loss = model(**b).loss
                accel.backward(loss)
                opt.step()
                opt.zero_grad()
            losses.append(float(loss.detach()))
        sched.step()
        step += 1
        loss_v = float(accel.gather(torch.tensor(sum(losses) / len(losses), device=accel.device)).mean())
        rec: Dict[str, Any] = {"step": step, "loss": round(loss_v, 6), "lr": sched.get_last_lr()[0]}
        if eval_ex and ((cfg.eval_every and step % cfg.eval_every == 0) or step == total):
            rec["eval_loss"] = round(evaluate(model, eval_ex, cfg, tok.pad_token_id, accel) or 0.0, 6)
        if main and (step % max(1, cfg.log_every) == 0 or step == total or "eval_loss" in rec):
            rec["tokens_per_s"] = round(tokens / max(1e-9, time.time() - t0), 1)
            with open(out / "log.jsonl", "a") as f:
                f.write(json.dumps(rec) + "\n")
        bar.set_postfix(loss=f"{loss_v:.4f}", **({"eval": f"{rec['eval_loss']:.4f}"} if "eval_loss" in rec else {}))
        bar.update(1)
        if main and ((cfg.save_every and step % cfg.save_every == 0) or step == end):
            save_checkpoint(out, step, accel.unwrap_model(model), opt, sched, cfg.keep_checkpoints)
    bar.close()
    accel.wait_for_everyone()
    if main:
        accel.unwrap_model(model).save_pretrained(out)
        tok.save_pretrained(out)
        plot_losses(out)
        wall = time.time() - t0
        summary_path = out / "summary.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() and step > 0 else {}
        if eval_before is not None:
            summary["eval_loss_before"] = round(eval_before, 6)
        recs = [json.loads(ln) for ln in (out / "log.jsonl").read_text().splitlines() if ln.strip()]
        evals = [r["eval_loss"] for r in recs if "eval_loss" in r]
        summary.update(steps=step, examples_train=len(train_ex), examples_eval=len(eval_ex),
                       first_loss=recs[0]["loss"] if recs else None, last_loss=recs[-1]["loss"] if recs else None,
                       eval_loss_after=evals[-1] if evals else None,
                       wall_s=round(summary.get("wall_s", 0) + wall, 1), tokens=summary.get("tokens", 0) + tokens)
        summary["tokens_per_s"] = round(summary["tokens"] / max(1e-9, summary["wall_s"]), 1)
        summary_path.write_text(json.dumps(summary, indent=1) + "\n")
        print(f"adapter written to {out} ({step} steps, {tokens / max(1e-9, wall):.0f} tokens/s)", file=sys.stderr)
    return out


# ---- command line ---------------------------------------------------------------------------

def train_main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="train.py", description="LoRA fine-tuning (see docs/training.md).")
    p.add_argument("--config", help="YAML file with TrainConfig settings")
    p.add_argument("--base", help="Hugging Face folder or .gguf file")
    p.add_argument("--data", nargs="+", help="training files (.json, .jsonl)")
    p.add_argument("--output", help="output folder (adapter, log.jsonl, loss.png, checkpoints)")
    p.add_argument("--max-steps", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--lora-r", type=int)
    p.add_argument("--lora-alpha", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--max-length", type=int)
    p.add_argument("--stop-at", type=int, help="end this run after that step (resume later)")
    p.add_argument("--no-resume", action="store_true", help="start over even if output holds checkpoints")
    a = p.parse_args(argv)
    cfg = TrainConfig.from_yaml(a.config) if a.config else TrainConfig()
    for k in ("base", "data", "output", "max_steps", "lr", "lora_r", "lora_alpha", "seed", "batch_size", "max_length",
              "stop_at"):
        if getattr(a, k) is not None:
            setattr(cfg, k, getattr(a, k))
    if a.no_resume:
        cfg.resume = False
    train(cfg)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "export":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from lora_export import main as export_main
        return export_main(argv[1:])
    return train_main(argv)


if __name__ == "__main__":
    sys.exit(main())
