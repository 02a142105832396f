"""Chat templates: render a model's Jinja chat template as Hugging Face transformers'
apply_chat_template(..., tokenize=False) does. The engine is C++ in the core (sandboxed,
bounded); this module only turns Python values into the JSON context it takes."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence

from . import _core

__all__ = ["render_chat_template", "TemplateError"]

TemplateError = _core.TemplateError


def _context(messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool,
             tools: Optional[Sequence[Any]], variables: Dict[str, Any]) -> str:
    ctx: Dict[str, Any] = dict(variables)
    ctx["messages"] = list(messages)
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
