"""Chat templates: render a model's Jinja chat template as Hugging Face transformers'
apply_chat_template(..., tokenize=False) does. The engine is C++ in the core (sandboxed,
bounded); this module only turns Python values into the JSON context it takes."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence

from . import _core

__all__ = ["render_chat_template", "TemplateError"]

TemplateError = _core.TemplateError


# transformers names a message's reasoning under several keys; templates read the first.
_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


def _message(m: Mapping[str, Any]) -> Dict[str, Any]:
    # As transformers' apply_chat_template does: keys whose value is None are dropped (templates
    # treat a missing key and None differently), and the reasoning is copied to every name.
    out = {k: v for k, v in m.items() if v is not None}
    reasoning = next((out[k] for k in _REASONING_FIELDS if out.get(k) is not None), None)
    if reasoning is not None:
        out = {"thinking": reasoning, **out, "reasoning_content": reasoning}
    return out


def _context(messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool,
             tools: Optional[Sequence[Any]], variables: Dict[str, Any]) -> str:
    # transformers always passes tools and documents (None when absent): "tools is defined" holds.
    ctx: Dict[str, Any] = {"tools": None, "documents": None}
    ctx.update(variables)
    ctx["messages"] = [_message(m) if isinstance(m, Mapping) else m for m in messages]
    ctx["add_generation_prompt"] = bool(add_generation_prompt)
    if tools is not None:
        ctx["tools"] = list(tools)
    # ensure_ascii=False keeps non-ASCII text as UTF-8; default=str would hide a caller's mistake.
    return json.dumps(ctx, ensure_ascii=False, allow_nan=False)


def render_chat_template(template: str, messages: Sequence[Mapping[str, Any]], *, add_generation_prompt: bool = True,
                         tools: Optional[Sequence[Any]] = None, **variables: Any) -> str:
    """Render a Jinja chat template over messages (list of {"role", "content", ...} dicts).

    Extra keyword arguments become template variables (bos_token, eos_token,
    enable_thinking, documents, ...). Raises TemplateError (a subclass of
    llm4all.Error) when the template fails, raises an exception itself, or hits
    a sandbox limit; TypeError/ValueError when a value cannot be passed as JSON.
    """
    return _core.render_chat_template(template, _context(messages, add_generation_prompt, tools, variables))
