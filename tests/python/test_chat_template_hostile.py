"""Hostile chat templates: a template is untrusted input, so each of these must fail with a
clean llm4all.TemplateError (bad input bytes: llm4all.Error or ValueError) in under a second,
without a crash, a hang or gigabytes of memory. Each case runs in its own subprocess with a
timeout, so a hang or a crash fails that one test instead of killing pytest; the child times
only the render call (time.perf_counter) and reports its peak RSS.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from sanitizer import RSS_SCALE, TIME_SCALE, child_env

MSGS = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]

NESTED = 100_000

# name -> template (str, or bytes for undecodable input). Every one is refused by jinja2's
# ImmutableSandboxedEnvironment too, or would need more time or memory than a render may use.
HOSTILE = {
    # loops
    "range_1e9": "{% for i in range(10**9) %}{% endfor %}",
    "range_1e9_output": "{% for i in range(10**9) %}x{% endfor %}",
    "nested_loops_1e10": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "nested_loops_output": "{% for i in range(100000) %}{% for j in range(100000) %}xxxxxxxxxx{% endfor %}{% endfor %}",
    "triple_nested_messages": "{% for a in range(5000) %}{% for b in range(5000) %}{% for m in messages %}"
                              "{{ m.content }}{% endfor %}{% endfor %}{% endfor %}",
    "recursive_loop": "{% for m in messages recursive %}{{ loop(messages) }}{% endfor %}",
    # recursion
    "macro_recursion": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "mutual_macro_recursion": "{% macro a(n) %}{{ b(n) }}{% endmacro %}{% macro b(n) %}{{ a(n + 1) }}{% endmacro %}{{ a(0) }}",
    "macro_fanout": "{% macro f(n) %}{% if n < 60 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}",
    "call_block_recursion": "{% macro f() %}{{ caller() }}{% endmacro %}{% macro g() %}{% call f() %}{{ g() }}{% endcall %}"
                            "{% endmacro %}{{ g() }}",
    # string / list blow-up
    "string_repeat_1e10": "{{ 'a' * 10**10 }}",
    "string_repeat_in_set": "{% set s = 'ab' * 10**9 %}{{ s|length }}",
    "string_doubling": "{% set ns = namespace(s='a') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
                       "{{ ns.s|length }}",
    "string_doubling_plus": "{% set ns = namespace(s='ab') %}{% for i in range(70) %}{% set ns.s = ns.s + ns.s %}"
                            "{% endfor %}{{ ns.s }}",
    "replace_blowup": "{% set s = 'a' * 100000 %}{{ s.replace('a', s) }}",
    "list_repeat": "{{ ([1] * 10**10)|length }}",
    "list_building": "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = ns.l + [i] * 10000 %}"
                     "{% endfor %}{{ ns.l|length }}",
    "list_doubling": "{% set ns = namespace(l=[0]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}"
                     "{{ ns.l|length }}",
    "join_blowup": "{{ (range(100000)|list * 100000)|join(',') }}",
    "indent_huge": "{{ 'a\nb'|indent(10**10) }}",
    "center_huge": "{{ 'a'|center(10**10) }}",
    # attribute walking out of the sandbox
    "str_class_mro": "{{ ''.__class__.__mro__ }}",
    "subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "cycler_globals": "{{ cycler.__init__.__globals__ }}",
    "joiner_globals": "{{ joiner.__init__.__globals__.os }}",
    "lipsum_globals": "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "namespace_init_globals": "{{ namespace.__init__.__globals__ }}",
    "raise_exception_globals": "{{ raise_exception.__globals__ }}",
    "template_reference_context": "{{ self._TemplateReference__context }}",
    "attr_filter_class": "{{ ()|attr('__class__') }}",
    "item_dunder": "{{ ''['__class__'] }}",
    "messages_class_base": "{{ messages.__class__.__base__ }}",
    "dict_class": "{{ {}.__class__ }}",
    "loop_dunder": "{% for m in messages %}{{ loop.__class__ }}{% endfor %}",
    # mutation (refused by the immutable sandbox)
    "messages_append": "{{ messages.append({'role': 'user', 'content': 'x'}) }}",
    "messages_pop": "{{ messages.pop() }}",
    "dict_update": "{{ messages[0].update({'role': 'x'}) }}",
    "dict_clear": "{% set x = messages[0].clear() %}",
    "list_sort": "{% set l = [3, 1, 2] %}{{ l.sort() }}",
    "list_insert_in_loop": "{% for m in messages %}{{ messages.insert(0, m) }}{% endfor %}",
    # syntax
    "unterminated_if": "{% if true %}unterminated",
    "unterminated_for": "{% for m in messages %}{{ m.content }}",
    "unterminated_expression": "{{ messages[0",
    "unterminated_string": "{{ 'abc }}",
    "unterminated_comment": "{# never closed",
    "unknown_tag": "{% frobnicate %}",
    "nested_parens_100k": "{{ " + "(" * NESTED + "1" + ")" * NESTED + " }}",
    "unclosed_parens_100k": "{{ " + "(" * NESTED + " }}",
    "nested_lists_100k": "{{ " + "[" * NESTED + "]" * NESTED + " }}",
    "nested_ifs_20k": "{% if true %}" * 20000 + "x" + "{% endif %}" * 20000,
    "unary_not_100k": "{{ " + "not " * NESTED + "true }}",
    "long_binary_chain": "{{ " + " ~ ".join(["'a'"] * NESTED) + " ~ ('b' * 10**10) }}",
    "long_and_chain": "{{ " + " and ".join(["true"] * 30000) + " }}",
    "long_or_chain": "{{ " + " or ".join(["false"] * 30000) + " }}",
    "subscript_chain_30k": "{{ messages" + "[0]" * 30000 + " }}",
    "attribute_chain_30k": "{{ messages" + ".a" * 30000 + " }}",
    "slice_chain_30k": "{{ 'abc'" + "[::-1]" * 30000 + " }}",
    "filter_chain_50k": "{{ 'a'" + "|upper|lower" * 50000 + " }}",
    "call_chain_100k": "{{ messages" + "()" * NESTED + " }}",
    "macro_chain_20k": "".join("{%% macro m%d() %%}{{ m%d() }}{%% endmacro %%}" % (i, i + 1) for i in range(20000))
                       + "{{ m0() }}",
    # width/size arguments
    "printf_star_width": "{{ '%*d'|format(10**9, 1) }}",
    "printf_width": "{{ '%1000000000d'|format(1) }}",
    "format_spec_width": "{{ '{:>1000000000}'.format('a') }}",
    "ljust_huge": "{{ 'a'.ljust(10**10) }}",
    "tojson_indent_huge": "{{ messages|tojson(indent=10**9) }}",
    "list_of_big_strings": "{{ ['a' * 100000] * 100000 }}",
    "join_huge_separator": "{{ range(100000)|join(',' * 100000) }}",
    # quadratic work
    "dict_rebuild_loop": "{% set ns = namespace(d={}) %}{% for i in range(100000) %}{% set ns.d = dict(ns.d, **{i|string: i}) %}"
                         "{% endfor %}{{ ns.d|length }}",
    "loop_changed_big": "{% for i in range(100000) %}{{ loop.changed(range(100000)|list) }}{% endfor %}",
    # errors the template asks for
    "raise_exception": "{{ raise_exception('refused') }}",
    # bad input bytes
    "invalid_utf8_template": b"{{ '\xff\xfe' }}\xc3\x28",
    "invalid_utf8_lone_continuation": b"\x80{{ messages|length }}",
}

# Dunder attributes read off a defined object: jinja2's sandbox turns these into an undefined
# value that prints as "" (it raises only when the walk goes one step further). Refusing them is
# as good: what must never happen is output that is not empty.
EMPTY_OR_ERROR = {"attr_filter_class", "dict_class", "item_dunder", "loop_dunder", "raise_exception_globals",
                  "template_reference_context"}

# Raised by the binding itself for undecodable input: llm4all.Error (LLM4ALL_ERR_BAD_UTF8) or ValueError.
BAD_INPUT = {"invalid_utf8_template", "invalid_utf8_lone_continuation"}

CHILD = textwrap.dedent(r"""
    import json, os, resource, sys, time
    # A runaway render must fail this child, not take the machine's memory with it (under
    # ASan its hard_rss_limit_mb does that: sanitizer.child_env).
    if "libasan" not in os.environ.get("LD_PRELOAD", ""):
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    import llm4all
    job = json.loads(sys.stdin.read())
    kind, payload, msgs = job["kind"], job["payload"], job["messages"]
    template = bytes.fromhex(payload) if kind == "bytes" else json.loads(payload)
    t0 = time.perf_counter()
    try:
        out = llm4all.render_chat_template(template, msgs, bos_token="<s>")
        result = {"raised": None, "output_len": len(out)}
    except llm4all.TemplateError as e:
        result = {"raised": "TemplateError", "message": str(e)[:300]}
    except llm4all.Error as e:
        result = {"raised": "Error", "message": str(e)[:300]}
    except (ValueError, TypeError) as e:
        result = {"raised": type(e).__name__, "message": str(e)[:300]}
    result["seconds"] = time.perf_counter() - t0
    # VmHWM is this process's own peak; ru_maxrss also counts the parent's RSS at fork,
    # which is large after a long pytest session.
    try:
        with open("/proc/self/status") as f:
            hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    except (OSError, StopIteration):
        hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["maxrss_mib"] = hwm / 1024
    print("RESULT " + json.dumps(result))
