"""Hugging Face checkpoint folders -> GGUF files that llama.cpp and llm4all both run.

    from llm4all.convert import convert
    convert("path/to/hf-folder", "model.gguf", outtype="q8_0")

Also `llm4all convert DIR -o OUT.gguf` and tools/convert.py. Needs the `convert` extra
(gguf, numpy). One converter class per architecture lives in archs/.
"""

from .errors import ConvertError

_FROM_BASE = {"OUTTYPES", "REGISTRY", "ModelConverter", "convert", "register", "supported_architectures"}


def __getattr__(name):
    # gguf and numpy load only when conversion is really used, so that every
    # `llm4all` command does not pay for them (numpy starts BLAS threads).
    if name in _FROM_BASE:
        from . import base
        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["convert", "ConvertError", "supported_architectures", "OUTTYPES", "ModelConverter", "register",
           "REGISTRY"]
