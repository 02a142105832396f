"""One module per architecture; importing this package registers them all."""

from . import bert, gemma3, llama, qwen2  # noqa: F401
