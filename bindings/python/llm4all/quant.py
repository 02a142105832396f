"""Quantizing a GGUF file to one of llama.cpp's mixes (``llm4all quantize``).

    import llm4all
    llm4all.quantize("model-f16.gguf", "model-q4_k_m.gguf", "Q4_K_M")

The work happens in the C++ core (per-tensor type rules, threads, atomic output); this module
names the types and draws the progress bar.
"""

from __future__ import annotations

import os
from typing import Callable, Optional, Union

from . import _core

# The mixes llm4all writes, by llama.cpp's names (the core checks them; this is for help text).
TYPES = ("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L",
         "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS")

# Tensor type ids (GGUF's) for --output-type / --token-embedding-type.
TENSOR_TYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8,
                "Q2_K": 10, "Q3_K": 11, "Q4_K": 12, "Q5_K": 13, "Q6_K": 14, "IQ4_NL": 20,
                "IQ4_XS": 23, "BF16": 30}

Progress = Callable[[int, int, str], Optional[bool]]


def tensor_type_id(t: Union[str, int, None]) -> Optional[int]:
    """A tensor type name ("Q8_0", case-insensitive) or id as an id; None stays None."""
    if t is None or isinstance(t, int):
        return t
    try:
        return TENSOR_TYPES[str(t).upper()]
    except KeyError:
        raise ValueError(f"unknown tensor type '{t}'; the types are {', '.join(TENSOR_TYPES)}") from None


def quantize(in_path: Union[str, os.PathLike], out_path: Union[str, os.PathLike], type: str,
             n_threads: int = 0, allow_requantize: bool = False, pure: bool = False,
             output_type: Union[str, int, None] = None, token_embedding_type: Union[str, int, None] = None,
             progress: Optional[Progress] = None) -> None:
    """Writes in_path quantized to the mix `type` (e.g. "Q4_K_M") as out_path.

    Tensors get llama.cpp's per-tensor types for the mix (``pure`` gives every weight the base type);
    ``output_type`` / ``token_embedding_type`` force those two tensors' types. An input that is
    already quantized is refused unless ``allow_requantize``. ``progress(done_bytes, total_bytes,
    tensor_name)`` is called after each tensor; returning False cancels. Raises llm4all.Error;
    out_path is only replaced once the new file is complete.
    """
    _core.quantize(in_path, out_path, type, n_threads=n_threads, allow_requantize=allow_requantize,
                   pure=pure, output_type=tensor_type_id(output_type),
                   token_embedding_type=tensor_type_id(token_embedding_type), progress=progress)
