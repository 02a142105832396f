"""`tools/train.py export`: a PEFT LoRA adapter folder -> llama.cpp's adapter GGUF
(general.type "adapter", adapter.type "lora", adapter.lora.alpha, "<weight>.lora_a"
[n_in, r] and "<weight>.lora_b" [r, n_out]), or with --merge a full model with the
adapter folded in, converted by `llm4all convert`. Weight names, and the row order
llama.cpp wants for Q/K, come from llm4all's converter for the base architecture."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

_KEY = re.compile(r"^(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.[A-Za-z0-9_]+)?\.weight$")


class ExportError(Exception):
    pass


def _base_path(adapter_dir: Path, base: Optional[str]) -> str:
    if not (adapter_dir / "adapter_config.json").is_file():
        raise ExportError(f"{adapter_dir}: adapter_config.json is missing (not a PEFT adapter folder?)")
    if base:
        return base
    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    b = cfg.get("base_model_name_or_path")
    if not b:
        raise ExportError(f"{adapter_dir}/adapter_config.json names no base model: pass --base")
    return str(b)


class _ConfigSource:
    """What the converter reads of a checkpoint, when the base is a GGUF file: its
    config (saved by train.py as base_config.json) and the tensor names."""

    def __init__(self, config: Dict[str, Any], names: Sequence[str], folder: Path) -> None:
        self.config = config
        self.tensors = {n: None for n in names}
        self.dir = folder


def converter_for(adapter_dir: Path, base: str) -> Any:
    """llm4all's converter object for the base model (names, Q/K row order)."""
    try:
        from llm4all.convert.base import REGISTRY
        from llm4all.convert import archs  # noqa: F401  (registers the architectures)
        from llm4all.convert.source import CheckpointSource
    except ImportError as e:
        raise ExportError(f"export needs the llm4all package with its converter (pip install 'llm4all[convert]'): {e}")
    if base.endswith(".gguf") or (not Path(base, "config.json").is_file() and (adapter_dir / "base_config.json").is_file()):
        cfg_path = adapter_dir / "base_config.json"
        if not cfg_path.is_file():
            raise ExportError(f"{adapter_dir}: the base is a GGUF file but base_config.json is missing")
        config = json.loads(cfg_path.read_text())
        names = [] if config.get("tie_word_embeddings") else ["lm_head.weight"]
        src: Any = _ConfigSource(config, names, adapter_dir)
    else:
        if not Path(base, "config.json").is_file():
            raise ExportError(f"base model {base!r} is not a Hugging Face folder with config.json (pass --base)")
        src = CheckpointSource(base)
    arch_names = src.config.get("architectures") or []
    if not arch_names and src.config.get("model_type"):   # configs transformers made from a GGUF file
        mt = str(src.config["model_type"]).replace("_", "").lower()
        arch_names = [n for n in REGISTRY if n.lower() == mt + "forcausallm"]
    cls = next((REGISTRY[n] for n in arch_names if n in REGISTRY), None)
    if cls is None:
        raise ExportError(f"base architecture {arch_names!r} is not one llm4all converts")
    return cls(src, "f32")


def adapter_tensors(adapter_dir: Path, conv: Any) -> Dict[str, Tuple[Any, Any]]:
    """GGUF weight name -> (A [r, n_in], B [n_out, r]) as float32 arrays, B in GGUF row order."""
    import numpy as np
    from safetensors.numpy import load_file
    f = adapter_dir / "adapter_model.safetensors"
    if not f.is_file():
        raise ExportError(f"{adapter_dir}: adapter_model.safetensors is missing (not a PEFT adapter folder?)")
    raw = load_file(str(f))
    pairs: Dict[str, Dict[str, Any]] = {}
    for key, arr in raw.items():
        m = _KEY.match(key)
        if not m:
            raise ExportError(f"adapter tensor {key!r} is not a LoRA A/B matrix (embedding or DoRA adapters "
                              "are not supported)")
        pairs.setdefault(m.group(1) + ".weight", {})[m.group(2)] = np.asarray(arr, dtype=np.float32)
    out: Dict[str, Tuple[Any, Any]] = {}
    for hf_name, ab in sorted(pairs.items()):
        if set(ab) != {"A", "B"}:
            raise ExportError(f"adapter weight {hf_name!r} lacks its lora_A or lora_B")
        name = conv.tensor_name(hf_name)
        if name is None or name == "token_embd.weight":
            raise ExportError(f"adapter weight {hf_name!r} has no own matrix in the GGUF model (tied or embedding)")
        a, b = ab["A"], ab["B"]
        if a.shape[0] != b.shape[1]:
            raise ExportError(f"{hf_name}: lora_A rank {a.shape[0]} differs from lora_B rank {b.shape[1]}")
        out[name] = (a, np.ascontiguousarray(conv.transform(name, b), dtype=np.float32))
    if not out:
        raise ExportError(f"{adapter_dir}: the adapter holds no tensors")
    return out