""")

TIMEOUT_S = 30 * TIME_SCALE      # the child's whole life: interpreter start, import, render
RENDER_LIMIT_S = 1.0 * TIME_SCALE
RSS_LIMIT_MIB = 1024 * RSS_SCALE


def _run_child(template):
    if isinstance(template, bytes):
        kind, payload = "bytes", template.hex()
    else:
        kind, payload = "str", json.dumps(template)
    # On stdin: a 100k-deep nesting is ~200 kB, more than one argv string may hold.
    return subprocess.run([sys.executable, "-c", CHILD], input=json.dumps({"kind": kind, "payload": payload,
                                                                          "messages": MSGS}),
                          capture_output=True, text=True, timeout=TIMEOUT_S, env=child_env(4096))


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_template_fails_fast(name):
    template = HOSTILE[name]
    try:
        proc = _run_child(template)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{name}: the render did not finish within {TIMEOUT_S} s (hang)")
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, (
        f"{name}: child exited with {proc.returncode} (crash?)\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}")
    result = json.loads(lines[-1][len("RESULT "):])
    allowed = {"TemplateError"} | ({"Error", "ValueError"} if name in BAD_INPUT else set())
    if name in EMPTY_OR_ERROR and result["raised"] is None:
        assert result["output_len"] == 0, f"{name}: rendered {result['output_len']} characters: {result}"
    else:
        assert result["raised"] in allowed, f"{name}: expected one of {sorted(allowed)}, got {result}"
    assert result["seconds"] < RENDER_LIMIT_S, f"{name}: took {result['seconds']:.3f} s: {result}"
    assert result["maxrss_mib"] < RSS_LIMIT_MIB, f"{name}: peak RSS {result['maxrss_mib']:.0f} MiB: {result}"


AFTER_CHILD = textwrap.dedent(r"""
    import json, os, resource, sys
    if "libasan" not in os.environ.get("LD_PRELOAD", ""):
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    import llm4all
    from llm4all import _core
    hostile, msgs = json.loads(sys.stdin.read())
    out = {}
    # The C ABI takes the context as JSON text: malformed, non-object or non-UTF-8 JSON is bad input.
    for i, ctx in enumerate([b'{"messages": [{"role": "user", "content": "\xff"}]}', "{not json",
                             '{"messages": [1, 2', "[1, 2, 3]", '{"messages": [1], }', ""]):
        try:
            out[f"bad_json_{i}"] = "rendered: " + _core.render_chat_template("{{ messages|length }}", ctx)
        except (llm4all.Error, ValueError) as e:
            out[f"bad_json_{i}"] = "refused"
    # Deeply nested JSON: refused or rendered, never a crash.
    try:
        out["deep_json"] = _core.render_chat_template("{{ messages|length }}",
                                                      '{"messages": ' + "[" * 100000 + "]" * 100000 + "}")
    except llm4all.Error:
        out["deep_json"] = "refused"
    # A refused template leaves nothing behind: the next render in the same process is right.
    for t in hostile:
        try:
            llm4all.render_chat_template(t, msgs)
            out["hostile"] = "rendered"
        except llm4all.TemplateError:
            pass
    out["after"] = llm4all.render_chat_template("{{ messages[1].content }}!", msgs)
    print("RESULT " + json.dumps(out))
""")


def test_bad_context_and_render_after_hostile():
    names = ("macro_recursion", "string_doubling", "messages_pop", "nested_parens_100k", "range_1e9")
    try:
        proc = subprocess.run([sys.executable, "-c", AFTER_CHILD], input=json.dumps([[HOSTILE[n] for n in names], MSGS]),
                              capture_output=True, text=True, timeout=TIMEOUT_S, env=child_env(4096))
    except subprocess.TimeoutExpired:
        pytest.fail(f"did not finish within {TIMEOUT_S} s (hang)")
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"child exited with {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    out = json.loads(lines[-1][len("RESULT "):])
    for k, v in out.items():
        if k.startswith("bad_json_"):
            assert v == "refused", (k, v)
    assert out["deep_json"] in ("refused", "1"), out["deep_json"]
    assert "hostile" not in out, "a hostile template rendered"
    assert out["after"] == "hello!"
