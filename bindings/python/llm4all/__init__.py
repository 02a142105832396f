"""llm4all — run open large language models from GGUF files on the machine you have.

    from llm4all import Model
    m = Model("smollm2")                  # a catalogue name (fetched once) or a .gguf path
    print(m.generate("The capital of France is", max_tokens=20, temp=0))
"""

from ._core import Error, version as _core_version
from .catalog import CATALOG, PullError, pull
from .chat_template import TemplateError, render_chat_template
from .chat import ChatSession
from .memory import estimate_memory
from .model import Model, PerplexityResult
from .quant import quantize

# The core library's llm4all_version(): the one version number (CMakeLists.txt project()),
# so the package, the CLI and the C ABI cannot disagree.
__version__ = _core_version()

__all__ = ["Model", "ChatSession", "Error", "PullError", "PerplexityResult", "pull", "quantize", "render_chat_template", "TemplateError", "CATALOG", "estimate_memory", "__version__"]
