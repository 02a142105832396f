"""The conversion pipeline shared by every architecture: plan, write, replace.

A converter class per architecture (registered by its Hugging Face architecture name)
says which GGUF name each checkpoint tensor gets, how its data changes (Q/K row
permutation, Gemma's norm + 1), and which metadata keys describe it. This base class
plans every output tensor from the safetensors headers alone, writes the GGUF header,
then streams the tensors one by one (load, transform, convert, write) into
OUT.partial-<pid>, and renames that over OUT only when everything succeeded.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Type

import gguf
import numpy as np

from .errors import ConvertError
from .source import CheckpointSource

QT = gguf.GGMLQuantizationType
FT = gguf.LlamaFileType

# --outtype -> (GGUF file type, storage type of the 2-D weights)
OUTTYPES = {
    "f32": (FT.ALL_F32, QT.F32),
    "f16": (FT.MOSTLY_F16, QT.F16),
    "bf16": (FT.MOSTLY_BF16, QT.BF16),
    "q8_0": (FT.MOSTLY_Q8_0, QT.Q8_0),
    "q4_0": (FT.MOSTLY_Q4_0, QT.Q4_0),
}

REGISTRY: Dict[str, Type["ModelConverter"]] = {}


def register(*hf_names: str) -> Callable[[Type["ModelConverter"]], Type["ModelConverter"]]:
    def deco(cls: Type["ModelConverter"]) -> Type["ModelConverter"]:
        for n in hf_names:
            REGISTRY[n] = cls
        return cls
    return deco


class Planned:
    """One output tensor: its GGUF name, where its data comes from, and how it is stored."""

    __slots__ = ("gguf_name", "hf_name", "shape", "qtype", "nbytes", "data")

    def __init__(self, gguf_name: str, hf_name: str, shape: Tuple[int, ...], qtype: QT,
                 data: Optional[np.ndarray] = None) -> None:
        self.gguf_name, self.hf_name, self.shape, self.qtype = gguf_name, hf_name, shape, qtype
        self.data = data  # for tensors computed by the converter rather than read
        block, type_size = gguf.GGML_QUANT_SIZES[qtype]
        n = int(np.prod(shape, dtype=np.int64))
        self.nbytes = n // block * type_size


class Progress:
    """A one-line progress bar on stderr (only when asked for)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done, self.enabled = max(total, 1), 0, enabled
        self.t0 = time.monotonic()
        self.last = 0.0

    def update(self, nbytes: int, label: str) -> None:
        self.done += nbytes
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.1 and self.done < self.total:
            return
        self.last = now
        frac = self.done / self.total
        bar = "#" * int(frac * 30)
        sys.stderr.write(f"\rconvert [{bar:<30}] {frac * 100:5.1f}% {self.done / 1e6:8.1f} MB  {label[:40]:<40}")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write(f"\n{self.done / 1e6:.1f} MB written in {time.monotonic() - self.t0:.1f} s\n")
            sys.stderr.flush()


