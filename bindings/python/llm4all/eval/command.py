"""`llm4all eval MODEL...` (also tools/eval.py): the GPT4All paper's seven-task zero-shot table
for any GGUF, lm-evaluation-harness style, and the Self-Instruct ground-truth perplexity.

    llm4all eval smollm2 qwen05 --limit 100 --markdown table.md --output results.json --plot chart.png
    llm4all eval model.gguf --selfinstruct --plot selfinstruct.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .tasks import TASKS, default_data_dir, parse_tasks


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="+", metavar="MODEL", help="GGUF files or catalogue names (one table row each)")
    p.add_argument("--tasks", default=None, help=f"comma-separated subset of {','.join(TASKS)} (default: all; "
                   "with --selfinstruct alone: none)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="score a fixed, seeded subset of N items per task (nested: a smaller N is a subset)")
    p.add_argument("--seed", type=int, default=1234, help="seed of the --limit subset (default 1234)")
    p.add_argument("--output", "-o", default=None, metavar="FILE", help="write the results as JSON")
    p.add_argument("--markdown", default=None, metavar="FILE", help="write the table as Markdown")
    p.add_argument("--plot", default=None, metavar="FILE",
                   help="bar chart of the table (PNG/SVG/PDF; needs matplotlib); with --selfinstruct also a "
                   "box plot beside it (FILE's name + '-selfinstruct')")
    p.add_argument("--log-samples", action="store_true",
                   help="the JSON holds one record per item: task, id, index, logliks, pred, pred_norm, gold")
    p.add_argument("--selfinstruct", action="store_true",
                   help="Self-Instruct ground-truth perplexity (252 instructions, chat template, clipped at 100)")
    p.add_argument("--metric", choices=("headline", "acc", "acc_norm"), default="headline",
                   help="table number per task: headline = acc for BoolQ/WinoGrande, acc_norm for the others")
    p.add_argument("--data-dir", default=None, help="folder of the task files (default: $LLM4ALL_EVAL_DATA, "
                   "$LLM4ALL_TESTDATA/eval or ../shared/testdata/eval)")
    p.add_argument("--selfinstruct-file", default=None, help="user_oriented_instructions.jsonl (default: beside "
                   "the task folder, selfinstruct/)")
    p.add_argument("--cache", default=None, metavar="FILE",
                   help="SQLite score cache (default: $LLM4ALL_EVAL_CACHE or ~/.cache/llm4all/eval.sqlite)")
    p.add_argument("--no-cache", action="store_true", help="keep nothing between runs")
    p.add_argument("--kv-type", choices=("f32", "f16"), default="f32",
                   help="KV cache element type (default f32: log-likelihoods as exact as the weights allow)")
    p.add_argument("--parallel", type=int, default=1, metavar="K",
                   help="score K items at once in shared forward passes (default 1)")
    p.add_argument("-t", "--threads", type=int, default=None, help="CPU threads (default: physical cores)")
    p.add_argument("-c", "--ctx-size", type=int, default=2048, help="context size; longer items are cut on the "
                   "left as lm-eval does (default 2048)")
    p.add_argument("-b", "--batch-size", type=int, default=512, help="tokens per forward pass")
    p.add_argument("--device", default="auto")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("eval", help="zero-shot accuracy on the seven GPT4All tasks (lm-eval style)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)


def _suffixed(path: str, suffix: str) -> Path:
    p = Path(path)
    return p.with_name(p.stem + suffix + p.suffix)


def run(args: argparse.Namespace, on_item=None) -> int:
    from ..model import Model
    from . import report as rep
    from . import selfinstruct
    from .cache import ScoreCache, default_cache_path
    from .harness import average, evaluate, model_name, select_items

    tasks: List[str] = [] if (args.selfinstruct and args.tasks is None) else parse_tasks(args.tasks)
    items: Dict = {}
    if tasks:
        data_dir = Path(args.data_dir) if args.data_dir else default_data_dir()
        if data_dir is None:
            raise FileNotFoundError("eval data not found: pass --data-dir or set LLM4ALL_EVAL_DATA")
        items = select_items(tasks, data_dir, args.limit, args.seed)
    si_file: Optional[Path] = None
    if args.selfinstruct:
        si_file = Path(args.selfinstruct_file) if args.selfinstruct_file else selfinstruct.default_data_file()
        if si_file is None or not si_file.is_file():
            raise FileNotFoundError("Self-Instruct data not found: pass --selfinstruct-file")
    cache = ScoreCache(None if args.no_cache else (args.cache or default_cache_path()))
    report: Dict[str, Any] = {"tasks": tasks, "limit": args.limit, "seed": args.seed, "kv_type": args.kv_type,
                              "n_ctx": args.ctx_size, "metric": args.metric, "models": []}
    samples: List[Dict] = []
    names_seen: Dict[str, int] = {}
    try:
        for spec in args.models:
            model = Model(spec, n_ctx=args.ctx_size, n_threads=args.threads, device=args.device,
                          n_batch=args.batch_size, kv_type=args.kv_type)
            name = model_name(spec)
            if name in names_seen:
                name = str(model.path)
            names_seen[name] = 1
            entry: Dict[str, Any] = {"name": name, "path": str(model.path), "sha256": cache.sha256(model.path)}
            if items:
                out = evaluate(model, items, cache, n_seq=args.parallel, progress=not args.quiet, on_item=on_item)
                entry["results"] = out["results"]
                entry["avg"] = average(out["results"], args.metric)
                entry["scored"] = out["scored"]
                entry["items_per_s"] = out["scored"] / out["seconds"] if out["seconds"] > 0 else None
                if args.log_samples:
                    samples.extend({"model": name, **r} for r in out["samples"])
            if si_file is not None:
                entry["selfinstruct"] = selfinstruct.evaluate(model, si_file, cache, progress=not args.quiet)
            report["models"].append(entry)
            del model
    finally:
        cache.close()
    if args.log_samples:
        report["samples"] = samples
    text = ""
    if tasks:
        text += rep.markdown_table(report, args.metric)
    if si_file is not None:
        text += ("\n" if text else "") + rep.selfinstruct_table(report)
    sys.stdout.write(text)
    if args.markdown:
        rep.write_atomic(args.markdown, text)
    if args.output:
        rep.write_json(args.output, report)
    if args.plot:
        if tasks:
            rep.bar_chart(args.plot, report, args.metric)
        if si_file is not None:
            rep.box_plot(_suffixed(args.plot, "-selfinstruct") if tasks else Path(args.plot), report)
    return 0


def main(argv: Optional[Sequence[str]] = None, prog: str = "eval") -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{prog}: interrupted; scores so far are cached, run again to resume\n")
        return 130
    except (OSError, ValueError, RuntimeError) as e:
        sys.stderr.write(f"{prog}: error: {e}\n")
        return 1
