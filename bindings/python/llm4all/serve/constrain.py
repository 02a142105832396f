"""Constrained decoding for the server: response_format json_object / json_schema (and forced
tool calls) as a per-request token mask, computed by llguidance (PyPI) over the model's own
vocabulary. The engine masks the logits with allowed(), feeds the sampled token to accept(),
and finishes when done(): the output then always parses and validates."""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .. import _core

__all__ = ["Constraint", "json_constraint", "tool_call_constraint", "prepare"]

# JSON text the server writes: no free whitespace (a model can otherwise spend max_tokens on
# newlines and indentation, or loop on them), separators as json.dumps writes them (", " and
# ": " cost no extra tokens: BPE vocabularies join the space with the next word). Applied as
# overrides, so a schema's own "x-guidance" cannot loosen them or turn on lenient mode (which
# ignores unsupported keywords and so would let output break the schema).
_JSON_OPTIONS: Dict[str, Any] = {
    "whitespace_flexible": False,
    "item_separator": ", ",
    "key_separator": ": ",
    "lenient": False,
    "coerce_one_of": False,
}


# 1.7.0 and older let string patterns that contain '"' produce output the pattern rejects
# (tests/python/test_serve_constrain.py, "escapes"); 1.7.2 is the first release that passes.
_MIN_LLGUIDANCE = (1, 7, 2)


def _llguidance():
    try:
        import llguidance
    except ImportError as e:  # a missing optional dependency is a server configuration error
        raise RuntimeError("constrained decoding needs the llguidance package (pip install 'llguidance>=1.7.2')") from e
    if not getattr(_llguidance, "checked", False):
        from importlib.metadata import PackageNotFoundError, version
        try:
            have = tuple(int(x) for x in version("llguidance").split(".")[:3] if x.isdigit())
        except PackageNotFoundError:
            have = _MIN_LLGUIDANCE
        if have < _MIN_LLGUIDANCE:
            raise RuntimeError(f"llguidance {'.'.join(map(str, have))} is too old for constrained decoding: "
                               f"pip install 'llguidance>=1.7.2'")
        _llguidance.checked = True
    return llguidance


class _Vocab:
    """A model's vocabulary as llguidance sees it: one byte string per token, control tokens
    prefixed with 0xFF (llguidance's special-token marker: no grammar text ever matches them),
    the end-of-generation tokens as a mask. Built once per model file (about a second)."""

    def __init__(self, model: _core.Model):
        llg = _llguidance()
        n = model.n_vocab
        tokens: List[bytes] = []
        special: List[int] = []
        eog = np.zeros(n, dtype=bool)
        for i in range(n):
            text = model.token_to_piece(i, False)
            if model.is_eog(i):
                eog[i] = True
            if text and not eog[i]:
                tokens.append(text)
                continue
            # Control tokens render as "" without render_special; tokens that render to nothing
            # at all (unused slots) get a unique name so the trie still holds every id.
            shown = model.token_to_piece(i, True) or b"<|llm4all_empty_%d|>" % i
            tokens.append(shown)
            special.append(i)
        eos = model.eos
        if not (0 <= eos < n and eog[eos]):
            ids = np.flatnonzero(eog)
            if len(ids) == 0:
                raise RuntimeError("the model has no end-of-generation token; constrained decoding needs one")
            eos = int(ids[0])
        self.n_vocab = n
        self.eog = eog
        self.eos = eos
        self.special = np.zeros(n, dtype=bool)
        self.special[special] = True

        def tokenize(text: bytes) -> List[int]:
            # Called by llguidance from Rust, which cannot take a Python exception.
            try:
                return list(model.tokenize(text, add_special=False, parse_special=False))
            except Exception:
                return []

        class _Tok:
            eos_token_id = eos
            bos_token_id = model.bos if model.bos >= 0 else None
            special_token_ids = special

            def __call__(self, text: bytes) -> List[int]:
                return tokenize(text)

        _Tok.tokens = tokens
        self.ll = llg.LLTokenizer(llg.TokenizerWrapper(_Tok()), n_vocab=n)
        if self.ll.vocab_size != n:
            raise RuntimeError(f"llguidance sees {self.ll.vocab_size} tokens, the model has {n}")


_VOCABS: Dict[Tuple[str, int, int, int], _Vocab] = {}
_VOCABS_LOCK = threading.Lock()


def _vocab(model: _core.Model) -> _Vocab:
    # Keyed by the model file (not the object: pybind11 objects take no weak references), so
    # the vocabulary is built once per model however many Model objects load it.
    path = os.path.realpath(model.path)
    try:
        st = os.stat(path)
        key = (path, st.st_size, int(st.st_mtime_ns), model.n_vocab)
    except OSError:
        key = (path, -1, id(model), model.n_vocab)
    with _VOCABS_LOCK:
        v = _VOCABS.get(key)
        if v is None:
            v = _VOCABS[key] = _Vocab(model)
        return v


def prepare(model: _core.Model) -> None:
    """Build the model's llguidance vocabulary now (server start) rather than on the first
    constrained request."""
    _vocab(model)


