"""Results as the paper's Table 1 (one row per model, a column per task, an Avg. column) in
Markdown, the JSON file, and charts (matplotlib, imported only when a chart is asked for:
`pip install matplotlib`)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Dict, List

from .harness import pick
from .tasks import TITLES


def _pct(x: float) -> str:
    return "-" if x != x else f"{100 * x:.1f}"


def markdown_table(report: Dict, metric: str = "headline") -> str:
    """Table 1 layout, accuracies in percent; a second line per task gives the item count."""
    tasks: List[str] = report["tasks"]
    head = "| Model | " + " | ".join(TITLES[t] for t in tasks) + " | Avg. |"
    sep = "|---|" + "---:|" * (len(tasks) + 1)
    rows = [head, sep]
    for m in report["models"]:
        res = m["results"]
        cells = [_pct(pick(t, res[t], metric)) if t in res else "-" for t in tasks]
        rows.append(f"| {m['name']} | " + " | ".join(cells) + f" | {_pct(m['avg'])} |")
    ns = {t: report["models"][0]["results"][t]["n"] for t in tasks if report["models"]
          and t in report["models"][0]["results"]}
    what = {"acc": "acc for every task", "acc_norm": "acc_norm (acc for BoolQ, WinoGrande)",
            "headline": "acc for BoolQ and WinoGrande, acc_norm for the others"}[metric]
    note = (f"\nZero-shot accuracy (%), {what}; items per task: "
            + ", ".join(f"{TITLES[t]} {n}" for t, n in ns.items()) + ".\n")
    return "\n".join(rows) + "\n" + note


def selfinstruct_table(report: Dict) -> str:
    rows = ["| Model | median perplexity | mean perplexity | instructions |", "|---|---:|---:|---:|"]
    for m in report["models"]:
        s = m.get("selfinstruct")
        if s:
            rows.append(f"| {m['name']} | {s['median']:.2f} | {s['mean']:.2f} | {s['n']} |")
    return "\n".join(rows) + "\n\nSelf-Instruct ground-truth perplexity (clipped at 100).\n"


def write_atomic(path: os.PathLike, text: str) -> None:
    """Written to a temporary file beside path and renamed: never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_json(path: os.PathLike, report: Dict) -> None:
    write_atomic(path, json.dumps(report, indent=1, ensure_ascii=False, allow_nan=True) + "\n")


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:
        raise RuntimeError("charts need matplotlib: pip install matplotlib") from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def bar_chart(path: os.PathLike, report: Dict, metric: str = "headline") -> None:
    """Grouped bars: one group per task plus Avg., one bar per model."""
    plt = _pyplot()
    tasks = report["tasks"]
    labels = [TITLES[t] for t in tasks] + ["Avg."]
    models = report["models"]
    width = 0.8 / max(1, len(models))
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2, 4))
    for k, m in enumerate(models):
        vals = [100 * pick(t, m["results"][t], metric) for t in tasks] + [100 * m["avg"]]
        xs = [i + (k - (len(models) - 1) / 2) * width for i in range(len(labels))]
        ax.bar(xs, vals, width, label=m["name"])
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Zero-shot accuracy" + (f" ({report['limit']} items per task at most)" if report.get("limit") else ""))
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def box_plot(path: os.PathLike, report: Dict) -> None:
    """Self-Instruct ground-truth perplexity per model (clipped values), one box each."""
    plt = _pyplot()
    models = [m for m in report["models"] if m.get("selfinstruct")]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.5 * len(models) + 2), 4))
    ax.boxplot([m["selfinstruct"]["ppl"] for m in models])
    ax.set_xticks(range(1, len(models) + 1))
    ax.set_xticklabels([m["name"] for m in models])
    ax.set_ylabel("perplexity (clipped at 100)")
    ax.set_title("Self-Instruct ground-truth perplexity", fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
