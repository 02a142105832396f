"""Tool calling for the server: does a chat template render `tools`, and which tool calls did
the model write? Models write calls in their family's own wrapper (Hermes/Qwen <tool_call>,
Llama 3.x JSON, Mistral [TOOL_CALLS], Granite, Command R, DeepSeek, Kimi, GLM, Qwen3-Coder XML,
gpt-oss, Gemma 4, LFM2 pythonic, ...); parse_tool_calls turns any of them into OpenAI
`tool_calls`, in linear time, and never raises (text without a valid call comes back unchanged)."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

__all__ = ["template_supports_tools", "parse_tool_calls", "find_tool_call_start", "TOOL_CALL_MARKERS"]

# Texts that open a tool call in some model family. A streaming server can send content
# until one of these appears and hold the rest back for parse_tool_calls.
TOOL_CALL_MARKERS = (
    "<tool_call>", "<seed:tool_call>", "<|tool_call|>", "[TOOL_CALLS]", "<|python_tag|>",
    "<|START_ACTION|>", "<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>",
    "<|tool_calls_section_begin|>", "<|tool_call_begin|>", "<function=", "functools[",
    "<tool_calls>", "<TOOLCALL>", "<|tool_call_start|>", "<|tool_call>", "to=functions.",
    "<|tool_call:begin|>", "<|tools_prefix|>", "<|function_call|>", "<minimax:tool_call>",
    "<｜DSML｜", "<invoke name=", '<function name="',
)

_DECODER = json.JSONDecoder()
_WS = re.compile(r"\s*")


# ---- template support ---------------------------------------------------------------------

# Jinja tags ({{ }}, {% %}) and, inside them, string literals (which may mention "tools"
# without reading the variable).
_JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
_JINJA_STR = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.S)
_TOOLS_NAME = re.compile(r"(?<![\w.])tools(?!\w)")
_PROBE_NAME = "llm4all_probe_tool_q7x"
_PROBE_TOOLS = [{"type": "function", "function": {
    "name": _PROBE_NAME, "description": "Probe function used to detect tool support.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
_PROBE_CHATS = (
    [{"role": "user", "content": "What is the weather in Paris?"}],
    [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "What is the weather in Paris?"}],
)


def _reads_tools_variable(template: str) -> bool:
    for tag in _JINJA_TAG.finditer(template):
        code = _JINJA_STR.sub("''", tag.group(0))
        if _TOOLS_NAME.search(code):
            return True
    return False


def template_supports_tools(template: str) -> bool:
    """True when the chat template shows the model the `tools` it is given.

    The template must read the `tools` variable, and rendering a conversation with a probe
    tool must put that tool's name into the prompt (a template may only mention `tools` to
    reject them). When no probe conversation renders at all (a template that needs special
    message shapes), reading `tools` is taken as support.
    """
    if not isinstance(template, str) or not _reads_tools_variable(template):
        return False
    from ..chat_template import render_chat_template  # needs _core; imported only here

    rendered_without = False
    for chat in _PROBE_CHATS:
        try:
            text = render_chat_template(template, chat, add_generation_prompt=True, tools=_PROBE_TOOLS,
                                        bos_token="<s>", eos_token="</s>")
        except Exception:
            try:
                render_chat_template(template, chat, add_generation_prompt=True, bos_token="<s>", eos_token="</s>")
                rendered_without = True
            except Exception:
                pass
            continue
        if _PROBE_NAME in text:
            return True
        rendered_without = True
    # Renders, but never shows the tool (or refuses tools while accepting the chat): no support.
    return not rendered_without


# ---- parsing --------------------------------------------------------------------------------

def _new_id() -> str:
    return "call_" + secrets.token_hex(12)


def _unfence(s: str) -> str:
    """s without a surrounding ``` fence (and its language tag); no regex over the body, so a
    long reply costs linear time."""
    s = s.strip()
    if len(s) >= 6 and s.startswith("```") and s.endswith("```"):
        inner = s[3:-3]
        lang = re.match(r"[A-Za-z]{0,16}[ \t]{0,8}\n", inner)
        return (inner[lang.end():] if lang else inner).strip()
    return s


def _strip_turn_end(s: str) -> str:
    """s without end-of-turn markers (<|eot_id|>, </s>, ...) rendered as text at its end."""
    s = s.rstrip()
    while True:
        if s.endswith("</s>"):
            s = s[:-4].rstrip()
        elif s.endswith("|>") and re.fullmatch(r"<\|[a-z_]{1,20}\|>", s[s.rfind("<|"):] if "<|" in s else ""):
            s = s[:s.rfind("<|")].rstrip()
        else:
            return s


def _json_at(text: str, pos: int) -> Optional[Tuple[Any, int]]:
    """The JSON value starting at pos (after whitespace) and the index after it, or None.
    Decodes a window that grows only while the value runs past it: json's error message
    counts the lines before the error, so decoding the whole text at every marker of a long
    junk reply would cost quadratic time."""
    pos = _WS.match(text, pos).end()
    window = 4096
    while True:
        chunk = text[pos:pos + window]
        try:
            value, end = _DECODER.raw_decode(chunk)
            return value, pos + end
        except RecursionError:
            return None
        except ValueError as e:
            at = getattr(e, "pos", 0)
            cut = pos + len(chunk) < len(text)
            if not (cut and (at >= len(chunk) - 1 or str(e).startswith("Unterminated string"))):
                return None
            window *= 4


def _args_json(args: Any) -> Optional[str]:
    if args is None:
        return "{}"
    if isinstance(args, str):  # some models (and OpenAI itself) write the arguments as a JSON string
        try:
            args = json.loads(args)
        except (ValueError, RecursionError):
            return None
    if not isinstance(args, dict):
        return None
    try:
        return json.dumps(args, ensure_ascii=False, separators=(",", ":"))
    except (ValueError, TypeError, RecursionError):
        return None


def _call(name: Any, args: Any) -> Optional[Dict[str, Any]]:
    if not isinstance(name, str) or not name.strip():
        return None
    arguments = _args_json(args)
    if arguments is None:
        return None
    return {"id": _new_id(), "type": "function", "function": {"name": name.strip(), "arguments": arguments}}


def _call_from_obj(obj: Any, strict: bool = False) -> Optional[Dict[str, Any]]:
    """One call from a JSON object in any of the common shapes (strict: the arguments must be
    named, as for a reply that is nothing but JSON, which could also be a plain answer)."""
    if not isinstance(obj, dict):
        return None
    fn = obj.get("function")
    if isinstance(fn, dict):  # OpenAI's own shape {"type": "function", "function": {...}}
        return _call(fn.get("name"), fn.get("arguments", fn.get("parameters")))
    name = obj.get("name", obj.get("tool_name", fn))
    for key in ("arguments", "parameters", "args"):
        if key in obj:
            return _call(name, obj[key])
    if strict:
        return None
    return _call(name, None) if set(obj) <= {"name", "tool_name", "function", "id", "type", "tool_call_id"} else None


def _calls_from_value(value: Any, strict: bool = False) -> Optional[List[Dict[str, Any]]]:
    """A call object or a non-empty list of them; None unless every element is a call."""
    items = value if isinstance(value, list) else [value]
    if not items:
        return None
    calls = [_call_from_obj(v, strict) for v in items]
    return None if any(c is None for c in calls) else calls  # type: ignore[return-value]


def _json_calls(text: str, pos: int, end: int, sep: str = "", strict: bool = False) -> Optional[List[Dict[str, Any]]]:
    """Calls from JSON value(s) filling text[pos:end] exactly (optionally separated by sep)."""
    calls: List[Dict[str, Any]] = []
    region = text[:end]
    while True:
        got = _json_at(region, pos)
        if got is None:
            return None
        found = _calls_from_value(got[0], strict)
        if found is None:
            return None
        calls += found
        pos = _WS.match(region, got[1]).end()
        if pos >= end:
            return calls
        if sep and region.startswith(sep, pos):
            pos += len(sep)
        # else: values separated by whitespace only (MiniMax-M1 writes one call per line)


def _xml_value(raw: str, ptype: Optional[str]) -> Any:
    raw = raw[1:] if raw.startswith("\n") else raw
    raw = raw[:-1] if raw.endswith("\n") else raw
    if ptype == "string":
        return raw
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return raw


# Names are bounded and bodies never run past the next opening tag, so text with many
# unclosed tags costs linear time, not quadratic.
_PARAM_XML = re.compile(r"<parameter=([^<>\n]{1,200})>((?:(?!<parameter=).)*?)</parameter>", re.S)
_FUNC_XML = re.compile(r"<function=([^<>\n]{1,200})>((?:(?!<function=).)*?)(?:</function>|(?=<function=)|\Z)", re.S)
_GLM_ARG = re.compile(r"\s*<arg_key>((?:(?!</?arg_key>).){0,200}?)</arg_key>\s*"
                      r"<arg_value>((?:(?!</?arg_value>).)*?)</arg_value>", re.S)


def _param_types(tools: Optional[Sequence[Mapping[str, Any]]], name: str) -> Dict[str, str]:
    for t in tools or ():
        fn = t.get("function", t) if isinstance(t, Mapping) else None
        if isinstance(fn, Mapping) and fn.get("name") == name:
            props = (fn.get("parameters") or {}).get("properties") or {}
            return {k: v.get("type") for k, v in props.items() if isinstance(v, Mapping) and isinstance(v.get("type"), str)}
    return {}


def _xml_function_calls(body: str, tools) -> Optional[List[Dict[str, Any]]]:
    """Qwen3-Coder / Seed-OSS / Nemotron <function=NAME><parameter=K>V</parameter></function>,
    or Functionary's <function=NAME>{json}</function>."""
    calls: List[Dict[str, Any]] = []
    rest = body
    for m in _FUNC_XML.finditer(body):
        name, inner = m.group(1).strip(), m.group(2)
        params = list(_PARAM_XML.finditer(inner))
        if params:
            types = _param_types(tools, name)
            call = _call(name, {p.group(1).strip(): _xml_value(p.group(2), types.get(p.group(1).strip()))
                                for p in params})
        else:
            got = _json_at(inner, 0)
            call = _call(name, got[0]) if got and not inner[got[1]:].strip() else (
                _call(name, None) if not inner.strip() else None)
        if call is None:
            return None
        calls.append(call)
        rest = rest.replace(m.group(0), "", 1)
    return calls if calls and not rest.strip() else None


def _glm_calls(body: str, tools) -> Optional[List[Dict[str, Any]]]:
    """GLM-4.5+: NAME then <arg_key>K</arg_key><arg_value>V</arg_value> pairs."""
    m = re.match(r"\s*([^\s<{\[]{1,200})\s*", body)
    if not m:
        return None
    name, pos = m.group(1), m.end()
    types = _param_types(tools, name)
    args: Dict[str, Any] = {}
    while True:
        a = _GLM_ARG.match(body, pos)
        if not a:
            break
        args[a.group(1).strip()] = _xml_value(a.group(2), types.get(a.group(1).strip()))
        pos = a.end()
    if body[pos:].strip():
        return None
    call = _call(name, args)
    return [call] if call else None


def _inner_calls(body: str, tools) -> Optional[List[Dict[str, Any]]]:
    """Whatever one tool-call wrapper holds: JSON call(s), XML function(s), or GLM pairs."""
    s = _unfence(body)  # a fenced block inside the wrapper
    if s[:1] in "{[":
        return _json_calls(s, 0, len(s), sep=",")
    if "<function=" in s:
        return _xml_function_calls(s, tools)
    if "<arg_key>" in s or re.fullmatch(r"[\w.\-]+", s):
        return _glm_calls(s, tools)
    return None


Span = Tuple[int, int, List[Dict[str, Any]]]


def _tagged(text: str, open_tag: str, close_tag: str, tools) -> List[Span]:
    """Every open_tag ... close_tag block (the last may be unclosed: the model stopped at EOS)."""
    spans: List[Span] = []
    pos = 0
    while True:
        a = text.find(open_tag, pos)
        if a < 0:
            return spans
        b = text.find(close_tag, a + len(open_tag))
        nxt = text.find(open_tag, a + len(open_tag))
        if b < 0 or (0 <= nxt < b):  # unclosed: up to the next opening or the end
            stop = nxt if nxt >= 0 else len(text)
            end = stop
        else:
            stop, end = b, b + len(close_tag)
        calls = _inner_calls(text[a + len(open_tag):stop], tools)
        if calls:
            spans.append((a, end, calls))
            # A following block whose opening tag is missing (Hermes-2-Pro's template writes
            # "</tool_call> {...}</tool_call>" for a second call).
            while end == stop + len(close_tag):
                c2, o2 = text.find(close_tag, end), text.find(open_tag, end)
                more = _inner_calls(text[end:c2], tools) if c2 >= 0 and (o2 < 0 or c2 < o2) else None
                if not more:
                    break
                spans.append((end, c2 + len(close_tag), more))
                stop, end = c2, c2 + len(close_tag)
        pos = end if end > a else a + len(open_tag)


def _prefixed_json(text: str, marker: str, sep: str = "") -> List[Span]:
    """marker followed by JSON call(s) (a list or objects), e.g. [TOOL_CALLS][...], <|python_tag|>{...}."""
    spans: List[Span] = []
    pos = 0
    while True:
        a = text.find(marker, pos)
        if a < 0:
            return spans
        p = a + len(marker)
        calls: List[Dict[str, Any]] = []
        end = p
        while True:
            got = _json_at(text, p)
            found = _calls_from_value(got[0]) if got else None
            if not found:
                break
            calls += found
            end = got[1]
            q = _WS.match(text, end).end()
            if sep and text.startswith(sep, q):
                p = q + len(sep)
                continue
            break
        if calls:
            spans.append((a, end, calls))
        pos = max(end, a + len(marker))


_MISTRAL_ARGS = re.compile(r"\[TOOL_CALLS\]\s*([^\s\[\]{}]{1,200})\s*(?:\[CALL_ID\]\s*[A-Za-z0-9_\-]{0,64}\s*)?\[ARGS\]")


def _mistral_args(text: str, tools) -> List[Span]:
    """Mistral's newer form: [TOOL_CALLS]NAME[ARGS]{json} (repeated for several calls)."""
    spans: List[Span] = []
    for m in _MISTRAL_ARGS.finditer(text):
        got = _json_at(text, m.end())
        call = _call(m.group(1), got[0]) if got else None
        if call:
            spans.append((m.start(), got[1], [call]))
    return spans


_DS_BEGIN, _DS_SEP, _DS_END, _DS_ALL_END = "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>", "<｜tool▁calls▁end｜>"


def _deepseek(text: str, tools) -> List[Span]:
    """DeepSeek V3/R1: <｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\\n```json\\n{..}\\n```<｜tool▁call▁end｜>;
    V3.1: <｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{..}<｜tool▁call▁end｜>."""
    spans: List[Span] = []
    a = text.find(_DS_BEGIN)
    while a >= 0:
        nxt = text.find(_DS_BEGIN, a + len(_DS_BEGIN))
        limit = nxt if nxt >= 0 else len(text)
        close = text.find(_DS_END, a, limit)
        stop = close if close >= 0 else min(limit, text.find(_DS_ALL_END, a, limit) % (len(text) + 1))
        end = close + len(_DS_END) if close >= 0 else stop
        head, sep, body = text[a + len(_DS_BEGIN):stop].partition(_DS_SEP)
        if sep and head.strip() in ("function", "") and "\n" in body.lstrip("\n"):
            name, _, body = body.partition("\n")
        else:
            name = head
        body = _unfence(body)
        got = _json_at(body, 0) if sep else None
        call = _call(name, got[0]) if got and not body[got[1]:].strip() else None
        if call:
            spans.append((a, end, [call]))
        a = nxt
    return spans


_KIMI = re.compile(r"<\|tool_call_begin\|>\s*(?:functions\.)?([^:<\s]{1,200})(?::\d+)?\s*<\|tool_call_argument_begin\|>(.*?)"
                   r"(?:<\|tool_call_end\|>|(?=<\|tool_call_begin\|>|<\|tool_calls_section_end\|>|\Z))", re.S)


def _kimi(text: str, tools) -> List[Span]:
    spans: List[Span] = []
    for m in _KIMI.finditer(text):
        got = _json_at(m.group(2), 0)
        call = _call(m.group(1), got[0]) if got and not m.group(2)[got[1]:].strip() else None
        if call:
            spans.append((m.start(), m.end(), [call]))
    return spans


_FUNCTIONARY = re.compile(r"(?:\A|>>>)\s*([\w.\-]+)\s*\n(?=\s*\{)")


def _functionary(text: str, tools) -> List[Span]:
    """Functionary v3.2: >>>NAME\\n{json} (>>>all\\n is plain content); the prompt ends with
    ">>>", so the reply itself starts with NAME\\n{json}."""
    spans: List[Span] = []
    for m in _FUNCTIONARY.finditer(text):
        if m.group(1) == "all":
            continue
        got = _json_at(text, m.end())
        call = _call(m.group(1), got[0]) if got else None
        if call:
            spans.append((m.start(), got[1], [call]))
    return spans


_RECIPIENT = re.compile(r"<\|recipient\|>\s*([\w.\-]+)\s*\n?<\|content\|>")


def _recipient(text: str, tools) -> List[Span]:
    """Functionary v2: <|recipient|>NAME\\n<|content|>{json} (recipient "all" is content)."""
    spans: List[Span] = []
    for m in _RECIPIENT.finditer(text):
        got = _json_at(text, m.end()) if m.group(1) != "all" else None
        call = _call(m.group(1), got[0]) if got else None
        if call:
            head = re.search(r"<\|from\|>\s*assistant\s*\Z", text[:m.start()])
            spans.append((head.start() if head else m.start(), got[1], [call]))
    return spans


def _bare_json(text: str, tools) -> List[Span]:
    """Llama 3.x without <|python_tag|> (and any model told to answer with JSON): the whole
    reply is a call object, a list of them, or objects separated by ';' (optionally fenced)."""
    s = _unfence(_strip_turn_end(text))  # a turn end rendered as text after the call
    if s[:1] not in "{[":
        return []
    calls = _json_calls(s, 0, len(s), sep=";", strict=True)
    return [(0, len(text), calls)] if calls and _known(calls, tools) else []


def _known(calls: List[Dict[str, Any]], tools) -> bool:
    """Every call names one of the request's tools (when they are given): a reply that is only
    JSON or only a Python-like call counts as a call just when it names a real tool."""
    names = {(t.get("function", t) or {}).get("name") for t in tools or () if isinstance(t, Mapping)}
    names.discard(None)
    return not names or all(c["function"]["name"] in names for c in calls)


_INVOKE = re.compile(r'<(?P<ns>[^<>\s/]{0,16}?)(?P<el>invoke|function) name="(?P<name>[^"<>]{1,200})"\s*>'
                     r'(?P<body>(?:(?!<(?P=ns)(?P=el) name=).)*?)</(?P=ns)(?P=el)>', re.S)


def _invoke_xml(text: str, tools) -> List[Span]:
    """MiniMax-M2 / DeepSeek V3.2 (DSML) / MiniCPM style
    <invoke name="NAME"><parameter name="K" [string="true"]>V</parameter></invoke>."""
    spans: List[Span] = []
    for m in _INVOKE.finditer(text):
        ns, name, body = re.escape(m.group("ns")), m.group("name"), m.group("body")
        types = _param_types(tools, name)
        args: Dict[str, Any] = {}
        pos = 0
        for p in re.finditer(r'<%s(parameter|param) name="([^"<>]{1,200})"(?:\s+string="(true|false)")?\s*>'
                             r'((?:(?!<%s(?:parameter|param) name=).)*?)</%s\1>' % (ns, ns, ns), body, re.S):
            if body[pos:p.start()].strip():
                break
            ptype = "string" if p.group(3) == "true" else types.get(p.group(2))
            if p.group(3) == "false" and ptype == "string":
                ptype = None
            args[p.group(2)] = _xml_value(p.group(4), ptype)
            pos = p.end()
        else:
            if not body[pos:].strip():
                call = _call(name, args)
                if call:
                    spans.append((m.start(), m.end(), [call]))
    return spans


def _pythonic(src: str) -> Optional[List[Dict[str, Any]]]:
    """LFM2 / MiniCPM / Llama 3.2 pythonic calls: [f(a=1, b="x"), g()] (keyword arguments with
    literal values only; parsed with ast, never evaluated)."""
    import ast
    s = _unfence(src)
    if not s or len(s) > 100_000 or not re.match(r"\[?\s*[A-Za-z_][\w.]*\s*\(", s):
        return None
    try:
        nodes = []
        for stmt in ast.parse(s, mode="exec").body:  # [f(), g()] or one call per line
            if not isinstance(stmt, ast.Expr):
                return None
            nodes += stmt.value.elts if isinstance(stmt.value, ast.List) else [stmt.value]
        calls = []
        for n in nodes:
            if not isinstance(n, ast.Call) or n.args:
                return None
            name = ast.unparse(n.func)
            if not re.fullmatch(r"[A-Za-z_][\w.]*", name):
                return None
            args = {}
            for k in n.keywords:
                if k.arg is None:
                    return None
                args[k.arg] = ast.literal_eval(k.value)
            call = _call(name, args)
            if call is None:
                return None
            calls.append(call)
        return calls or None
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError):
        return None


_GEMMA_KEY = re.compile(r"([^\s:{}\[\],]{1,200})\s*:")
_GEMMA_SCALAR = re.compile(r"[^,}\]\s]{1,200}")


def _gemma_object(s: str, i: int, depth: int = 0) -> Tuple[Any, int]:
    """Gemma 4's call syntax: {key:value,...} with <|"|>-quoted strings; ValueError if malformed."""
    if depth > 64:
        raise ValueError("too deep")
    q = '<|"|>'
    i = _WS.match(s, i).end()
    if s.startswith(q, i):
        j = s.find(q, i + len(q))
        if j < 0:
            raise ValueError("unterminated string")
        return s[i + len(q):j], j + len(q)
    if s.startswith("{", i) or s.startswith("[", i):
        obj = s[i] == "{"
        out: Any = {} if obj else []
        i += 1
        while True:
            i = _WS.match(s, i).end()
            if s.startswith("}" if obj else "]", i):
                return out, i + 1
            if obj:
                m = _GEMMA_KEY.match(s, i)
                if not m:
                    raise ValueError("expected a key")
                key = m.group(1)[len(q):-len(q)] if m.group(1).startswith(q) and m.group(1).endswith(q) else m.group(1)
                val, i = _gemma_object(s, m.end(), depth + 1)
                out[key] = val
            else:
                val, i = _gemma_object(s, i, depth + 1)
                out.append(val)
            i = _WS.match(s, i).end()
            if s.startswith(",", i):
                i += 1
            elif not s.startswith("}" if obj else "]", i):
                raise ValueError("expected ',' or a closing bracket")
    m = _GEMMA_SCALAR.match(s, i)
    if not m:
        raise ValueError("expected a value")
    try:
        return json.loads(m.group(0)), m.end()
    except ValueError:
        return m.group(0), m.end()


_GEMMA = re.compile(r"<\|tool_call>\s*call:([\w.\-]{1,200})\s*(?=\{)")


def _gemma4(text: str, tools) -> List[Span]:
    spans: List[Span] = []
    for m in _GEMMA.finditer(text):
        try:
            args, end = _gemma_object(text, m.end())
        except (ValueError, RecursionError):
            continue
        call = _call(m.group(1), args)
        if call:
            end = _WS.match(text, end).end()
            end = end + len("<tool_call|>") if text.startswith("<tool_call|>", end) else end
            spans.append((m.start(), end, [call]))
    return spans


_HARMONY = re.compile(r"to=functions\.([\w.\-]{1,200})[^<\n]{0,40}"
                      r"(?:<\|channel\|>[^<\n]{0,40})?(?:<\|constrain\|>[^<\n]{0,20})?<\|message\|>")
# What may precede "to=" in the same message header (looked for in a short window only).
_HARMONY_HEAD = re.compile(r"(?:<\|start\|>assistant)?(?:<\|channel\|>[ \t]{0,4}\w{1,20})?[ \t]{0,4}\Z")


def _harmony(text: str, tools) -> List[Span]:
    """gpt-oss (harmony): ...to=functions.NAME<|channel|>commentary json<|message|>{json}<|call|>."""
    spans: List[Span] = []
    for m in _HARMONY.finditer(text):
        got = _json_at(text, m.end())
        call = _call(m.group(1), got[0]) if got else None
        if call:
            end = got[1] + len("<|call|>") if text.startswith("<|call|>", got[1]) else got[1]
            window = text[max(0, m.start() - 64):m.start()]
            spans.append((m.start() - len(_HARMONY_HEAD.search(window).group(0)), end, [call]))
    return spans


_SOLAR = re.compile(r"<\|tool_call:begin\|>[^<]{0,100}<\|tool_call:name\|>([^<]{1,200})<\|tool_call:args\|>")


def _solar(text: str, tools) -> List[Span]:
    spans: List[Span] = []
    for m in _SOLAR.finditer(text):
        got = _json_at(text, m.end())
        call = _call(m.group(1), got[0]) if got else None
        if call:
            end = got[1] + len("<|tool_call:end|>") if text.startswith("<|tool_call:end|>", got[1]) else got[1]
            spans.append((m.start(), end, [call]))
    return spans


def _name_keyed(text: str, open_tag: str, close_tag: str) -> List[Span]:
    """Apertus: open_tag [{"NAME": {args}}, ...] close_tag."""
    spans: List[Span] = []
    for m in re.finditer(re.escape(open_tag), text):
        got = _json_at(text, m.end())
        if not got or not isinstance(got[0], list) or not got[0]:
            continue
        calls = [_call(next(iter(o)), o[next(iter(o))]) if isinstance(o, dict) and len(o) == 1 else None
                 for o in got[0]]
        if all(calls):
            end = _WS.match(text, got[1]).end()
            end = end + len(close_tag) if text.startswith(close_tag, end) else got[1]
            spans.append((m.start(), end, calls))  # type: ignore[arg-type]
    return spans


def _pythonic_tagged(text: str, tools) -> List[Span]:
    spans: List[Span] = []
    for m in re.finditer(r"<\|tool_call_start\|>((?:(?!<\|tool_call_start\|>).)*?)"
                         r"(?:<\|tool_call_end\|>|(?=<\|tool_call_start\|>)|\Z)", text, re.S):
        calls = _pythonic(m.group(1))
        if calls:
            spans.append((m.start(), m.end(), calls))
    return spans


_EXTRACTORS: Tuple[Callable[[str, Any], List[Span]], ...] = (
    lambda t, tools: _tagged(t, "<tool_call>", "</tool_call>", tools),
    lambda t, tools: _tagged(t, "<seed:tool_call>", "</seed:tool_call>", tools),
    lambda t, tools: _tagged(t, "<|tool_call|>", "<|/tool_call|>", tools),
    lambda t, tools: _tagged(t, "<tool_calls>", "</tool_calls>", tools),
    lambda t, tools: _tagged(t, "<TOOLCALL>", "</TOOLCALL>", tools),
    _pythonic_tagged,
    _gemma4,
    _harmony,
    _solar,
    _invoke_xml,
    lambda t, tools: _name_keyed(t, "<|tools_prefix|>", "<|tools_suffix|>"),
    lambda t, tools: _prefixed_json(t, "<|function_call|>"),
    _mistral_args,
    lambda t, tools: _prefixed_json(t, "[TOOL_CALLS]"),
    lambda t, tools: _prefixed_json(t, "<|python_tag|>", sep=";"),
    lambda t, tools: _tagged(t, "<|START_ACTION|>", "<|END_ACTION|>", tools),
    _deepseek,
    _kimi,
    lambda t, tools: _prefixed_json(t, "functools"),
    lambda t, tools: [(m.start(), m.end(), c) for m in _FUNC_XML.finditer(t)
                      for c in [_xml_function_calls(m.group(0), tools)] if c],
    _functionary,
    _recipient,
    _bare_json,
    lambda t, tools: [(0, len(t), c) for c in [_pythonic(t)] if c and _known(c, tools)],
)

# Section wrappers left around the calls, removed from the content once calls were found.
_WRAPPERS = re.compile(r"<｜tool▁calls▁begin｜>|<｜tool▁calls▁end｜>|<\|tool_calls_section_begin\|>|"
                       r"</?(?:minimax:tool_call|｜DSML｜function_calls|｜DSML｜tool_calls|atem:function_calls)>|"
                       r"<\|tool_calls_section_end\|>|<\|eom_id\|>|<\|eot_id\|>")


def parse_tool_calls(text: str, tools: Optional[Sequence[Mapping[str, Any]]] = None
                     ) -> Tuple[str, List[Dict[str, Any]]]:
    """Split a model's reply into (content, tool_calls) in OpenAI's shape:
    [{"id": "call_...", "type": "function", "function": {"name", "arguments": JSON string}}].

    The first wrapper format that yields valid calls wins; content is the text around them,
    stripped. No valid call: (text, []) with text unchanged. `tools` (the request's tools) is
    optional: with it, a reply that is nothing but JSON (or a Python-like call) counts as a
    call only when it names one of them, and string-typed XML parameter values stay strings.
    """
    if not isinstance(text, str) or not text:
        return text, []
    try:
        for extract in _EXTRACTORS:
            spans = extract(text, tools)
            if not spans:
                continue
            spans.sort(key=lambda s: s[0])
            parts, calls, pos = [], [], 0
            for a, b, c in spans:
                if a < pos:  # overlapping matches: keep the first
                    continue
                parts.append(text[pos:a])
                calls += c
                pos = b
            parts.append(text[pos:])
            content = _WRAPPERS.sub("", "".join(parts)).strip()
            return content, calls
    except Exception:  # never let a parser bug turn a reply into a server error
        return text, []
    return text, []


def find_tool_call_start(text: str) -> Optional[int]:
    """Index of the first tool-call marker in text (or of a bare JSON reply), None if none:
    a streaming server sends text before it as content and parses the rest at the end."""
    if not isinstance(text, str):
        return None
    hits = [i for i in (text.find(m) for m in TOOL_CALL_MARKERS) if i >= 0]
    if hits:
        return min(hits)
    s = text.lstrip()
    if s[:1] in ("{", "[") or s.startswith("```"):
        return len(text) - len(s)
    return None
