"""The `llm4all` command line (also `python -m llm4all`).

Subcommands: run, chat, serve, app, embed, docs, info, perplexity, pull, list, rm, search, devices, convert, quantize, bench, eval. Every
failure the user can cause (bad file, unknown model, bad UTF-8, full context) ends as one line
"llm4all: error: ..." on stderr and exit status 1, never a traceback
(set LLM4ALL_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence

from . import __version__
from .catalog import CATALOG, pull, resolve_model

PROG = "llm4all"


def _arg_bytes(s: str) -> bytes:
    """Command-line text as bytes; undecodable bytes (surrogate-escaped by Python)
    go through unchanged so the engine reports the bad UTF-8 itself."""
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(s)


def _write(data: str) -> None:
    # Write UTF-8 bytes whatever the locale says, so no piece of output can fail to encode.
    sys.stdout.buffer.write(data.encode("utf-8", errors="replace"))
    sys.stdout.buffer.flush()


# ---- info -----------------------------------------------------------------------------

def _value(v: Any) -> Any:
    """Metadata value whether described bare or as {"type":..,"value":..}."""
    if isinstance(v, dict) and "value" in v:
        return v["value"]
    return v


def _length(v: Any) -> Optional[int]:
    v = _value(v)
    if isinstance(v, list):
        return len(v)
    if isinstance(v, dict):
        for key in ("length", "len", "count", "n"):
            if isinstance(v.get(key), int):
                return v[key]
    return None


def _human(n: float) -> str:
    for unit, div in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(int(n))


def summarize(desc: Dict[str, Any], path: str) -> Dict[str, Any]:
    """The facts `llm4all info` shows, from a gguf_describe() JSON."""
    md = desc.get("metadata", {}) or {}
    tensors = desc.get("tensors", []) or []
    arch = _value(md.get("general.architecture"))
    n_params = 0
    for t in tensors:
        n_params += math.prod(int(d) for d in t.get("shape", []))
    types = Counter(str(t.get("type")) for t in tensors)
    n_vocab = _length(md.get("tokenizer.ggml.tokens"))
    if n_vocab is None:
        for t in tensors:
            if t.get("name") == "token_embd.weight" and len(t.get("shape", [])) == 2:
                n_vocab = int(t["shape"][1])

    def arch_key(k: str) -> Any:
        return _value(md.get(f"{arch}.{k}")) if arch else None

    try:
        size = os.path.getsize(path)
    except OSError:
        size = None
    return {
        "file": path,
        "file_size": size,
        "gguf_version": desc.get("version"),
        "name": _value(md.get("general.name")),
        "architecture": arch,
        "parameters": n_params,
        "tensor_count": len(tensors),
        "tensor_types": dict(types.most_common()),
        "context_length": arch_key("context_length"),
        "embedding_length": arch_key("embedding_length"),
        "block_count": arch_key("block_count"),
        "head_count": arch_key("attention.head_count"),
        "head_count_kv": arch_key("attention.head_count_kv"),
        "vocab_size": n_vocab,
        "tokenizer": _value(md.get("tokenizer.ggml.model")),
        "chat_template": "tokenizer.chat_template" in md,
    }


def cmd_info(args: argparse.Namespace) -> int:
    from . import _core
    from .memory import process_rss
    # This program before it reads the file, with the backend plugins started (a GPU probe
    # loads its driver into the process whatever device runs): what `run` holds too.
    _core.devices_json()
    rss_before = process_rss()
    # A catalogue embedding checkpoint (a Hugging Face folder) is described, and its memory
    # estimated, as the GGUF it runs as (converted once, as `llm4all embed` does).
    from .embeddings import resolve_embedding_model
    path = os.fspath(resolve_embedding_model(args.model, allow_download=False))
    desc = json.loads(_core.gguf_describe(path, 64))
    info = summarize(desc, os.fsdecode(path))
    # A model file must make sense as a model, not only parse: nonsense hyper-parameters
    # (zero or huge counts, heads that do not divide, keys that disagree with the tensors)
    # raise llm4all.Error naming the key. Vocabulary-only files and adapters are not models;
    # an architecture this version cannot run is still described, with the reason.
    md = desc.get("metadata", {}) or {}
    if desc.get("tensors") and _value(md.get("general.type")) != "adapter":
        try:
            _core.gguf_check_model(path)
        except _core.Error as e:
            if getattr(e, "status_name", "") != "LLM4ALL_ERR_UNSUPPORTED":
                raise
            info["loadable"] = f"no: {_one_line(e)}"
    memory = _memory_estimate(path, args, info, rss_before)
    if args.json:
        desc["summary"] = info
        if memory is not None:
            desc["memory"] = memory.as_dict()
        _write(json.dumps(desc, indent=1, ensure_ascii=False) + "\n")
        return 0
    rows = [
        ("file", f"{info['file']}" + (f" ({info['file_size'] / 1e6:.1f} MB)" if info["file_size"] else "")),
        ("GGUF version", info["gguf_version"]),
        ("name", info["name"]),
        ("architecture", info["architecture"]),
        ("parameters", f"{_human(info['parameters'])} ({info['parameters']:,})"),
        ("tensor types", ", ".join(f"{k} x {v}" for k, v in info["tensor_types"].items()) or "-"),
        ("context length", info["context_length"]),
        ("embedding length", info["embedding_length"]),
        ("layers", info["block_count"]),
        ("attention heads", None if info["head_count"] is None else
         f"{info['head_count']} (KV {info['head_count_kv'] if info['head_count_kv'] is not None else info['head_count']})"),
        ("vocab size", info["vocab_size"]),
        ("tokenizer", info["tokenizer"]),
        ("chat template", "yes" if info["chat_template"] else "no"),
        ("loadable", info.get("loadable")),
    ]
    if memory is not None:
        rows += _memory_rows(memory)
    _write("".join(f"{k + ':':<18}{v}\n" for k, v in rows if v is not None))
    return 0


def _memory_estimate(path: str, args: argparse.Namespace, info: Dict[str, Any], process: int) -> Any:
    """The engine's memory estimate at --n-ctx for a model file (None for a file that is
    not a loadable model: a vocabulary, an adapter, an architecture this version lacks)."""
    from .memory import estimate_memory
    if info.get("loadable") or not info.get("architecture") or not info.get("block_count"):
        return None
    return estimate_memory(path, n_ctx=args.n_ctx, n_batch=args.batch_size, kv_type=args.kv_type, process=process)


def _memory_rows(m: Any) -> List[Any]:
    mib = lambda b: f"{b / 2**20:,.0f} MiB"  # noqa: E731
    kv = f"KV cache {mib(m.kv_cache)} ({m.kv_type}, n_ctx {m.n_ctx})" if m.kv_cache else f"window {m.n_ctx} tokens"
    rows = [("memory", f"{mib(m.total)}: weights {mib(m.weights)}, {kv}, compute {mib(m.compute)}, "
                       f"runtime {mib(m.runtime)} (this program {mib(m.process)})")]
    if m.available:
        verdict = "fits" if m.fits else "does NOT fit: use a smaller --n-ctx or quantization"
        rows.append(("available", f"{mib(m.available)} ({m.available_source}); the engine needs "
                                  f"{mib(m.engine)}: {verdict}"))
    return rows


# ---- run ----------------------------------------------------------------------------------

def _load(args: argparse.Namespace):
    from .model import Model
    return Model(args.model, n_ctx=args.ctx_size, n_threads=args.threads, device=args.device,
                 n_gpu_layers=args.gpu_layers,
                 n_batch=args.batch_size, lora=getattr(args, "lora", None) or None,
                 skip_memory_check=getattr(args, "skip_memory_check", False))


def _sampling_from_args(args: argparse.Namespace) -> Dict[str, Any]:
    """Sampling options the user gave; the rest keep the engine's defaults."""
    names = ("max_tokens", "temp", "top_k", "top_p", "min_p", "repeat_penalty", "repeat_last_n", "seed")
    out = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    if args.stop:
        out["stop"] = args.stop
    return out


