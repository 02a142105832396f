"""LoRA end to end on stories260K: tools/train.py fine-tunes the Hugging Face form for a
few steps on a tiny slice of the shared training data (loss must fall, and a run split
in two by a checkpoint must log the same losses), `train.py export` writes llama.cpp's
adapter GGUF, and the engine with that adapter must give the logits of the model that
peft merged and llm4all convert wrote (F32 files, within 1e-3) and of llama.cpp
(llama-cpp-python's lora_path) with the same file. Two adapters at once must equal the
merged first plus the second; a mismatched adapter must be refused with its reason;
adapter output must stay batch-invariant; the CLI's --lora must match the library.

Needs torch, transformers, peft and accelerate (skips without them); llama-cpp-python
for the llama.cpp comparison only. About a minute on 2 cores.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import llm4all
from llm4all import _core

REPO = Path(__file__).resolve().parents[2]
TRAIN = REPO / "tools" / "train.py"
IDS = [1, 403, 261, 32, 285, 259, 307, 290, 295, 261, 349, 265, 280, 45, 260, 313]

for mod in ("torch", "transformers", "peft", "accelerate", "yaml", "gguf"):
    pytest.importorskip(mod, reason=f"LoRA training needs {mod} (pip install 'llm4all[train]')")


def run_train(*args, cwd=None):
    # One thread per process: torch's default pool fights other work on a small machine.
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    r = subprocess.run([sys.executable, str(TRAIN), *map(str, args)], capture_output=True, text=True,
                       env=env, cwd=cwd, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def losses(out):
    return [json.loads(line) for line in (Path(out) / "log.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def work(tmp_path_factory, testdata):
    hf = testdata / "models" / "stories260K-hf"
    if not (hf / "config.json").is_file():
        pytest.skip(f"{hf} not found")
    d = tmp_path_factory.mktemp("lora")
    src = testdata / "train" / "llmfoundry_dolly_hhrlhf_train_small.jsonl"
    (d / "data.jsonl").write_text("".join(src.read_text().splitlines(keepends=True)[:15]))
    (d / "train.yaml").write_text(
        f"base: {hf}\ndata: [{d / 'data.jsonl'}]\nmax_length: 64\nlora_dropout: 0.0\nbatch_size: 4\n"
        "eval_fraction: 0.2\neval_every: 0\nsave_every: 6\nlr_schedule: cosine\n")
    flags = ["--config", d / "train.yaml", "--max-steps", 12, "--lr", 0.02, "--lora-r", 4, "--lora-alpha", 8,
             "--seed", 3]
    run_train(*flags, "--output", d / "adapter")
    # The same run in two parts: stopped after step 6, then resumed from its checkpoint.
    run_train(*flags, "--output", d / "split", "--stop-at", 6)
    run_train(*flags, "--output", d / "split")
    # GGUF files: the adapter, the base (llm4all convert) and the peft-merged model, all F32.
    run_train("export", d / "adapter", "-o", d / "adapter.gguf")
    run_train("export", d / "adapter", "-o", d / "merged.gguf", "--merge")
    from llm4all.convert.base import convert
    convert(hf, d / "base.gguf", outtype="f32")
    return d


def logits(path, lora=(), splits=None, n_threads=1):
    m = _core.Model(str(path), "cpu", lora=[(str(p), s) for p, s in lora])
    s = _core.Session(m, 64, 512, n_threads, "f32")
    rows = []
    pos = 0
    for n in splits or [len(IDS)]:
        s.decode(IDS[pos:pos + n], all_logits=True)
        rows.append(np.array(s.logits(), dtype=np.float32).reshape(n, -1))
        pos += n
    return np.concatenate(rows)


def test_training_lowers_the_loss_and_logs(work):
    recs = losses(work / "adapter")
    assert [r["step"] for r in recs] == list(range(1, 13))
    first = np.mean([r["loss"] for r in recs[:3]])
    last = np.mean([r["loss"] for r in recs[-3:]])
    print(f"loss: first 3 steps {first:.4f}, last 3 {last:.4f}, held-out {recs[-1].get('eval_loss')}")
    assert last < first - 0.3, (first, last)
    assert "eval_loss" in recs[-1] and np.isfinite(recs[-1]["eval_loss"])
    for f in ("adapter_config.json", "adapter_model.safetensors", "loss.png"):
        assert (work / "adapter" / f).is_file(), f
    cfg = json.loads((work / "adapter" / "adapter_config.json").read_text())
    assert cfg["r"] == 4 and cfg["lora_alpha"] == 8


def test_resume_is_exact(work):
    a = [(r["step"], r["loss"]) for r in losses(work / "adapter")]
    b = [(r["step"], r["loss"]) for r in losses(work / "split")]
    assert a == b


def test_adapter_gguf_is_llama_cpp_format(work):
    import gguf
    r = gguf.GGUFReader(str(work / "adapter.gguf"))
    kv = {f.name: f.contents() for f in r.fields.values() if f.name.startswith(("general.", "adapter."))}
    assert kv["general.type"] == "adapter" and kv["adapter.type"] == "lora"
    assert kv["general.architecture"] == "llama" and kv["adapter.lora.alpha"] == 8
    names = {t.name: t for t in r.tensors}
    a, b = names["blk.0.attn_q.weight.lora_a"], names["blk.0.attn_q.weight.lora_b"]
    assert list(a.shape) == [64, 4] and list(b.shape) == [4, 64]   # ne order: [n_in, r], [r, n_out]


def test_adapter_equals_merged_model(work):
    base = logits(work / "base.gguf")
    ours = logits(work / "base.gguf", [(work / "adapter.gguf", 1.0)])
    merged = logits(work / "merged.gguf")
    diff, effect = np.abs(ours - merged).max(), np.abs(base - merged).max()
    print(f"adapter vs merged: {diff:.2e}; base vs merged: {effect:.3f}")
    assert effect > 0.05   # the adapter changes the model
    assert diff < 1e-3
    # Scale 0 is the base model; the Python API takes a plain path too (scale 1).
    assert np.array_equal(logits(work / "base.gguf", [(work / "adapter.gguf", 0.0)]), base)
    m = llm4all.Model(work / "base.gguf", lora=str(work / "adapter.gguf"), kv_type="f32", n_threads=1)
    assert m.lora == [(str(work / "adapter.gguf"), 1.0)]


def test_llama_cpp_agrees(work):
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is the reference for adapters")
    ours = logits(work / "base.gguf", [(work / "adapter.gguf", 1.0)])
    # F32 KV cache (type 0) on both sides, as our session above.
    ll = llama_cpp.Llama(model_path=str(work / "base.gguf"), lora_path=str(work / "adapter.gguf"), n_ctx=64,
                         logits_all=True, n_threads=1, type_k=0, type_v=0, verbose=False)
    ll.eval(IDS)
    ref = np.array(ll.scores[:len(IDS)], dtype=np.float32)
    print(f"llama.cpp vs ours with the adapter: {np.abs(ref - ours).max():.2e}")
    assert np.abs(ref - ours).max() < 1e-3


def second_adapter(work):
    """Another real PEFT folder: the trained one with its matrices changed (the same
    shapes, a different update), exported like the first."""
    from safetensors.numpy import load_file, save_file
    d = work / "adapter2"
    if not d.exists():
        shutil.copytree(work / "adapter", d, ignore=shutil.ignore_patterns("checkpoints"))
        rng = np.random.default_rng(7)
        t = load_file(str(d / "adapter_model.safetensors"))
        t = {k: (v[::-1].copy() if ".lora_A." in k else -0.7 * v + 0.02 * rng.standard_normal(v.shape).astype(v.dtype))
             for k, v in t.items()}
        save_file(t, str(d / "adapter_model.safetensors"))
        run_train("export", d, "-o", work / "adapter2.gguf")
    return work / "adapter2.gguf"


def test_two_adapters_add_up(work):
    a2 = second_adapter(work)
    both = logits(work / "base.gguf", [(work / "adapter.gguf", 1.0), (a2, 1.0)])
    merged_plus = logits(work / "merged.gguf", [(a2, 1.0)])
    assert np.abs(both - merged_plus).max() < 1e-3
    halves = logits(work / "base.gguf", [(work / "adapter.gguf", 0.5), (work / "adapter.gguf", 0.5)])
    assert np.abs(halves - logits(work / "base.gguf", [(work / "adapter.gguf", 1.0)])).max() < 1e-4


def test_batch_invariance_with_adapter(work):
    lora = [(work / "adapter.gguf", 1.0)]
    whole = logits(work / "base.gguf", lora, n_threads=2)
    for splits in ([1] * len(IDS), [3, 1, 7, 5], [9, 7]):
        assert np.array_equal(logits(work / "base.gguf", lora, splits, n_threads=2), whole), splits
    # Beside another sequence in one shared forward pass.
    m = _core.Model(str(work / "base.gguf"), "cpu", lora=[(str(p), s) for p, s in lora])
    a, b = _core.Session(m, 64, 512, 2, "f32"), _core.Session(m, 64, 512, 2, "f32")
    _core.decode_batch([(b, IDS[:5], True), (a, IDS, True)])
    assert np.array_equal(np.array(a.logits(), dtype=np.float32).reshape(len(IDS), -1), whole)


def rewrite(src, dst, arch=None, rename=None, shrink=None):
    """A copy of an adapter GGUF with its architecture, one tensor's name or one
    tensor's shape changed."""
    import gguf
    r = gguf.GGUFReader(str(src))
    w = gguf.GGUFWriter(str(dst), arch or "llama")
    w.add_type("adapter")
    w.add_string("adapter.type", "lora")
    w.add_float32("adapter.lora.alpha", 8.0)
    for t in r.tensors:
        data = np.array(t.data, dtype=np.float32).reshape([int(x) for x in reversed(t.shape)])
        name = rename.get(t.name, t.name) if rename else t.name
        if shrink and t.name == shrink:
            data = data[:, :32].copy()
        w.add_tensor(name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return dst


@pytest.mark.parametrize("case,match", [
    ("arch", "made for architecture 'qwen2'"),
    ("shape", "has shape \\[64, 64\\] but the adapter's lora_a is \\[32, 4\\]"),
    ("missing", "weight 'blk.9.attn_q.weight' is not in the model"),
    ("not_adapter", "not an adapter file"),
])
def test_mismatched_adapter_is_refused(work, case, match):
    src, bad = work / "adapter.gguf", work / f"bad-{case}.gguf"
    if case == "arch":
        rewrite(src, bad, arch="qwen2")
    elif case == "shape":
        rewrite(src, bad, shrink="blk.0.attn_q.weight.lora_a")
    elif case == "missing":
        rewrite(src, bad, rename={"blk.0.attn_q.weight.lora_a": "blk.9.attn_q.weight.lora_a",
                                  "blk.0.attn_q.weight.lora_b": "blk.9.attn_q.weight.lora_b"})
    else:
        bad = work / "base.gguf"
    with pytest.raises(llm4all.Error, match=match):
        _core.Model(str(work / "base.gguf"), "cpu", lora=[(str(bad), 1.0)])


def test_cli_lora_flag_matches_library(work):
    prompt = "Once upon a time"
    m = llm4all.Model(work / "base.gguf", lora=[(work / "adapter.gguf", 0.8)], n_threads=1)
    want = m.generate(prompt, max_tokens=12, temp=0)
    r = subprocess.run([sys.executable, "-m", "llm4all", "run", str(work / "base.gguf"), prompt, "-n", "12",
                        "--temp", "0", "-t", "1", "--lora", f"{work / 'adapter.gguf'}:0.8"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert want.strip() and want.strip() in r.stdout
    plain = llm4all.Model(work / "base.gguf", n_threads=1).generate(prompt, max_tokens=12, temp=0)
    print(f"base: {plain!r}\nwith adapter: {want!r}")


@pytest.mark.parametrize("outtype,tol_f32", [("f16", 5e-2), ("q8_0", 0.25)])
def test_f16_and_q8_0_adapters(work, outtype, tol_f32):
    """Smaller adapter files: close to the F32 adapter, and to llama.cpp reading the same
    file (each engine rounds the activations for F16/Q8_0 products its own way)."""
    f = work / f"adapter-{outtype}.gguf"
    run_train("export", work / "adapter", "-o", f, "--outtype", outtype)
    import gguf
    types = {t.tensor_type.name for t in gguf.GGUFReader(str(f)).tensors}
    assert outtype.upper() in types, types
    ours = logits(work / "base.gguf", [(f, 1.0)])
    ref32 = logits(work / "base.gguf", [(work / "adapter.gguf", 1.0)])
    print(f"{outtype}: vs the F32 adapter {np.abs(ours - ref32).max():.2e}")
    assert np.abs(ours - ref32).max() < tol_f32
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python is the reference for adapters")
    ll = llama_cpp.Llama(model_path=str(work / "base.gguf"), lora_path=str(f), n_ctx=64, logits_all=True,
                         n_threads=1, type_k=0, type_v=0, verbose=False)
    ll.eval(IDS)
    ref = np.array(ll.scores[:len(IDS)], dtype=np.float32)
    print(f"{outtype}: vs llama.cpp with the same file {np.abs(ref - ours).max():.2e}")
    assert np.abs(ref - ours).max() < 3e-2
