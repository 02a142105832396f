"""LoRA adapters as users name them: ``Model(path, lora=...)`` and the CLI's
``--lora FILE[:SCALE]``, turned into the (path, scale) pairs the core loads
(llm4all_model_options.lora; llama.cpp-format adapter GGUF files)."""

import os
from typing import List, Sequence, Tuple, Union

AdapterSpec = Union[str, "os.PathLike[str]", Tuple[Union[str, "os.PathLike[str]"], float]]


def lora_pairs(lora: Union[None, AdapterSpec, Sequence[AdapterSpec]]) -> List[Tuple[str, float]]:
    """(path, scale) pairs from None, one path, one (path, scale) or a list of either."""
    if lora is None:
        return []
    if isinstance(lora, (str, os.PathLike)) or (isinstance(lora, tuple) and len(lora) == 2
                                                 and isinstance(lora[1], (int, float))):
        lora = [lora]  # type: ignore[list-item]
    pairs = []
    for item in lora:  # type: ignore[union-attr]
        if isinstance(item, (str, os.PathLike)):
            path, scale = item, 1.0
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            path, scale = item
        else:
            raise TypeError(f"lora: expected a path or a (path, scale) pair, got {item!r}")
        if not isinstance(scale, (int, float)) or isinstance(scale, bool):
            raise TypeError(f"lora: the scale of {path!r} must be a number, got {scale!r}")
        pairs.append((os.fspath(path), float(scale)))
    return pairs


def parse_lora_flag(text: str) -> Tuple[str, float]:
    """``FILE[:SCALE]`` -> (FILE, SCALE); a file name that itself holds ':' keeps it
    when what follows the last ':' is not a number."""
    head, sep, tail = text.rpartition(":")
    if sep and head:
        try:
            return head, float(tail)
        except ValueError:
            pass
    return text, 1.0
