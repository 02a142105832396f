"""One module per architecture; importing this package registers them all."""

from . import bert, gemma, gemma2, gemma3, llama, phi3, qwen2, qwen3  # noqa: F401
