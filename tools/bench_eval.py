#!/usr/bin/env python3
"""Items/s of `llm4all eval` scoring against lm-evaluation-harness-style scoring through
transformers on the same checkpoint and machine, on a seeded subset of tasks.

The transformers side runs each (context + choice) request as lm-eval's HFLM does (one forward
pass per request, or padded batches of --hf-batch requests, no prefix reuse) over the same token
ids. MODEL is a Hugging Face folder (converted here to an F32 GGUF for the engine) or a GGUF file
whose llama-architecture weights are dequantized into a transformers LlamaForCausalLM. Also
prints how far the per-choice log-likelihoods and predictions of the two agree.

    python tools/bench_eval.py smollm2 --tasks hellaswag,arc_easy,piqa --limit 40 --threads 2
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import llm4all
from llm4all import _core
from llm4all.catalog import resolve_model
from llm4all.eval.cache import ScoreCache
from llm4all.eval.harness import evaluate, select_items
from llm4all.eval.tasks import default_data_dir, parse_tasks


def _unpermute(w, n_head):
    # llama.cpp's converter interleaves the rotary halves of Q and K rows; transformers does not.
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama_from_gguf(path):
    """A transformers LlamaForCausalLM with the GGUF's weights dequantized to float32."""
    import transformers
    desc = json.loads(_core.gguf_describe(str(path), 0))
    md = {k: (v["value"] if isinstance(v, dict) and "value" in v else v) for k, v in desc["metadata"].items()}
    arch = md["general.architecture"]
    if arch != "llama":
        raise SystemExit(f"bench_eval: {path}: architecture {arch}; only llama GGUFs are dequantized here")
    shapes = {t["name"]: [int(d) for d in t["shape"]] for t in desc["tensors"]}

    def tensor(name):
        return _core.gguf_read_tensor(str(path), name).reshape(shapes[name][::-1])
    n_head, n_kv = int(md["llama.attention.head_count"]), int(md["llama.attention.head_count_kv"])
    n_embd, n_layer = int(md["llama.embedding_length"]), int(md["llama.block_count"])
    n_vocab = shapes["token_embd.weight"][1]
    tied = "output.weight" not in shapes
    cfg = transformers.LlamaConfig(
        vocab_size=n_vocab, hidden_size=n_embd, intermediate_size=int(md["llama.feed_forward_length"]),
        num_hidden_layers=n_layer, num_attention_heads=n_head, num_key_value_heads=n_kv,
        rms_norm_eps=float(md["llama.attention.layer_norm_rms_epsilon"]),
        rope_theta=float(md.get("llama.rope.freq_base", 10000.0)), max_position_embeddings=8192,
        tie_word_embeddings=tied, head_dim=n_embd // n_head)
    model = transformers.LlamaForCausalLM(cfg).eval()
    sd = {"model.embed_tokens.weight": tensor("token_embd.weight"), "model.norm.weight": tensor("output_norm.weight")}
    if not tied:
        sd["lm_head.weight"] = tensor("output.weight")
    for i in range(n_layer):
        p, q = f"blk.{i}.", f"model.layers.{i}."
        sd[q + "self_attn.q_proj.weight"] = _unpermute(tensor(p + "attn_q.weight"), n_head)
        sd[q + "self_attn.k_proj.weight"] = _unpermute(tensor(p + "attn_k.weight"), n_kv)
        sd[q + "self_attn.v_proj.weight"] = tensor(p + "attn_v.weight")
        sd[q + "self_attn.o_proj.weight"] = tensor(p + "attn_output.weight")
        sd[q + "mlp.gate_proj.weight"] = tensor(p + "ffn_gate.weight")
        sd[q + "mlp.up_proj.weight"] = tensor(p + "ffn_up.weight")
        sd[q + "mlp.down_proj.weight"] = tensor(p + "ffn_down.weight")
        sd[q + "input_layernorm.weight"] = tensor(p + "attn_norm.weight")
        sd[q + "post_attention_layernorm.weight"] = tensor(p + "ffn_norm.weight")
    sd = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [m for m in missing if not (tied and m == "lm_head.weight") and "rotary" not in m]
    if missing or unexpected:
        raise SystemExit(f"bench_eval: weights do not fit: missing {missing}, unexpected {unexpected}")
    if tied:
        model.tie_weights()
    return model


def hf_scores(model, requests, batch):
    """Summed log-likelihood of each (tokens, first) request, lm-eval style: the whole sequence
    is run for every choice (right-padded batches of `batch` requests, longest first)."""
    order = sorted(range(len(requests)), key=lambda i: -len(requests[i][0]))
    out = [0.0] * len(requests)
    with torch.no_grad():
        for b in range(0, len(order), batch):
            idx = order[b:b + batch]
            width = max(len(requests[i][0]) for i in idx)
            ids = torch.zeros((len(idx), width), dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                t = requests[i][0]
                ids[r, :len(t)] = torch.tensor(t)
                mask[r, :len(t)] = 1
            logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.double(), -1)
            for r, i in enumerate(idx):
                t, first = requests[i]
                tgt = torch.tensor(t[first:])
                out[i] = float(logp[r, first - 1:len(t) - 1][torch.arange(len(tgt)), tgt].sum())
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a Hugging Face folder, a llama GGUF file or a catalogue name")
    ap.add_argument("--tasks", default="hellaswag,arc_easy,piqa")
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--parallel", default="1,4", help="engine runs: items scored at once (comma list)")
    ap.add_argument("--hf-batch", default="1,8", help="transformers runs: requests per forward pass")
    ap.add_argument("--kv-type", default="f32")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    src = Path(args.model)
    if (src / "config.json").is_file():
        import transformers
        from llm4all.convert import convert
        gguf = convert(src, Path(tempfile.mkdtemp()) / "model-f32.gguf", "f32")
        hf = transformers.AutoModelForCausalLM.from_pretrained(str(src), dtype=torch.float32).eval()
    else:
        gguf = Path(os.fsdecode(resolve_model(args.model)))
        hf = llama_from_gguf(gguf)
    items = select_items(parse_tasks(args.tasks), default_data_dir(), args.limit, args.seed)
    n_items = sum(len(v) for v in items.values())
    print(f"{n_items} items ({args.tasks}, --limit {args.limit}), {args.threads} threads, model {gguf.name}")
    engine = {}
    # Warm-up: the first run would otherwise also pay for paging the model file in.
    first_task = next(iter(items))
    warm = llm4all.Model(str(gguf), n_ctx=2048, n_threads=args.threads, kv_type=args.kv_type)
    evaluate(warm, {first_task: items[first_task][:2]}, ScoreCache(None), progress=False)
    del warm
    for k in [int(x) for x in args.parallel.split(",")]:
        model = llm4all.Model(str(gguf), n_ctx=2048, n_threads=args.threads, kv_type=args.kv_type)
        cache = ScoreCache(None)
        t0 = time.perf_counter()
        out = evaluate(model, items, cache, n_seq=k, progress=False)
        dt = time.perf_counter() - t0
        cache.close()
        engine[k] = out["samples"]
        print(f"llm4all eval, {k} item(s) at once: {n_items / dt:.2f} items/s ({dt:.1f} s)")
        requests_model = model
    from llm4all.eval.scoring import Scorer
    scorer = Scorer(requests_model)
    reqs, owner = [], []
    for task, task_items in items.items():
        for it in task_items:
            for r in scorer.requests(it):
                reqs.append(r)
                owner.append((task, it.index))
    for b in [int(x) for x in args.hf_batch.split(",")]:
        t0 = time.perf_counter()
        ref = hf_scores(hf, reqs, b)
        dt = time.perf_counter() - t0
        print(f"transformers lm-eval style, batch {b}: {n_items / dt:.2f} items/s ({dt:.1f} s)")
    ours = [ll for r in engine[min(engine)] for ll in r["logliks"]]
    diff = np.abs(np.asarray(ours) - np.asarray(ref))
    by_item = {}
    for (key, ll) in zip(owner, ref):
        by_item.setdefault(key, []).append(ll)
    same = sum(int(np.argmax(by_item[(r["task"], r["index"])])) == r["pred"] for r in engine[min(engine)])
    print(f"agreement: max |dloglik| {diff.max():.2e}, median {np.median(diff):.2e}; same prediction on "
          f"{same}/{n_items} items")


if __name__ == "__main__":
    sys.exit(main())
