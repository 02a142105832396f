"""tools/eval.py / `llm4all eval` (llm4all.eval) against references we did not write.

- stories260K-hf converted to an F32 GGUF: every item's per-choice log-likelihood equals
  transformers' on the same checkpoint, scored here the way lm-evaluation-harness scores
  (context and continuation split by encoding the whole and cutting after the context's own
  tokens, BOS as the tokenizer adds it), within 1e-3, with the same predicted choice, on a
  seeded subset of every task; for one item at a time and for items batched in shared passes.
- The accuracies in the JSON equal a recount from its own per-item records; the Markdown
  table and the chart are written.
- An interrupted run resumes from the cache (only the missing items are scored) and ends
  with the numbers of an uninterrupted run; --limit subsets are fixed and nested.
- Self-Instruct perplexity: transformers' perplexity of the reference output, clipped at 100.
"""
import functools
import json
import math
import subprocess
import sys
from argparse import Namespace

import pytest

torch = pytest.importorskip("torch", reason="transformers scoring needs torch")
transformers = pytest.importorskip("transformers", reason="the reference scoring is transformers'")
pytest.importorskip("gguf", reason="converting stories260K-hf needs gguf (llm4all[convert])")

import llm4all  # noqa: E402
from llm4all.convert import convert  # noqa: E402
from llm4all.eval import command, selfinstruct  # noqa: E402
from llm4all.eval.cache import ScoreCache  # noqa: E402
from llm4all.eval.harness import evaluate, select_items  # noqa: E402
from llm4all.eval.tasks import TASKS, load_task, subset  # noqa: E402

PER_TASK = 4  # items per task in the agreement check (a seeded subset)
N_CTX = 2048  # some BoolQ passages take over 512 of stories260K's tokens


@pytest.fixture(scope="module")
def data_dir(testdata):
    d = testdata / "eval"
    if not (d / "piqa").is_dir():
        pytest.skip(f"{d} not found (the eval tasks of the shared test data)")
    return d


@pytest.fixture(scope="module")
def hf_dir(testdata):
    d = testdata / "models" / "stories260K-hf"
    if not (d / "config.json").is_file():
        pytest.skip(f"{d} not found")
    return d


@pytest.fixture(scope="module")
def gguf_f32(hf_dir, tmp_path_factory):
    return convert(hf_dir, tmp_path_factory.mktemp("eval") / "stories-f32.gguf", "f32")


@pytest.fixture(scope="module")
def hf(hf_dir):
    tok = transformers.AutoTokenizer.from_pretrained(str(hf_dir))
    model = transformers.AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32)
    model.eval()
    return tok, model