class ModelConverter:
    """Base of the per-architecture converters. Subclasses set `arch` (the GGUF
    architecture name) and implement tensor_name(), set_parameters() and vocab()."""

    arch: str = ""

    def __init__(self, source: CheckpointSource, outtype: str = "f16", pre: Optional[str] = None) -> None:
        if outtype not in OUTTYPES:
            raise ConvertError(f"unknown output type {outtype!r} (choose from {', '.join(OUTTYPES)})")
        self.src = source
        self.hp: Dict[str, Any] = source.config
        self.outtype = outtype
        self.file_type, self.wtype = OUTTYPES[outtype]
        self.pre = pre

    # ---- hyperparameters ---------------------------------------------------------------

    def need(self, *keys: str) -> Any:
        """The first of keys in config.json; a clear error when none is there."""
        for k in keys:
            if self.hp.get(k) is not None:
                return self.hp[k]
        raise ConvertError(f"config.json: missing {keys[0]!r}")

    def rope_theta(self, default: Optional[float] = None, layer_type: str = "full_attention") -> Optional[float]:
        """rope_theta from a transformers 4.x config (top level) or a 5.x one
        (rope_parameters, possibly one set per attention layer type)."""
        if self.hp.get("rope_theta") is not None:
            return float(self.hp["rope_theta"])
        rp = self.hp.get("rope_parameters")
        if isinstance(rp, dict):
            if isinstance(rp.get(layer_type), dict):
                rp = rp[layer_type]
            if rp.get("rope_theta") is not None:
                return float(rp["rope_theta"])
        return default

    def rope_scaling(self) -> Optional[Dict[str, Any]]:
        """The rope scaling dict (rope_scaling in 4.x, rope_parameters in 5.x), None for
        plain RoPE."""
        rs = self.hp.get("rope_scaling")
        if not isinstance(rs, dict):
            rs = self.hp.get("rope_parameters")
            if isinstance(rs, dict) and isinstance(rs.get("full_attention"), dict):
                rs = rs["full_attention"]
        if not isinstance(rs, dict):
            return None
        kind = rs.get("rope_type", rs.get("type", "default"))
        return None if kind in (None, "default") else dict(rs, rope_type=kind)

    # ---- per-architecture hooks ----------------------------------------------------------

    def tensor_name(self, hf_name: str) -> Optional[str]:
        """GGUF name of a checkpoint tensor; None to drop it. Raise for unknown tensors."""
        raise NotImplementedError

    def expected_tensors(self) -> List[str]:
        """GGUF names that a complete checkpoint must give (checked before writing)."""
        return []

    def transform(self, gguf_name: str, data: np.ndarray) -> np.ndarray:
        """Changes the data on its way (permutations, offsets); identity by default."""
        return data

    def extra_tensors(self) -> Dict[str, np.ndarray]:
        """Tensors the converter computes (e.g. rope frequency factors), by GGUF name."""
        return {}

    def out_shape(self, gguf_name: str, shape: Tuple[int, ...]) -> Tuple[int, ...]:
        return shape

    def set_parameters(self, w: gguf.GGUFWriter) -> None:
        raise NotImplementedError

    def vocab(self):
        raise NotImplementedError

    def force_f32(self, gguf_name: str) -> bool:
        """Tensors llama.cpp always keeps in F32 whatever the output type."""
        return False

    # ---- planning ------------------------------------------------------------------------

    def storage_type(self, name: str, shape: Tuple[int, ...]) -> QT:
        """As llama.cpp's converter: vectors, norms, biases and a few small tables stay F32;
        the rest takes the output type, falling back to F16 where rows do not fill whole
        quantization blocks. For q4_0 the output projection (or the tied embedding that
        serves as it) gets Q8_0, since it matters most to quality (llama-quantize keeps it
        at a higher precision too)."""
        if len(shape) <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight") or self.force_f32(name):
            return QT.F32
        qt = self.wtype
        if qt == QT.Q4_0 and name in ("output.weight", self.output_fallback_name()):
            qt = QT.Q8_0
        block = gguf.GGML_QUANT_SIZES[qt][0]
        if shape[-1] % block != 0:
            qt = QT.F16
        return qt

    def output_fallback_name(self) -> str:
        """The tensor that serves as the output projection when output.weight is absent."""
        return "token_embd.weight" if self.tied() else "output.weight"

    def tied(self) -> bool:
        return bool(self.hp.get("tie_word_embeddings", False)) or "lm_head.weight" not in self.src.tensors

    def plan(self) -> List[Planned]:
        out: List[Planned] = []
        seen: Dict[str, str] = {}
        for hf_name, entry in self.src.tensors.items():
            name = self.tensor_name(hf_name)
            if name is None:
                continue
            if name in seen:
                raise ConvertError(f"tensors {seen[name]!r} and {hf_name!r} both map to {name!r}")
            seen[name] = hf_name
            shape = self.out_shape(name, tuple(entry.shape))
            out.append(Planned(name, hf_name, shape, self.storage_type(name, shape)))
        for name, arr in self.extra_tensors().items():
            arr = np.ascontiguousarray(arr, dtype=np.float32)
            out.append(Planned(name, name, arr.shape, self.storage_type(name, arr.shape), data=arr))
        missing = [n for n in self.expected_tensors() if n not in seen]
        if missing:
            raise ConvertError(f"checkpoint is missing tensor {missing[0]!r} ({len(missing)} missing in all)")
        return out

    # ---- writing -------------------------------------------------------------------------

    def general(self, w: gguf.GGUFWriter) -> None:
        name = self.hp.get("_name_or_path") or self.src.dir.name
        w.add_type("model")
        w.add_name(str(name).rstrip("/").split("/")[-1] or self.src.dir.name)
        w.add_quantization_version(gguf.GGML_QUANT_VERSION)
        w.add_file_type(int(self.file_type))

    def encode(self, p: Planned, data: np.ndarray) -> np.ndarray:
        data = np.ascontiguousarray(data, dtype=np.float32)
        if data.shape != p.shape:
            raise ConvertError(f"tensor {p.hf_name!r}: shape {data.shape} after conversion, expected {p.shape}")
        if p.qtype == QT.F32:
            return data
        if p.qtype == QT.F16:
            return data.astype(np.float16)
        return gguf.quants.quantize(data, p.qtype)

    def write(self, out: Path, progress: bool = False) -> List[Planned]:
        planned = self.plan()
        vocab = self.vocab()
        w = gguf.GGUFWriter(None, self.arch)
        self.general(w)
        self.set_parameters(w)
        vocab.write(w, self.src.dir)
        for p in planned:
            w.add_tensor_info(p.gguf_name, p.shape, np.dtype(np.float32), p.nbytes, raw_dtype=p.qtype)
        bar = Progress(sum(p.nbytes for p in planned), progress)
        w.write_header_to_file(path=out)
        try:
            w.write_kv_data_to_file()
            w.write_ti_data_to_file()
            for p in planned:
                if p.data is not None:
                    data = p.data
                else:
                    data = self.transform(p.gguf_name, self.src.load(p.hf_name))
                enc = self.encode(p, data)
                del data
                w.write_tensor_data(enc)
                bar.update(p.nbytes, p.gguf_name)
                del enc
            w.flush()
            assert w.fout is not None
            for f in w.fout:
                os.fsync(f.fileno())
        finally:
            w.close()
        bar.finish()
        return planned


