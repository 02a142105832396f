"""The Jinja engine's language, one feature per case (tests/python/jinja_lang_cases.py): each
template is rendered by llm4all.render_chat_template and by transformers' renderer (jinja2's
ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks, loopcontrols and HF's tojson,
raise_exception, strftime_now, dict and namespace) over the same variables, and the bytes must
match; where transformers raises, llm4all must raise TemplateError naming a line and column.
Also: the error messages, the C-level JSON contract, and a render-speed bound.
"""

from __future__ import annotations

import json
import time

import pytest

import llm4all
from llm4all import _core

from jinja_lang_cases import CASES, CONTEXT, EXTRA_CONTEXT

try:
    from transformers.utils import chat_template_utils as _ctu
    import jinja2  # noqa: F401
except Exception:  # ImportError or a broken install
    _ctu = None

needs_reference = pytest.mark.skipif(_ctu is None, reason="transformers (with jinja2) is the reference renderer: "
                                                          "`pip install transformers jinja2`")


def _context(case_id):
    ctx = dict(CONTEXT)
    ctx.update(EXTRA_CONTEXT.get(case_id, {}))
    return ctx


def _reference(src, ctx):
    # transformers' own compiled environment, rendered with the variables directly (the
    # message normalisation of apply_chat_template is tested in test_chat_template.py)
    return _ctu._compile_jinja_template(src).render(**ctx)


def _ours(src, ctx):
    # the C ABI entry point with the context as JSON, as render_chat_template sends it
    return _core.render_chat_template(src, json.dumps(ctx, ensure_ascii=False))


@needs_reference
@pytest.mark.parametrize("case_id,src", CASES, ids=[c[0] for c in CASES])
def test_matches_jinja2(case_id, src):
    ctx = _context(case_id)
    try:
        expected, ref_error = _reference(src, ctx), None
    except Exception as e:  # TemplateError, TypeError, ...: the render failed in jinja2
        expected, ref_error = None, e
    if ref_error is not None:
        with pytest.raises(llm4all.TemplateError) as info:
            _ours(src, ctx)
        assert "line" in str(info.value) and "column" in str(info.value), str(info.value)
        return
    got = _ours(src, ctx)
    assert got == expected, f"\n  jinja2: {expected!r}\n  llm4all: {got!r}"


def test_public_api_renders():
    out = llm4all.render_chat_template(
        "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<a>{% endif %}",
        [{"role": "user", "content": "Hi"}], bos_token="<s>")
    assert out == "<user>Hi<a>"


@pytest.mark.parametrize("src,line,col,words", [
    ("line one\n{{ 1 + }}", 2, 8, "unexpected end of print statement"),
    ("{% if true %}\n\n  {{ x|frobnicate }}{% endif %}", 3, 8, "no filter named 'frobnicate'"),
    ("a\nb\n{{ 'x' + 1 }}", 3, 8, "unsupported operand"),
    ("{% for m in messages %}\n  {{ m.content.nope() }}\n{% endfor %}", 2, 20, "has no attribute 'nope'"),
])
def test_error_names_line_and_column(src, line, col, words):
    with pytest.raises(llm4all.TemplateError) as info:
        llm4all.render_chat_template(src, [{"role": "user", "content": "hi"}])
    msg = str(info.value)
    assert f"line {line}, column {col}" in msg and words in msg, msg


def test_raise_exception_message():
    with pytest.raises(llm4all.TemplateError) as info:
        llm4all.render_chat_template("{{ raise_exception('Roles must alternate') }}", [])
    assert "template raised: Roles must alternate" in str(info.value)
    assert issubclass(llm4all.TemplateError, llm4all.Error)


@pytest.mark.parametrize("ctx", ['{"messages": [1, 2', "[1, 2]", "", '{"a": 1} x', '{"a": nan}'])
def test_bad_context_json_is_not_a_template_error(ctx):
    with pytest.raises(llm4all.Error) as info:
        _core.render_chat_template("{{ 1 }}", ctx)
    assert not isinstance(info.value, llm4all.TemplateError)


def test_json_numbers_keep_their_type():
    out = _core.render_chat_template("{{ a }} {{ b }} {{ c }} {{ a is integer }} {{ b is float }} {{ d }}",
                                     '{"a": 3, "b": 3.0, "c": 1e400, "d": 123456789012345678901234567890}')
    assert out == "3 3.0 inf True True 123456789012345678901234567890"


def test_strftime_now():
    out = llm4all.render_chat_template("{{ strftime_now('%Y-%m-%d') }}", [])
    assert out in {time.strftime("%Y-%m-%d"), time.strftime("%Y-%m-%d", time.localtime(time.time() - 5))}


def test_render_speed_qwen_tools_conversation():
    # A 20-turn conversation with tool calls through a Qwen2.5-style template (parsed per call
    # here, so this bounds parse + render + JSON together); the C++ test times render alone.
    tpl = ("{%- if tools %}{{- '<|im_start|>system\\n' }}{%- for tool in tools %}{{- '\\n' }}{{- tool | tojson }}"
           "{%- endfor %}{{- '<|im_end|>\\n' }}{%- endif %}{%- for message in messages %}"
           "{%- if message.role == 'user' or (message.role == 'assistant' and not message.tool_calls) %}"
           "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
           "{%- elif message.role == 'assistant' %}{{- '<|im_start|>' + message.role }}"
           "{%- for tool_call in message.tool_calls %}{%- if tool_call.function is defined %}"
           "{%- set tool_call = tool_call.function %}{%- endif %}{{- '\\n<tool_call>\\n{\"name\": \"' }}"
           "{{- tool_call.name }}{{- '\", \"arguments\": ' }}{{- tool_call.arguments | tojson }}{{- '}\\n</tool_call>' }}"
           "{%- endfor %}{{- '<|im_end|>\\n' }}{%- elif message.role == 'tool' %}"
           "{{- '<|im_start|>user\\n<tool_response>\\n' + message.content + '\\n</tool_response><|im_end|>\\n' }}"
           "{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}")
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    msgs = []
    for i in range(20):
        msgs.append({"role": "user", "content": f"Question {i} about the weather in Zürich?"})
        msgs.append({"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": f"C{i}"}}}]})
        msgs.append({"role": "tool", "content": '{"t": 20}'})
        msgs.append({"role": "assistant", "content": f"It is sunny in city {i}."})
    llm4all.render_chat_template(tpl, msgs, tools=tools)
    n = 50
    t0 = time.perf_counter()
    for _ in range(n):
        out = llm4all.render_chat_template(tpl, msgs, tools=tools)
    per_call = (time.perf_counter() - t0) / n
    if _ctu is not None:
        assert out == _ctu._compile_jinja_template(tpl).render(messages=msgs, tools=tools, add_generation_prompt=True)
    assert per_call < 0.01, f"{per_call * 1e3:.2f} ms per render"