class Constraint:
    """One request's grammar state. Not thread-safe: the engine's scheduler thread owns it."""

    def __init__(self, vocab: _Vocab, grammar: str, what: str):
        llg = _llguidance()
        is_err, messages = llg.LLMatcher.validate_grammar_with_warnings(grammar, vocab.ll)
        if is_err:
            raise ValueError(f"invalid {what}: {messages[0] if messages else 'rejected by the grammar compiler'}")
        self._m = llg.LLMatcher(vocab.ll, grammar, log_level=0)
        if self._m.is_error():
            raise ValueError(f"invalid {what}: {self._m.get_error()}")
        self._v = vocab
        self._bits = np.zeros((vocab.n_vocab + 31) // 32, dtype=np.int32)
        self._mask: Optional[np.ndarray] = None  # of the current state, once computed

    def _compute(self) -> np.ndarray:
        if self._mask is None:
            self._m.unsafe_compute_mask_ptr(self._bits.ctypes.data, self._bits.nbytes)
            if self._m.is_error():
                raise RuntimeError(f"constraint failed: {self._m.get_error()}")
            mask = np.unpackbits(self._bits.view(np.uint8), count=self._v.n_vocab, bitorder="little").view(bool)
            if mask[self._v.eos]:  # the grammar may end here: any end-of-generation token ends it
                mask = mask | self._v.eog
            self._mask = mask
        return self._mask

    def allowed(self) -> Optional[np.ndarray]:
        """Bool mask [n_vocab]: the tokens that keep the output valid. Once done(), only the
        end-of-generation tokens."""
        return self._compute().copy()

    def accept(self, token: int) -> None:
        """Advance by the sampled token; ValueError (state unchanged) if the grammar forbids it."""
        token = int(token)
        if not 0 <= token < self._v.n_vocab:
            raise ValueError(f"token {token} is out of range")
        if not self._compute()[token]:
            raise ValueError(f"token {token} is not allowed here by the constraint")
        if self._v.eog[token]:
            token = self._v.eos
        if not self._m.consume_token(token):
            raise RuntimeError(f"constraint failed: {self._m.get_error()}")
        self._mask = None

    def done(self) -> bool:
        """The output is complete: nothing but the end of generation may follow."""
        if self._m.is_stopped():
            return True
        if not self._m.is_accepting():
            return False
        mask = self._compute()
        return not (mask & ~self._v.eog).any()


def _check_schema(schema: Any) -> Dict[str, Any]:
    if isinstance(schema, bool):  # JSON Schema allows true/false; false has no instance
        if not schema:
            raise ValueError("invalid JSON schema: false accepts no value")
        return {}
    if not isinstance(schema, Mapping):
        raise ValueError(f"invalid JSON schema: expected an object, got {type(schema).__name__}")
    try:
        return json.loads(json.dumps(schema, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as e:
        raise ValueError(f"invalid JSON schema: not JSON ({e})") from None


def json_constraint(model: _core.Model, schema: Optional[Mapping[str, Any]]) -> Constraint:
    """A constraint to one JSON value valid under schema; schema None = any JSON object
    (response_format {"type": "json_object"}). A schema llguidance cannot compile (malformed,
    unsatisfiable, or using keywords it does not implement) raises ValueError."""
    llg = _llguidance()
    s = {"type": "object"} if schema is None else _check_schema(schema)
    s.pop("x-guidance", None)
    try:
        grammar = llg.LLMatcher.grammar_from_json_schema(s, overrides=_JSON_OPTIONS)
    except (ValueError, TypeError) as e:
        raise ValueError(f"invalid JSON schema: {e}") from None
    return Constraint(_vocab(model), grammar, "JSON schema")


# ---- forced tool calls (tool_choice "required" or a named function) ------------------------

def _call_schema(tool: Mapping[str, Any], args_key: str) -> Dict[str, Any]:
    fn = tool.get("function", tool) if isinstance(tool, Mapping) else None
    if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
        raise ValueError("invalid tool: expected {\"type\": \"function\", \"function\": {\"name\": ...}}")
    params = fn.get("parameters")
    params = {"type": "object"} if params is None else _check_schema(params)
    params.pop("x-guidance", None)
    return {"type": "object", "properties": {"name": {"const": fn["name"]}, args_key: params},
            "required": ["name", args_key], "additionalProperties": False}


def call_format(template: Optional[str]) -> str:
    """How the template's model writes a call: "hermes" (<tool_call>{json}</tool_call>), "llama"
    ({"name", "parameters"}) or "json" ({"name", "arguments"}); tools.parse_tool_calls reads all."""
    t = template or ""
    if "<tool_call>" in t:
        return "hermes"
    if "<|python_tag|>" in t or "<|eom_id|>" in t:  # Llama 3.1+ templates
        return "llama"
    return "json"


def tool_call_constraint(model: _core.Model, tools: Sequence[Mapping[str, Any]],
                         tool_choice: Any = "required", template: Optional[str] = None) -> Constraint:
    """A constraint forcing exactly one call, in the template's own call format, to one of
    tools (tool_choice "required") or to the named one (tool_choice {"type": "function",
    "function": {"name": ...}} or a bare name). ValueError for an unknown name or bad schema."""
    llg = _llguidance()
    fmt = call_format(template)
    args_key = "parameters" if fmt == "llama" else "arguments"
    if not tools:
        raise ValueError("tool_choice needs at least one tool")
    name = None
    if isinstance(tool_choice, Mapping):
        name = (tool_choice.get("function") or {}).get("name")
        if not isinstance(name, str):
            raise ValueError("invalid tool_choice: expected {\"type\": \"function\", \"function\": {\"name\": ...}}")
    elif isinstance(tool_choice, str) and tool_choice != "required":
        name = tool_choice
    chosen = [t for t in tools if name is None or (t.get("function", t) or {}).get("name") == name]
    if not chosen:
        raise ValueError(f"tool_choice names {name!r}, which is not among the tools")
    schemas = [_call_schema(t, args_key) for t in chosen]
    call = schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
    call["x-guidance"] = dict(_JSON_OPTIONS)
    body = "%json " + json.dumps(call)
    if fmt == "hermes":
        lark = 'start: "<tool_call>\\n" call "\\n</tool_call>"\ncall: ' + body + "\n"
    else:
        lark = "start: call\ncall: " + body + "\n"
    return Constraint(_vocab(model), llg.LLMatcher.grammar_from_lark(lark), "tool schema")