def convert(model_dir: os.PathLike, out: os.PathLike, outtype: str = "f16", progress: bool = False,
            pre: Optional[str] = None) -> Path:
    """Converts the Hugging Face folder model_dir to the GGUF file out. The file appears
    only when conversion succeeded (it is written beside it under a temporary name)."""
    from . import archs  # noqa: F401  (registers the architectures)
    src = CheckpointSource(model_dir)
    names = src.config.get("architectures") or []
    if not isinstance(names, list) or not names:
        raise ConvertError(f"{src.dir / 'config.json'}: no 'architectures' list")
    cls = next((REGISTRY[n] for n in names if n in REGISTRY), None)
    if cls is None:
        raise ConvertError(f"architecture {names[0]!r} is not supported; supported: {', '.join(sorted(REGISTRY))}")
    conv = cls(src, outtype, pre=pre)
    # gguf.SpecialVocab logs harmless notes (e.g. about pair templates) as warnings.
    logging.getLogger("gguf").setLevel(logging.ERROR)
    out = Path(out)
    if out.is_dir():
        raise ConvertError(f"{out}: is a directory")
    partial = out.with_name(f"{out.name}.partial-{os.getpid()}")
    try:
        conv.write(partial, progress=progress)
        os.replace(partial, out)
    except BaseException as e:
        try:
            partial.unlink()
        except FileNotFoundError:
            pass
        if isinstance(e, OSError) and not isinstance(e, ConvertError):
            raise ConvertError(f"{e.filename or out}: {e.strerror or e}") from None
        raise
    return out


def supported_architectures() -> List[str]:
    from . import archs  # noqa: F401
    return sorted(REGISTRY)
