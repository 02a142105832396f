"""Chat sessions: a conversation rendered with the model's chat template, where
each turn decodes only the tokens the KV cache does not hold yet. The work is in
the core (llm4all_chat_*); this is the Python face of it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Union

from . import _core
from .sampling import sampling_args
from .streaming import gpt4all_callback, stream

if TYPE_CHECKING:
    from .model import Model

__all__ = ["ChatSession"]


class ChatSession:
    """A multi-turn conversation with a Model (``Model.chat_session()``).

    ``send(text)`` adds a user message and returns the reply (or, with
    ``streaming=True``, an iterator of pieces). ``history`` is the message list,
    ``stats`` what the last turn cost (``prompt_tokens``, ``reused_tokens``,
    ``decoded_tokens``, ``generated_tokens``, ``dropped_messages``, ``stop_reason``).
    When the conversation outgrows n_ctx, the oldest turns after the system message
    are dropped (``stats["dropped_messages"]`` says how many) unless
    ``on_overflow="error"``. Reasoning models' ``<think>`` text is kept apart:
    ``last_reasoning``, and ``reasoning_content`` in the history.
    """

    def __init__(self, model: "Model", system_message: Optional[str] = None, template: Optional[str] = None,
                 on_overflow: str = "drop_oldest", **variables: Any) -> None:
        if on_overflow not in ("drop_oldest", "error"):
            raise ValueError(f'on_overflow must be "drop_oldest" or "error", not {on_overflow!r}')
        if model.is_embedding:
            raise ValueError(f"{model.path.name} is an embedding model: it embeds text (Model.embed) and cannot chat")
        self._model = model
        if template is None:  # the catalogue's override of the file's template, if any
            template = getattr(model, "_template_override", None)
        self._chat = _core.Chat(model._session, template, system_message,
                                json.dumps(variables, ensure_ascii=False) if variables else None,
                                on_overflow == "drop_oldest")
        self.stats: Dict[str, Any] = {}
        self.last_reasoning: str = ""

    # ---- the conversation ----------------------------------------------------------

    @property
    def history(self) -> List[Dict[str, Any]]:
        """The messages so far (a copy), system message first if there is one."""
        return json.loads(self._chat.messages())

    @history.setter
    def history(self, messages: Sequence[Mapping[str, Any]]) -> None:
        self._chat.set_messages(json.dumps(list(messages), ensure_ascii=False))

    def add_message(self, message: Mapping[str, Any]) -> None:
        """Appends any message, e.g. {"role": "tool", "content": ...}."""
        self._chat.add_message(json.dumps(dict(message), ensure_ascii=False))

    def render(self) -> str:
        """The prompt the next reply starts from (the template's rendering)."""
        return self._chat.render()

    def reset(self) -> None:
        """Forgets every message except the system message."""
        self._chat.reset()

    # ---- replies -----------------------------------------------------------------------

    def send(self, text: Optional[str], *, streaming: bool = False,
             callback: Optional[Callable[[int, str], Optional[bool]]] = None,
             **sampling: Any) -> Union[str, Iterator[str]]:
        """Sends a user message (None: replies to the history as it is) and returns the
        answer. Sampling keywords as Model.generate (max_tokens, temp, top_k, top_p,
        min_p, repeat_penalty, repeat_last_n, seed, stop)."""
        if text is not None and not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        kwargs = sampling_args(**sampling)
        if streaming:
            return stream(lambda on_piece: self._chat.respond(text, callback=on_piece, **kwargs),
                          self._model._session.abort, self._finish, callback)
        return self._finish(self._chat.respond(text, callback=gpt4all_callback(callback), **kwargs))

    def _finish(self, result: tuple) -> str:
        answer, reasoning, stats = result
        self.stats = stats
        self.last_reasoning = reasoning
        self._model.last_stats = stats
        return answer

    def __enter__(self) -> "ChatSession":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def __repr__(self) -> str:
        return f"ChatSession({len(self.history)} messages)"
