"""Hugging Face checkpoint folders -> GGUF files that llama.cpp and llm4all both run.

    from llm4all.convert import convert
    convert("path/to/hf-folder", "model.gguf", outtype="q8_0")

Also `llm4all convert DIR -o OUT.gguf` and tools/convert.py. Needs the `convert` extra
(gguf, numpy). One converter class per architecture lives in archs/.
"""

from .base import OUTTYPES, REGISTRY, ModelConverter, convert, register, supported_architectures
from .errors import ConvertError

__all__ = ["convert", "ConvertError", "supported_architectures", "OUTTYPES", "ModelConverter", "register",
           "REGISTRY"]