def lora_alpha(adapter_dir: Path) -> float:
    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    if cfg.get("peft_type", "LORA") != "LORA":
        raise ExportError(f"{adapter_dir}: peft_type {cfg.get('peft_type')!r} is not LORA")
    if cfg.get("use_dora"):
        raise ExportError(f"{adapter_dir}: DoRA adapters are not supported")
    if cfg.get("rank_pattern") or cfg.get("alpha_pattern"):
        raise ExportError(f"{adapter_dir}: per-module rank_pattern/alpha_pattern is not supported")
    alpha = float(cfg["lora_alpha"])
    if cfg.get("use_rslora"):   # rsLoRA scales by alpha / sqrt(r): the same as alpha * sqrt(r) / r
        alpha *= float(cfg["r"]) ** 0.5
    return alpha


def export_gguf(adapter_dir: os.PathLike, out: os.PathLike, outtype: str = "f32", base: Optional[str] = None) -> Path:
    import gguf
    import numpy as np
    adapter_dir, out = Path(adapter_dir), Path(out)
    conv = converter_for(adapter_dir, _base_path(adapter_dir, base))
    tensors = adapter_tensors(adapter_dir, conv)
    qt = {"f32": gguf.GGMLQuantizationType.F32, "f16": gguf.GGMLQuantizationType.F16,
          "q8_0": gguf.GGMLQuantizationType.Q8_0}[outtype]
    w = gguf.GGUFWriter(str(out), conv.arch)
    w.add_type("adapter")
    w.add_string("adapter.type", "lora")
    w.add_float32("adapter.lora.alpha", lora_alpha(adapter_dir))
    w.add_name(adapter_dir.name)
    for name, (a, b) in tensors.items():
        for suffix, arr in ((".lora_a", a), (".lora_b", b)):
            t = qt
            # Q8_0 needs whole 32-value blocks along a row; such rows fall back to F16 (as llama.cpp's converter).
            if t == gguf.GGMLQuantizationType.Q8_0 and arr.shape[-1] % 32:
                t = gguf.GGMLQuantizationType.F16
            if t == gguf.GGMLQuantizationType.F32:
                w.add_tensor(name + suffix, arr)
            elif t == gguf.GGMLQuantizationType.F16:
                w.add_tensor(name + suffix, arr.astype(np.float16))
            else:
                w.add_tensor(name + suffix, gguf.quants.quantize(arr, t), raw_dtype=t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out


def export_merged(adapter_dir: os.PathLike, out: os.PathLike, outtype: str = "f32", base: Optional[str] = None) -> Path:
    """Folds the adapter into the base weights (peft merge_and_unload) and converts the
    result with llm4all's converter (the code behind `llm4all convert`)."""
    import torch
    from peft import PeftModel
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from train import load_base
    try:
        from llm4all.convert.base import convert
    except ImportError as e:
        raise ExportError(f"--merge needs the llm4all package with its converter: {e}")
    adapter_dir = Path(adapter_dir)
    model, tok = load_base(_base_path(adapter_dir, base), torch.float32)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    with tempfile.TemporaryDirectory(prefix="llm4all-merge-") as tmp:
        merged.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        return Path(convert(tmp, out, outtype=outtype if outtype != "q8_0" else "q8_0"))


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="train.py export", description="PEFT adapter folder -> GGUF.")
    p.add_argument("adapter_dir")
    p.add_argument("-o", "--outfile", required=True)
    p.add_argument("--outtype", default="f32", choices=("f32", "f16", "q8_0"))
    p.add_argument("--base", default=None, help="base model (default: adapter_config.json's)")
    p.add_argument("--merge", action="store_true", help="write the base model with the adapter merged in")
    a = p.parse_args(argv)
    try:
        fn = export_merged if a.merge else export_gguf
        print(fn(a.adapter_dir, a.outfile, a.outtype, a.base))
    except ExportError as e:
        print(f"export: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