def cmd_run(args: argparse.Namespace) -> int:
    # No prompt, or "-": read it from standard input (as bytes, so bad UTF-8 is reported by the engine).
    prompt = sys.stdin.buffer.read() if args.prompt in (None, "-") else _arg_bytes(args.prompt)
    model = _load(args)
    if args.echo:
        _write(prompt.decode("utf-8", errors="replace"))
    pieces = model.generate(prompt, streaming=True, **_sampling_from_args(args))
    try:
        for piece in pieces:
            _write(piece)
    finally:
        pieces.close()   # Ctrl-C: stops the engine at its next batch, even mid-prompt
    _write("\n")
    st = getattr(model, "last_stats", {}) or {}
    if not args.quiet and st:
        def rate(n: int, ms: float) -> str:
            return f"{n / (ms / 1000):.1f} tokens/s" if ms > 0 else "-"
        print(f"[prompt: {st.get('n_prompt_tokens')} tokens ({st.get('n_prompt_decoded')} decoded) in "
              f"{st.get('prompt_ms', 0):.0f} ms, {rate(st.get('n_prompt_decoded', 0), st.get('prompt_ms', 0))}; "
              f"generated: {st.get('n_generated')} tokens in {st.get('generate_ms', 0):.0f} ms, "
              f"{rate(st.get('n_generated', 0), st.get('generate_ms', 0))}; stop: {st.get('stop_reason')}]",
              file=sys.stderr)
    return 0


