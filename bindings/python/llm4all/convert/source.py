"""Reading a Hugging Face checkpoint folder: config.json and the safetensors weights.

Weights are indexed from the file headers only (names, shapes, dtypes) and loaded one
tensor at a time when the writer needs them, so converting never holds more than one
tensor in memory. Single files and shards (model.safetensors.index.json) are both read.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .errors import ConvertError

# safetensors dtype name -> numpy dtype (BF16 has none: it is widened by hand).
_NP_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
              "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def read_json(path: Path, what: Optional[str] = None) -> Any:
    """A JSON file's contents, or a one-line ConvertError saying what is wrong with it."""
    what = what or path.name
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ConvertError(f"{what} not found in {path.parent}") from None
    except json.JSONDecodeError as e:
        raise ConvertError(f"{path}: invalid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except UnicodeDecodeError:
        raise ConvertError(f"{path}: not UTF-8 text") from None
    except OSError as e:
        raise ConvertError(f"{path}: {e.strerror or e}") from None


class TensorEntry:
    """Where one checkpoint tensor lives, and what its header says about it."""

    __slots__ = ("name", "file", "dtype", "shape", "begin", "end")

    def __init__(self, name: str, file: Path, dtype: str, shape: List[int], begin: int, end: int) -> None:
        self.name, self.file, self.dtype, self.shape, self.begin, self.end = name, file, dtype, shape, begin, end


def _read_header(path: Path) -> Tuple[Dict[str, Any], int]:
    """The JSON header of a safetensors file and the offset where its data starts, after
    checking (as the safetensors package does) that every tensor lies inside the file."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                raise ConvertError(f"{path}: truncated safetensors file (no header)")
            (n,) = struct.unpack("<Q", raw)
            if n > size - 8 or n > 100 * 2**20:
                raise ConvertError(f"{path}: truncated or corrupt safetensors file (header length {n} "
                                   f"but the file has {size} bytes)")
            header = json.loads(f.read(n).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ConvertError(f"{path}: corrupt safetensors header (not JSON)") from None
    except OSError as e:
        raise ConvertError(f"{path}: {e.strerror or e}") from None
    if not isinstance(header, dict):
        raise ConvertError(f"{path}: corrupt safetensors header")
    start = 8 + n
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            b, e = (int(x) for x in info["data_offsets"])
            dtype, shape = str(info["dtype"]), [int(d) for d in info["shape"]]
        except (KeyError, TypeError, ValueError):
            raise ConvertError(f"{path}: corrupt safetensors header entry for {name!r}") from None
        if not 0 <= b <= e or start + e > size:
            raise ConvertError(f"{path}: truncated safetensors file ({name!r} ends at byte {start + e}, "
                               f"the file has {size})")
    return header, start


class CheckpointSource:
    """The config and the tensor index of a Hugging Face model folder."""

    def __init__(self, folder: os.PathLike) -> None:
        self.dir = Path(folder)
        if not self.dir.is_dir():
            raise ConvertError(f"{self.dir}: not a directory")
        self.config: Dict[str, Any] = read_json(self.dir / "config.json")
        if not isinstance(self.config, dict):
            raise ConvertError(f"{self.dir / 'config.json'}: expected a JSON object")
        self.tensors: Dict[str, TensorEntry] = {}
        self._index()

    def _files(self) -> List[Path]:
        index = self.dir / "model.safetensors.index.json"
        if index.is_file():
            data = read_json(index)
            weight_map = data.get("weight_map") if isinstance(data, dict) else None
            if not isinstance(weight_map, dict) or not weight_map:
                raise ConvertError(f"{index}: no weight_map")
            files = sorted(set(str(v) for v in weight_map.values()))
            for f in files:
                if not (self.dir / f).is_file():
                    raise ConvertError(f"{self.dir / f}: shard listed in {index.name} is missing")
            self._expected = set(weight_map)
            return [self.dir / f for f in files]
        self._expected = None
        single = self.dir / "model.safetensors"
        if single.is_file():
            return [single]
        found = sorted(self.dir.glob("model-*.safetensors"))
        if found:
            return found
        if any(self.dir.glob("*.bin")) or any(self.dir.glob("*.pth")):
            raise ConvertError(f"{self.dir}: only PyTorch pickle weights found; save the model with "
                               "safe_serialization=True (safetensors) first")
        raise ConvertError(f"{self.dir}: no model.safetensors (or shards with model.safetensors.index.json)")

    def _index(self) -> None:
        for path in self._files():
            self.add_file(path, "")
        if self._expected is not None:
            missing = sorted(self._expected - set(self.tensors))
            if missing:
                raise ConvertError(f"tensor {missing[0]!r} is listed in model.safetensors.index.json but is in "
                                   f"no shard ({len(missing)} missing)")

    def add_file(self, path: Path, prefix: str) -> List[str]:
        """Indexes the tensors of a further safetensors file (e.g. a sentence-transformers
        module beside the model) under prefix + their name; returns those names."""
        header, start = _read_header(path)
        names = []
        for name, info in header.items():
            if name == "__metadata__":
                continue
            b, e = info["data_offsets"]
            self.tensors[prefix + name] = TensorEntry(prefix + name, path, info["dtype"], list(info["shape"]),
                                                      start + b, start + e)
            names.append(prefix + name)
        return names

    def load(self, name: str) -> np.ndarray:
        """One tensor as float32 (any float dtype) in its checkpoint shape."""
        t = self.tensors[name]
        n = int(np.prod(t.shape, dtype=np.int64)) if t.shape else 1
        if t.dtype == "BF16":
            width, np_dtype = 2, np.uint16
        elif t.dtype in _NP_DTYPES:
            np_dtype = _NP_DTYPES[t.dtype]
            width = np.dtype(np_dtype).itemsize
        else:
            raise ConvertError(f"tensor {name!r} has dtype {t.dtype}, which the converter cannot read")
        if (t.end - t.begin) != n * width:
            raise ConvertError(f"tensor {name!r} in {t.file.name}: {t.end - t.begin} bytes for shape {t.shape} "
                               f"of {t.dtype}")
        buf = np.empty(n, dtype=np_dtype)
        try:
            with open(t.file, "rb") as f:
                f.seek(t.begin)
                got = f.readinto(memoryview(buf).cast("B"))
        except OSError as e:
            raise ConvertError(f"{t.file}: {e.strerror or e}") from None
        if got != n * width:
            raise ConvertError(f"{t.file}: truncated while reading tensor {name!r}")
        if t.dtype == "BF16":
            # bfloat16 is the top half of a float32: widen exactly.
            out = (buf.astype(np.uint32) << 16).view(np.float32)
        else:
            out = buf.astype(np.float32, copy=False)
        return out.reshape(t.shape)
