"""Turns OpenAI requests into prompt tokens the way the core does: chat messages rendered with
the model's chat template (or --chat-template) by llm4all's template engine and tokenized as
core/src/chat.cpp does, so a greedy reply equals Model.chat(messages, temp=0); completion
prompts tokenized as Model.generate does."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .. import _core
from ..chat_template import TemplateError, render_chat_template
from .errors import bad_request
from .schemas import ChatMessage


def _text(b: bytes) -> str:
    return b.decode("utf-8", errors="replace")


def message_for_template(m: ChatMessage, i: int) -> Dict[str, Any]:
    """One OpenAI message as the dict chat templates expect (transformers' conventions)."""
    role = {"developer": "system", "function": "tool"}.get(m.role, m.role)
    out: Dict[str, Any] = {"role": role}
    content = m.content
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if part.type != "text" or part.text is None:
                raise bad_request(f"content parts of type {part.type!r} are not supported: this server takes text",
                                  param=f"messages[{i}].content[{j}]")
            texts.append(part.text)
        content = "\n".join(texts)   # llama.cpp joins text parts the same way
    if content is None and role in ("system", "user", "tool"):
        raise bad_request(f"messages[{i}] ({m.role}) needs content", param=f"messages[{i}].content")
    if content is not None:
        out["content"] = content
    if m.name is not None:
        out["name"] = m.name
    if m.tool_call_id is not None:
        out["tool_call_id"] = m.tool_call_id
    if m.reasoning_content is not None:
        out["reasoning_content"] = m.reasoning_content
    if m.tool_calls:
        calls = []
        for c in m.tool_calls:
            # Templates read the arguments as an object (Qwen's `arguments | tojson`), as transformers passes them.
            try:
                args: Any = json.loads(c.function.arguments) if c.function.arguments else {}
            except ValueError:
                args = c.function.arguments
            call: Dict[str, Any] = {"type": "function", "function": {"name": c.function.name, "arguments": args}}
            if c.id is not None:
                call["id"] = c.id
            calls.append(call)
        out["tool_calls"] = calls
    return out


class PromptBuilder:
    """The served model's chat template, BOS handling and tokenizer."""

    def __init__(self, model: _core.Model, chat_template: Optional[str] = None) -> None:
        self.model = model
        if chat_template is None:
            desc = json.loads(_core.gguf_describe(model.path, 0))
            t = desc.get("metadata", {}).get("tokenizer.chat_template")
            chat_template = t if isinstance(t, str) else None
        self.template = chat_template
        self.bos_text = _text(model.token_to_piece(model.bos, True)) if model.bos >= 0 else ""
        self.eos_text = _text(model.token_to_piece(model.eos, True)) if model.eos >= 0 else ""
        bos = model.bos
        with_special = model.tokenize(b"a", True, False)
        self.adds_bos = bos >= 0 and len(with_special) > len(model.tokenize(b"a", False, False)) \
            and with_special[0] == bos
        self._tools: Optional[bool] = None

    @property
    def supports_tools(self) -> bool:
        if self._tools is None:
            from .tools import template_supports_tools
            self._tools = bool(self.template) and template_supports_tools(self.template)
        return self._tools

    def render(self, messages: Sequence[Mapping[str, Any]], tools: Optional[List[Dict[str, Any]]] = None,
               variables: Optional[Dict[str, Any]] = None) -> str:
        if self.template is None:
            raise bad_request("the model has no chat template (start the server with --chat-template FILE), "
                              "use /v1/completions", code="no_chat_template")
        ctx: Dict[str, Any] = {}
        if self.bos_text:
            ctx["bos_token"] = self.bos_text
        if self.eos_text:
            ctx["eos_token"] = self.eos_text
        ctx.update(variables or {})
        for k in ("messages", "add_generation_prompt", "tools"):
            ctx.pop(k, None)
        try:
            return render_chat_template(self.template, messages, add_generation_prompt=True, tools=tools, **ctx)
        except TemplateError as e:
            raise bad_request(f"the chat template failed on these messages: {e}", param="messages",
                              code="template_error")
        except (TypeError, ValueError) as e:
            raise bad_request(f"messages cannot be passed to the chat template: {e}", param="messages")

    def chat_tokens(self, prompt: str) -> List[int]:
        # As chat.cpp: BOS once (the template may have written it), special tokens parsed.
        add_bos = self.adds_bos and not (self.bos_text and prompt.startswith(self.bos_text))
        return self.model.tokenize(prompt, add_bos, True)

    def completion_tokens(self, prompt: str) -> List[int]:
        # As Model.generate (session generate's defaults: add_special, parse_special).
        return self.model.tokenize(prompt, True, True)

    def piece(self, token: int) -> bytes:
        return self.model.token_to_piece(token, False)