# ---- perplexity ------------------------------------------------------------------------------

def cmd_perplexity(args: argparse.Namespace) -> int:
    with open(args.file, "rb") as f:
        data = f.read()
    # wiki.test.raw ships with CRLF; llama.cpp's reference numbers are on LF text.
    data = data.replace(b"\r\n", b"\n")
    args.ctx_size = max(args.ctx_size, 4)
    model = _load(args)
    print(f"perplexity: {len(data)} bytes, n_ctx={args.ctx_size}, scoring the second half of each chunk",
          file=sys.stderr)

    def on_chunk(i: int, running: float) -> None:
        _write(f"[{i + 1}]{running:.4f},")

    res = model.perplexity(data, n_ctx=args.ctx_size, n_chunks=args.chunks, on_chunk=on_chunk)
    _write(f"\nFinal estimate: PPL = {res.ppl:.4f} +/- {res.uncertainty:.5f}\n")
    return 0


# ---- pull / list / devices -------------------------------------------------------------------

def _pull_target(name: str) -> str:
    """A catalogue name or an http(s) link; anything else is a usage error (exit 2)."""
    if name in CATALOG or name.startswith(("http://", "https://")):
        return name
    raise argparse.ArgumentTypeError(f"invalid choice: {name!r} (choose from {', '.join(sorted(CATALOG))}, "
                                     "or an http(s) link to a .gguf file)")


def cmd_pull(args: argparse.Namespace) -> int:
    from .catalog import pull_url
    if args.sha256 and not all(n.startswith(("http://", "https://")) for n in args.name):
        raise ValueError("--sha256 goes with a direct link (catalogue models carry their own)")
    # Through the environment, so catalogue links and direct ones both see them.
    if args.timeout is not None:
        os.environ["LLM4ALL_DOWNLOAD_TIMEOUT"] = str(args.timeout)
    if args.retries is not None:
        os.environ["LLM4ALL_DOWNLOAD_RETRIES"] = str(args.retries)
    for name in args.name:
        if name.startswith(("http://", "https://")):
            path = pull_url(name, sha256=args.sha256, cache_dir=args.cache_dir, progress=not args.quiet,
                            force=args.force)
        else:
            path = pull(name, cache_dir=args.cache_dir, progress=not args.quiet, force=args.force)
        _write(f"{path}\n")
    return 0


def _forced_cpu_variant() -> str:
    v = os.environ.get("LLM4ALL_CPU_VARIANT", "")
    return v[4:] if v.startswith("cpu-") else v