@functools.lru_cache(maxsize=None)
def hf_loglik(tok, model, context, continuation):
    """lm-evaluation-harness's HFLM loglikelihood of one (context, continuation) request,
    with the tokenizer's own special tokens (BOS) on."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = tok(context + continuation)["input_ids"]
    ctx = tok(context)["input_ids"]
    cont = whole[len(ctx):]
    assert len(ctx) + len(cont) <= N_CTX, "pick items that need no truncation"
    inp = torch.tensor([ctx + cont])
    with torch.no_grad():
        logp = torch.log_softmax(model(inp).logits[0].double(), dim=-1)
    rows = logp[len(ctx) - 1:len(ctx) + len(cont) - 1]
    return float(rows[torch.arange(len(cont)), torch.tensor(cont)].sum())


def run_eval(path, items, **kw):
    model = llm4all.Model(str(path), n_ctx=N_CTX, n_threads=2, kv_type="f32")
    cache = ScoreCache(None)
    try:
        return evaluate(model, items, cache, progress=False, **kw)
    finally:
        cache.close()


@pytest.mark.parametrize("n_seq", [1, 3])
def test_logliks_agree_with_transformers(gguf_f32, hf, data_dir, n_seq):
    tok, model = hf
    items = select_items(TASKS, data_dir, PER_TASK, seed=7)
    out = run_eval(gguf_f32, items, n_seq=n_seq)
    by_key = {(r["task"], r["index"]): r for r in out["samples"]}
    assert len(by_key) == PER_TASK * len(TASKS)
    worst = 0.0
    for task, task_items in items.items():
        for it in task_items:
            rec = by_key[(task, it.index)]
            ref = [hf_loglik(tok, model, c, k) for c, k in it.requests]
            assert len(rec["logliks"]) == len(ref)
            for ours, theirs in zip(rec["logliks"], ref):
                worst = max(worst, abs(ours - theirs))
                assert ours == pytest.approx(theirs, abs=1e-3), (task, it.index)
            ref_pred = max(range(len(ref)), key=lambda i: (ref[i], -i))
            assert rec["pred"] == ref_pred, (task, it.index, rec["logliks"], ref)
            norm = [ll / len_ for ll, len_ in zip(ref, it.norm_lengths)]
            assert rec["pred_norm"] == max(range(len(norm)), key=lambda i: (norm[i], -i))
            assert rec["gold"] == it.gold and rec["id"] == it.id
    print(f"largest |loglik difference| vs transformers (n_seq={n_seq}): {worst:.2e}")


def test_winogrande_partial_scoring(data_dir):
    it = load_task("winogrande", data_dir)[0]
    # Two filled-in contexts, one shared continuation (with lm-eval's " " delimiter).
    assert len(it.requests) == 2 and it.requests[0][1] == it.requests[1][1]
    assert it.requests[0][1].startswith(" ") and it.requests[0][0] != it.requests[1][0]


def test_json_accuracy_equals_recount(gguf_f32, data_dir, tmp_path, repo_root):
    out, md, png = tmp_path / "r.json", tmp_path / "t.md", tmp_path / "c.png"
    cmd = [sys.executable, str(repo_root / "tools" / "eval.py"), str(gguf_f32), "--limit", "10", "--log-samples",
           "--data-dir", str(data_dir), "--cache", str(tmp_path / "c.sqlite"), "--output", str(out),
           "--markdown", str(md), "-c", "2048", "-t", "2", "-q"]
    try:
        import matplotlib  # noqa: F401
        cmd += ["--plot", str(png)]
    except ImportError:
        print("matplotlib absent: the chart is not checked")
        png = None
    subprocess.run(cmd, check=True, timeout=600)
    report = json.loads(out.read_text())
    assert report["tasks"] == list(TASKS)
    (entry,) = report["models"]
    samples = report["samples"]
    heads = []
    for task in TASKS:
        recs = [r for r in samples if r["task"] == task]
        assert len(recs) == 10 == entry["results"][task]["n"]
        for r in recs:
            assert r["pred"] == max(range(len(r["logliks"])), key=lambda i: (r["logliks"][i], -i))
        acc = sum(r["pred"] == r["gold"] for r in recs) / len(recs)
        assert entry["results"][task]["acc"] == pytest.approx(acc, abs=1e-12)
        p = acc
        assert entry["results"][task]["acc_stderr"] == pytest.approx(math.sqrt(p * (1 - p) / (len(recs) - 1)), abs=1e-12)
        if task in ("boolq", "winogrande"):
            assert "acc_norm" not in entry["results"][task]
            heads.append(acc)
        else:
            norm = sum(r["pred_norm"] == r["gold"] for r in recs) / len(recs)
            assert entry["results"][task]["acc_norm"] == pytest.approx(norm, abs=1e-12)
            heads.append(norm)
    assert entry["avg"] == pytest.approx(sum(heads) / len(heads), abs=1e-12)
    table = md.read_text()
    assert "| Model | BoolQ | PIQA | HellaSwag | WinoG. | ARC-e | ARC-c | OBQA | Avg. |" in table
    assert f"| {entry['name']} |" in table and f"{100 * entry['avg']:.1f} |" in table
    if png is not None:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _args(gguf, data_dir, cache, **kw):
    base = dict(models=[str(gguf)], tasks="piqa,winogrande,hellaswag", limit=12, seed=3, output=None,
                markdown=None, plot=None, log_samples=True, selfinstruct=False, metric="headline",
                data_dir=str(data_dir), selfinstruct_file=None, cache=str(cache), no_cache=False, kv_type="f32",
                parallel=1, threads=2, ctx_size=N_CTX, batch_size=512, device="auto", quiet=True)
    base.update(kw)
    return Namespace(**base)


def test_interrupted_run_resumes(gguf_f32, data_dir, tmp_path, capsys):
    cache = tmp_path / "cache.sqlite"
    seen = []

    def stop_after_7(item, logliks, cached):
        seen.append(cached)
        if len(seen) == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        command.run(_args(gguf_f32, data_dir, cache), on_item=stop_after_7)
    assert seen == [False] * 7
    c = ScoreCache(cache)
    assert c.count() == 7
    c.close()
    again = []
    out = tmp_path / "resumed.json"
    command.run(_args(gguf_f32, data_dir, cache, output=str(out)), on_item=lambda i, ll, cached: again.append(cached))
    assert again.count(True) == 7 and again.count(False) == 36 - 7
    fresh = tmp_path / "fresh.json"
    command.run(_args(gguf_f32, data_dir, tmp_path / "other.sqlite", output=str(fresh)))
    a, b = json.loads(out.read_text()), json.loads(fresh.read_text())
    assert a["models"][0]["results"] == b["models"][0]["results"]
    assert a["samples"] == b["samples"]
    capsys.readouterr()


def test_limit_subsets_are_fixed_and_nested(data_dir):
    n = len(load_task("hellaswag", data_dir))
    small, large = subset(n, 50, 1234), subset(n, 200, 1234)
    assert small == subset(n, 50, 1234) and len(set(small)) == 50
    assert set(small) <= set(large) and small == sorted(small)
    assert subset(n, 50, 1) != small
    assert subset(n, None, 1) == list(range(n)) == subset(n, n + 5, 1)
    # Records carry the file line number: HellaSwag ids repeat, indices do not.
    items = load_task("hellaswag", data_dir)
    assert len({it.index for it in items}) == n


def test_cli_command_is_the_same_code_path(gguf_f32, data_dir, tmp_path):
    out = tmp_path / "cli.json"
    subprocess.run([sys.executable, "-m", "llm4all", "eval", str(gguf_f32), "--tasks", "arc_easy", "--limit", "5",
                    "--data-dir", str(data_dir), "--no-cache", "--output", str(out), "--log-samples", "-q",
                    "-c", str(N_CTX), "-t", "2"], check=True, timeout=300)
    report = json.loads(out.read_text())
    direct = run_eval(gguf_f32, select_items(["arc_easy"], data_dir, 5, 1234))
    assert [r["logliks"] for r in report["samples"]] == [
        pytest.approx(r["logliks"], abs=1e-6) for r in direct["samples"]]
    bad = subprocess.run([sys.executable, "-m", "llm4all", "eval", str(gguf_f32), "--tasks", "nope"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "unknown task" in bad.stderr


@pytest.mark.slow
def test_selfinstruct_perplexity_matches_transformers(gguf_f32, hf, testdata, tmp_path):
    path = testdata / "selfinstruct" / "user_oriented_instructions.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    tok, hf_model = hf
    model = llm4all.Model(str(gguf_f32), n_ctx=2048, n_threads=2, kv_type="f32")
    cache = ScoreCache(None)
    res = selfinstruct.evaluate(model, path, cache, progress=False)
    cache.close()
    assert res["n"] == 252 and all(1.0 <= p <= 100.0 for p in res["ppl"])
    examples = selfinstruct.load(path)
    for i in (0, 1, 100):
        ex = examples[i]
        text, _ = selfinstruct.prompt(model, ex)  # no chat template: the Alpaca prompt
        assert text.startswith("### Instruction:\n" + ex["instruction"])
        ctx = tok(text)["input_ids"]
        whole = tok(text + ex["output"])["input_ids"]
        with torch.no_grad():
            logp = torch.log_softmax(hf_model(torch.tensor([whole])).logits[0].double(), -1)
        cont = whole[len(ctx):]
        nll = -float(logp[len(ctx) - 1:len(whole) - 1][torch.arange(len(cont)), torch.tensor(cont)].mean())
        assert res["ppl_unclipped"][i] == pytest.approx(math.exp(nll), rel=1e-3)
        assert res["ppl"][i] == min(100.0, res["ppl_unclipped"][i])
