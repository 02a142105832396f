"""llm4all_cuda — holds the CUDA backend plugin (libllm4all-cuda*.so) of the llm4all-cuda wheel.

Nothing to import: the core finds the plugin in this folder on its own (it searches the
llm4all_* folders beside site-packages/llm4all/). `llm4all devices` shows whether it loaded.
"""