def format_devices(devices: List[Dict[str, Any]]) -> str:
    """`llm4all devices` as a table: one row per plugin, its score or why it was
    refused, and a mark on the variant each backend runs."""
    rows = []
    for d in sorted(devices, key=lambda d: (d.get("backend", ""), -d.get("score", 0), d.get("variant", ""))):
        if "problem" in d:
            status = f"not usable: {d['problem']}"
        else:
            gib = 1024 ** 3
            status = "; ".join(f"{x.get('id', '?')}: {x.get('name', '?')}"
                               f"{' (emulated on the CPU)' if x.get('emulated') else ''}, "
                               f"{x.get('memory_free', 0) / gib:.1f} of {x.get('memory_total', 0) / gib:.1f} GiB free, "
                               f"weights {' '.join(x.get('supports', [])) or 'none'}"
                               for x in d.get("devices", []))
        # A refused plugin's variant comes from its file name, which may have none (libllm4all-cuda.so).
        name = "-".join(filter(None, (d.get("backend", "?"), d.get("variant"))))
        rows.append(("*" if d.get("selected") else " ", name, d.get("score", 0), status or "no devices"))
    if not rows:
        return ("no backend plugins (llm4all-*.dll) found\n" if sys.platform == "win32"
                else "no backend plugins (libllm4all-*.so) found\n")
    w = max(len("plugin"), *(len(r[1]) for r in rows))
    lines = [f"  {'plugin':<{w}}  score  devices"]
    lines += [f"{mark} {name:<{w}}  {score:>5}  {status}" for mark, name, score, status in rows]
    forced = _forced_cpu_variant()
    lines.append("* runs: the highest score per backend" +
                 (f" (here forced by LLM4ALL_CPU_VARIANT={forced})" if forced else
                  "; LLM4ALL_CPU_VARIANT=<variant> forces a CPU variant"))
    dirs = sorted({os.path.dirname(d.get("plugin", "")) for d in devices})
    lines.append(f"plugins from: {', '.join(dirs)}")
    return "\n".join(lines) + "\n"


def cmd_devices(args: argparse.Namespace) -> int:
    from . import _core
    devices = json.loads(_core.devices_json())
    _write(json.dumps(devices, indent=1) + "\n" if args.json else format_devices(devices))
    forced = _forced_cpu_variant()
    if forced and not any(d.get("backend") == "cpu" and d.get("selected") for d in devices):
        # Same words as the engine's refusal when a model is loaded.
        cpu = [d for d in devices if d.get("backend") == "cpu"]
        mine = [d for d in cpu if d.get("variant") == forced]
        if mine:
            why = f"cpu-{forced} cannot run here: {mine[0].get('problem', 'unknown reason')}"
        else:
            found = ", ".join(d.get("variant", "?") for d in cpu) or "none"
            why = f"there is no CPU variant named \"{forced}\"; the CPU variants found are {found}"
        raise RuntimeError(f"LLM4ALL_CPU_VARIANT={forced}: {why}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .convert.command import run
    _write(f"{run(args)}\n")
    return 0


# ---- quantize ----------------------------------------------------------------------------------

def cmd_quantize(args: argparse.Namespace) -> int:
    import time
    from .catalog import _Progress
    from .quant import quantize
    src = str(resolve_model(args.input))
    size_in = os.path.getsize(src)
    bar = _Progress(size_in, f"{os.path.basename(src)} -> {args.type.upper()}", not args.quiet)

    def on_progress(done: int, total: int, tensor: str) -> None:
        bar.total = total
        bar.update(done - bar.done)

    start = time.monotonic()
    try:
        quantize(src, args.output, args.type, n_threads=args.threads or 0,
                 allow_requantize=args.allow_requantize, pure=args.pure, output_type=args.output_type,
                 token_embedding_type=args.token_embedding_type, progress=on_progress)
    finally:
        bar.close()
    size_out = os.path.getsize(args.output)
    if not args.quiet:
        print(f"{src}: {size_in / 1e6:.1f} MB -> {args.output}: {size_out / 1e6:.1f} MB "
              f"({args.type.upper()}, {100 * size_out / size_in:.1f}%) in {time.monotonic() - start:.1f} s",
              file=sys.stderr)
    _write(f"{args.output}\n")
    return 0


# ---- parser ------------------------------------------------------------------------------------

def _model_args(p: argparse.ArgumentParser, ctx_size: int = 2048) -> None:
    p.add_argument("-t", "--threads", type=int, default=None, help="CPU threads (default: physical cores)")
    p.add_argument("-c", "--ctx-size", "--n-ctx", type=int, default=ctx_size,
                   help=f"context size in tokens (default {ctx_size})")
    p.add_argument("-b", "--batch-size", type=int, default=512, help="prompt tokens per decode step")
    device_args(p)
    skip_memory_check_arg(p)
    lora_arg(p)


def device_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto",
                   help='auto (the best GPU, else the CPU), cpu, gpu, vulkan, cuda, metal, KIND:N (e.g. vulkan:1) '
                        'or a device name from `llm4all devices` (default auto)')
    p.add_argument("-ngl", "--gpu-layers", "--n-gpu-layers", dest="gpu_layers", type=int, default=-1,
                   help="layers on the GPU, counted from the last; -1 = all that fit (default), 0 = CPU only")


def skip_memory_check_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--skip-memory-check", action="store_true",
                   help="load even when the memory estimate (llm4all info MODEL) exceeds the memory available")


def lora_arg(p: argparse.ArgumentParser) -> None:
    """--lora FILE[:SCALE], repeatable: LoRA adapters (llama.cpp GGUF) applied at load."""
    from .lora import parse_lora_flag
    p.add_argument("--lora", type=parse_lora_flag, action="append", default=[], metavar="FILE[:SCALE]",
                   help="LoRA adapter GGUF applied to the model, scale 1 unless given (may be repeated)")


def _sampling_args(p: argparse.ArgumentParser) -> None:
    from .sampling import DEFAULTS as d
    p.add_argument("-n", "--max-tokens", type=int, default=None, help=f"default {d['max_tokens']}")
    p.add_argument("--temp", type=float, default=None, help=f"temperature; 0 = greedy (default {d['temp']:g})")
    p.add_argument("--top-k", type=int, default=None, help=f"default {d['top_k']}")
    p.add_argument("--top-p", type=float, default=None, help=f"default {d['top_p']:g}")
    p.add_argument("--min-p", type=float, default=None, help=f"default {d['min_p']:g}")
    p.add_argument("--repeat-penalty", type=float, default=None, help=f"1 = off (default {d['repeat_penalty']:g})")
    p.add_argument("--repeat-last-n", type=int, default=None, help=f"default {d['repeat_last_n']}")
    p.add_argument("--seed", type=int, default=None, help="-1 or absent: random")
    p.add_argument("--stop", action="append", default=None, metavar="TEXT",
                   help="stop before this text (may be given several times)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="Run open large language models from GGUF files.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("--offline", action="store_true",
                        help="never touch the network (as LLM4ALL_OFFLINE=1): use cached models only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("run", help="continue a prompt, streaming the text")
    p.add_argument("model", help=f"a .gguf file or a catalogue name ({', '.join(CATALOG)})")
    p.add_argument("prompt", nargs="?", default=None, help="the text to continue (absent or -: read stdin)")
    _sampling_args(p)
    p.add_argument("--echo", action="store_true", help="print the prompt before the continuation")
    p.add_argument("-q", "--quiet", action="store_true", help="no timing line on stderr")
    _model_args(p)
    p.set_defaults(func=cmd_run)

    from .commands import chat as chat_command
    chat_command.add_parser(sub, _model_args, _sampling_args)

    from .commands import serve as serve_command
    serve_command.add_parser(sub)

    from .commands import app as app_command
    app_command.add_parser(sub)

    from .commands import embed as embed_command
    embed_command.add_parser(sub)

    from .commands import docs as docs_command
    docs_command.add_parser(sub)

    p = sub.add_parser("info", help="describe a GGUF model file and estimate its memory")
    p.add_argument("model")
    p.add_argument("--json", action="store_true", help="print the full description as JSON")
    p.add_argument("-c", "--n-ctx", "--ctx-size", dest="n_ctx", type=int, default=2048,
                   help="context of the memory estimate, in tokens (default 2048, as run and Model)")
    p.add_argument("-b", "--batch-size", type=int, default=512, help="prompt tokens per decode step (default 512)")
    p.add_argument("--kv-type", default="f16", choices=("f16", "f32"), help="KV cache element type (default f16)")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("perplexity", help="perplexity of a text file (llama-perplexity method)")
    p.add_argument("model")
    p.add_argument("file")
    p.add_argument("--chunks", type=int, default=None, help="score only the first N chunks")
    _model_args(p, ctx_size=512)
    p.set_defaults(func=cmd_perplexity)

    p = sub.add_parser("pull", help="fetch catalogue models (or a direct .gguf link) into the cache")
    p.add_argument("name", nargs="+", type=_pull_target, help=f"a catalogue name ({', '.join(sorted(CATALOG))}) or an http(s) "
                   "link to a .gguf file")
    p.add_argument("--sha256", default=None, metavar="HEX", help="with a link: the file's sha256, checked "
                   "before it is saved")
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="give up on a silent connection "
                   "after S seconds and resume (default $LLM4ALL_DOWNLOAD_TIMEOUT or 30)")
    p.add_argument("--retries", type=int, default=None, metavar="N", help="failures in a row per source before "
                   "the next one (default $LLM4ALL_DOWNLOAD_RETRIES or 5)")
    p.add_argument("--force", action="store_true", help="fetch again even if cached")
    p.add_argument("--cache-dir", default=None, help="default: $LLM4ALL_CACHE or ~/.cache/llm4all/models")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_pull)

    from .commands import models as models_command  # list, rm, search
    models_command.add_parser(sub)

    p = sub.add_parser("devices", help="list backend plugins and devices, and which one runs")
    p.add_argument("--json", action="store_true", help="print the engine's JSON description")
    p.set_defaults(func=cmd_devices)

    from .convert.command import add_arguments as convert_arguments
    p = sub.add_parser("convert", help="convert a Hugging Face model folder to GGUF (needs llm4all[convert])")
    convert_arguments(p)
    p.set_defaults(func=cmd_convert)

    from .quant import TENSOR_TYPES, TYPES
    p = sub.add_parser("quantize", help="quantize a GGUF file to a llama.cpp type mix (Q4_K_M, Q8_0, ...)")
    p.add_argument("input", help="a .gguf file (F32/F16/BF16 weights) or a catalogue name")
    p.add_argument("output", help="the .gguf file to write (replaced only once complete)")
    p.add_argument("type", help=f"one of {', '.join(TYPES)} (case-insensitive)")
    p.add_argument("-t", "--threads", type=int, default=None, help="threads (default: every core)")
    p.add_argument("--allow-requantize", action="store_true",
                   help="accept an input that is already quantized (loses more quality)")
    p.add_argument("--pure", action="store_true", help="every weight gets the base type, no per-tensor upgrades")
    p.add_argument("--output-type", default=None, metavar="T",
                   help=f"type of output.weight ({', '.join(TENSOR_TYPES)})")
    p.add_argument("--token-embedding-type", default=None, metavar="T", help="type of token_embd.weight")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or size line")
    p.set_defaults(func=cmd_quantize)

    from .bench import add_parser as bench_parser
    bench_parser(sub)

    from .commands import eval as eval_command
    eval_command.add_parser(sub)
    # --offline is read before or after the command (`llm4all pull NAME --offline` too);
    # SUPPRESS keeps a command's parser from resetting the value given before it.
    for command in sub.choices.values():
        command.add_argument("--offline", action="store_true", default=argparse.SUPPRESS,
                             help="never touch the network (as LLM4ALL_OFFLINE=1)")
    return parser


def _one_line(e: BaseException) -> str:
    msg = str(e) or type(e).__name__
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        msg = f"{e.filename}: {e.strerror}"
    return " ".join(msg.split("\n"))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `run MODEL -n 8 "text"`: argparse passes the optional prompt by when options come
    # between it and the model, and leaves the text over; it is the prompt.
    if len(extra) == 1 and not extra[0].startswith("-") and getattr(args, "prompt", "") is None:
        args.prompt, extra = extra[0], []
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.offline:
        os.environ["LLM4ALL_OFFLINE"] = "1"  # read by llm4all.download and llm4all.catalog
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a message.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    except Exception as e:  # every failure becomes one clean line
        if os.environ.get("LLM4ALL_DEBUG"):
            import traceback
            traceback.print_exc()
        print(f"{PROG}: error: {_one_line(e)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
