"""Small Jinja templates, one language feature each, that test_chat_template.py renders with
llm4all and with transformers' renderer and compares byte for byte (or, where transformers
raises, expects llm4all.TemplateError). A failure here names one feature, where a failure in a
real template names a whole template. The context is SNIPPET_MESSAGES plus the variables below.
"""

SNIPPET_MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi \"there\" it's 東京 🌍", "n": 3, "f": 1.0, "ok": True, "nothing": None},
    {"role": "assistant", "content": "  Hello!  ", "tool_calls": [
        {"type": "function", "function": {"name": "f", "arguments": {"b": 1, "a": [1.5, None, "x"]}}}]},
]
SNIPPET_VARIABLES = {"bos_token": "<s>", "eos_token": "</s>", "flag": False, "num": 7, "ratio": 0.1,
                     "items_": [3, 1, 2], "words": ["b", "A", "a", "c"], "d": {"b": 1, "a": 2}}

SNIPPETS = {
    # output of values (Python's str/repr rules)
    "print_str": "{{ messages[0].content }}",
    "print_int_float": "{{ num }} {{ ratio }} {{ 3.0 }} {{ 1e-7 }} {{ 1e16 }} {{ 1e300 * 1e10 }} {{ 123456789.0 * 1000 }}",
    "print_float_arith": "{{ 0.1 + 0.2 }} {{ 1 / 3 }} {{ 10 / 2 }} {{ 2 ** 0.5 }} {{ 100.0 * 3 }} {{ -0.0 }}",
    "print_bigint": "{{ 2 ** 100 }} {{ 12345678901234567890 + 1 }}",
    "print_none_bool": "{{ none }} {{ true }} {{ false }} {{ messages[1].nothing }} {{ messages[1].ok }}",
    "print_list_repr": "{{ [1, 'a', none, true, 1.5, [\"it's\", 'a\"b']] }}",
    "print_dict_repr": "{{ {'a': none, 'b': true, 'c': 1.0, 'd': {'e': []}} }}",
    "print_message_repr": "{{ messages[2] }}",
    "print_tuple_repr": "{{ (1,) }} {{ (1, 'a') }} {{ d|dictsort }}",
    "print_range": "{{ range(3) }} {{ range(3)|list }} {{ range(1, 10, 3)|list }}",
    "print_undefined": "[{{ missing }}][{{ messages[9] }}][{{ messages[0].missing }}][{{ d.zz }}]",
    "print_json_float_from_context": "{{ messages[1].f }} {{ messages[1].n }} {{ messages[2].tool_calls[0].function.arguments }}",
    # arithmetic and comparisons
    "int_ops": "{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7.5 // 2 }} {{ 2 ** 10 }} {{ 7 % 3 }} {{ -num }}",
    "div_by_zero": "{{ 1 / 0 }}",
    "floordiv_by_zero": "{{ 1 // 0 }}",
    "comparisons": "{{ 1 < 2 < 3 }} {{ 'ab' < 'b' }} {{ [1, 2] == [1, 2] }} {{ 1 == 1.0 }} {{ true == 1 }} {{ none == none }}",
    "string_ops": "{{ 'ab' * 3 }} {{ 'a' ~ 1 ~ none ~ true }} {{ 'a' + 'b' }} {{ [1, 2] + [3] }}",
    "str_plus_int": "{{ 'a' + 1 }}",
    "int_plus_str": "{{ 1 + 'a' }}",
    "undefined_plus_str": "{{ missing + 'a' }}",
    "undefined_attr": "{{ missing.attr }}",
    "none_attr": "{{ none.attr }}",
    "logic": "{{ true and 'x' }} {{ false or 'y' }} {{ not none }} {{ none or 0 or '' or 'z' }} {{ 'a' in 'cat' }} {{ 2 not in items_ }}",
    "conditional_expr": "{{ 'yes' if flag else 'no' }}[{{ 'only' if flag }}]",
    "implicit_concat": "{{ 'a' 'b' }}",
    "unicode_special_casing": "{{ 'ß'.upper() }} {{ 'ﬁ'.upper() }} {{ 'ΑΣ'.lower() }} {{ 'İ'.lower()|length }}",
    "string_escape_named": "{{ '\\N{BULLET}' }}",
    "string_escapes": "{{ 'line\\nnext' }}|{{ 'tab\\tx' }}|{{ '\\u00e9\\x41' }}|{{ 'it\\'s' }}|{{ \"q\\\"q\" }}",
    # subscripts and slices
    "slices": "{{ 'abcdef'[1:3] }} {{ 'abc'[::-1] }} {{ items_[-1] }} {{ items_[::2] }} {{ items_[1:] }} {{ messages[-1].role }}",
    "slice_of_non_sequence": "[{{ messages[1].nothing[1:] }}][{{ num[:2] }}][{{ none[::-1] }}][{{ (none[1:]) is defined }}]",
    "index_out_of_range": "[{{ items_[10] }}][{{ 'abc'[10] }}]",
    # string methods
    "str_methods": "{{ '  x  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ ' a'.lstrip() }}|{{ 'a '.rstrip() }}|"
                   "{{ 'a,b,c'.split(',') }}|{{ 'a b  c'.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'Ab'.upper() }}"
                   "{{ 'Ab'.lower() }}|{{ 'hello world'.title() }}|{{ 'hELLO'.capitalize() }}|{{ 'aXa'.replace('a', 'bb') }}",
    "str_predicates": "{{ 'abc'.startswith('a') }} {{ 'abc'.endswith('bc') }} {{ 'abc'.startswith(('x', 'a')) }} "
                      "{{ 'abc'.find('c') }} {{ 'aaa'.count('a') }} {{ '12'.isdigit() }} {{ 'ab'.isalpha() }}",
    "str_format_method": "{{ '{} and {}'.format('a', 1) }} {{ '{x}'.format(x=2) }}",
    "str_format_field_access": "{{ '{0[role]}/{0.role}/{m[content]}'.format(messages[0], m=messages[1]) }}",
    "str_format_field_dunder": "{{ '{0.__class__.__mro__}'.format('') }}",
    "str_format_nested_spec": "[{{ '{:{w}}'.format('a', w=5) }}]",
    "str_join_method": "{{ '-'.join(['a', 'b']) }} {{ ', '.join(words) }}",
    "percent_format": "{{ '%s-%d'|format('x', 3) }} {{ '%.2f'|format(3.14159) }} {{ '%05.1f'|format(2.5) }}",
    # dict methods
    "dict_methods": "{{ d.get('a') }} {{ d.get('z', 'def') }} {{ d.get('z') }} {{ d.keys()|list }} {{ d.values()|list }} "
                    "{{ d.items()|list }} {{ 'a' in d }}",
    "dict_iteration": "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}",
    # filters
    "filters_text": "{{ '  x '|trim }}|{{ 'hello world'|title }}|{{ 'hELLO'|capitalize }}|{{ 'Ab'|upper }}{{ 'Ab'|lower }}|"
                    "{{ 'aXa'|replace('a', 'b') }}|{{ 'hello big world'|wordcount }}|{{ 'abc'|reverse }}|{{ 'x'|center(5) }}|",
    "filters_indent": "{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\nb'|indent(first=true, width='> ') }}",
    "filters_list": "{{ items_|length }} {{ items_|first }} {{ items_|last }} {{ items_|sort }} {{ items_|sort(reverse=true) }} "
                    "{{ items_|sum }} {{ items_|min }} {{ items_|max }} {{ items_|reverse|list }} {{ items_|list }}",
    "filters_sort_case": "{{ words|sort }} {{ words|sort(case_sensitive=true) }} {{ words|unique|list }} {{ ['A', 'a']|unique|list }}",
    "filters_join": "{{ items_|join }} {{ items_|join(', ') }} {{ messages|map(attribute='role')|join('/') }}",
    "filters_map_select": "{{ messages|map(attribute='role')|list }} {{ items_|select('odd')|list }} {{ items_|reject('odd')|list }} "
                          "{{ messages|selectattr('role', 'equalto', 'user')|list|length }} "
                          "{{ messages|rejectattr('role', 'eq', 'user')|map(attribute='role')|list }} "
                          "{{ messages|selectattr('tool_calls')|list|length }} {{ words|map('upper')|list }}",
    "filters_map_default": "{{ messages|map(attribute='name', default='anon')|list }}",
    "filters_sort_attribute": "{{ [{'n': 2}, {'n': 1}]|sort(attribute='n') }} {{ messages|map(attribute='content')|map('length')|list }}",
    "filters_batch_slice": "{{ [1, 2, 3, 4, 5]|batch(2)|list }} {{ [1, 2, 3, 4, 5]|batch(2, 'x')|list }} {{ [1, 2, 3]|slice(2)|list }}",
    "filters_numbers": "{{ -3|abs }} {{ 2.5|round }} {{ 3.5|round }} {{ 2.675|round(2) }} {{ 2.7|round(0, 'floor') }} "
                       "{{ 3|float }} {{ '3.7'|int }} {{ 'abc'|int }} {{ '42'|int }} {{ 3.9|int }} {{ '1e3'|float }} {{ 'x'|float }}",
    "filters_default": "{{ missing|default('d') }} {{ ''|default('d', true) }} {{ none|default('d') }} {{ missing|d('e') }} "
                       "{{ flag|default('d', boolean=true) }}",
    "filters_string": "{{ none|string }} {{ 1.0|string }} {{ [1]|string }} {{ true|string }} {{ (1|string) ~ 2 }}",
    "filter_int_of_undefined": "{{ missing|int }}",
    "filter_sort_missing_attribute": "{{ messages|sort(attribute='missing')|map(attribute='role')|join(',') }}",
    "filters_truncate": "{{ 'hello world foo'|truncate(9) }}|{{ [1, 2, 3]|truncate(3) }}|{{ 'abcdefghij'|truncate(5, true, '') }}",
    "filter_round_bigint": "{{ 100000000000000000000|round }} {{ (10 ** 30)|round(-2) }}",
    "print_dict_views": "{{ d.keys() }} {{ d.values() }} {{ d.items() }}",
    "filters_dict": "{{ d|dictsort }} {{ d|dictsort(reverse=true) }} {{ d|items|list }} {{ {'B': 1, 'a': 2}|dictsort }}",
    "filters_count": "{{ items_|count }} {{ 'abc'|length }} {{ d|length }}",
    "filters_escape": "{{ '<a href=\"x\">&\\'</a>'|e }}|{{ '<b>'|escape }}|{{ '<b>'|safe }}|{{ ('<'|e) ~ '<' }}",
    "markup_plus_escapes": "{{ 'a'|safe + '\"<' }}|{{ '<' + 'x'|safe }}|{{ ('<'|safe + '<')|length }}|{{ 'a'|safe ~ '\"<' }}",
    "markup_plus_tojson": "{{ 'f: '|safe + messages[1]|tojson }}",
    "filters_groupby": "{{ messages|groupby('role')|map('first')|list }}",
    "filters_pprint": "{{ d|pprint }}",
    "filter_center_fillchar": "{{ 'Hello'|center(11, '*') }}",
    "filters_list_of_string": "{{ 'abc'|list }} {{ d|list }}",
    "filter_unknown": "{{ 'x'|no_such_filter }}",
    # HF tojson
    "tojson_basic": "{{ messages[1]|tojson }}",
    "tojson_unicode_html": "{{ '東京 <>&\\' \"'|tojson }} {{ 'é'|tojson(ensure_ascii=true) }}",
    "tojson_indent": "{{ messages[2].tool_calls|tojson(indent=2) }}|{{ {'a': [], 'b': {}}|tojson(indent=4) }}",
    "tojson_sort_keys": "{{ {'b': 1, 'a': {'d': 1, 'c': 2}}|tojson(sort_keys=true) }}",
    "tojson_separators": "{{ {'a': [1, 2]}|tojson(separators=(',', ':')) }}",
    "tojson_numbers": "{{ [1, 1.0, 1e20, 1e-7, 0.1, -0.0, 2**70, true, none]|tojson }}",
    "tojson_control_chars": "{{ 'a\\u0001b\\tc\\n\\u2028'|tojson }}",
    "tojson_not_serializable": "{{ range(3)|tojson }}",
    "tojson_arguments_string": "{{ messages[2].tool_calls[0].function.arguments|tojson }}",
    # tests
    "tests_types": "{{ 'a' is string }} {{ 1 is number }} {{ true is number }} {{ true is integer }} {{ 1.0 is integer }} "
                   "{{ 1.0 is float }} {{ d is mapping }} {{ items_ is sequence }} {{ 'x' is sequence }} {{ 'x' is iterable }} "
                   "{{ none is none }} {{ true is boolean }} {{ 1 is boolean }} {{ missing is undefined }} {{ num is defined }}",
    "tests_values": "{{ 2 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }} {{ 1 is in items_ }} {{ 'A' is upper }} "
                    "{{ 'a' is lower }} {{ true is true }} {{ 1 is true }} {{ false is false }} {{ 1 is eq 1 }} {{ 2 is gt 1 }} "
                    "{{ 1 is ne 2 }} {{ 'x' is equalto 'x' }} {{ none is sameas none }}",
    "test_unknown": "{{ 1 is no_such_test }}",
    # statements
    "if_elif_else": "{% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %};{% endfor %}",
    "for_loop_vars": "{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
                     "{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}",
    "for_prev_next_cycle": "{% for i in items_ %}{{ loop.previtem }}>{{ i }}>{{ loop.nextitem }} {{ loop.cycle('a', 'b') }} "
                           "{{ loop.changed(i > 1) }};{% endfor %}",
    "for_else": "{% for x in [] %}x{% else %}empty{% endfor %}",
    "for_filter": "{% for m in messages if m.role != 'system' %}{{ loop.index }}:{{ m.role }} {% endfor %}",
    "for_unpack": "{% for a, b in [(1, 2), (3, 4)] %}{{ a + b }}{% endfor %}",
    "for_break_continue": "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}"
                          "{{ i }}{% endfor %}",
    "continue_in_filter_block": "{% for i in [1, 2, 3] %}{% filter upper %}a{{ i }}{% if i == 2 %}{% continue %}{% endif %}b"
                                "{% endfilter %}{{ i }}{% endfor %}",
    "break_in_filter_block": "{% for i in [1, 2, 3] %}{% filter upper %}{% if i == 2 %}{% break %}{% endif %}{% endfilter %}"
                             "{{ i }}{% endfor %}",
    "continue_in_set_block": "{% for i in [1, 2, 3] %}{% set x %}{% if i == 2 %}{% continue %}{% endif %}{% endset %}{{ i }}{% endfor %}",
    # jinja2 runs a for-else when no iteration reached the end of the body.
    "for_else_after_continue": "{% for i in [1] %}{% continue %}{% else %}E{% endfor %}|"
                               "{% for i in [1] %}{% break %}{% else %}E{% endfor %}|"
                               "{% for i in [1, 2] %}{% if i == 2 %}{% continue %}{% endif %}{% else %}E{% endfor %}",
    "for_recursive": "{% for x in [[1, [2]], [3]] recursive %}{% if x is iterable %}({{ loop(x) }}){% else %}{{ x }}@{{ loop.depth }}"
                     "{% endif %}{% endfor %}",
    "for_over_string_and_dict": "{% for c in 'ab' %}{{ c }}.{% endfor %}{% for k in d %}{{ k }}{% endfor %}",
    "loop_scoping": "{% set x = 1 %}{% for i in range(3) %}{% set x = i %}{% endfor %}{{ x }}",
    "namespace_scoping": "{% set ns = namespace(x=1, l=[]) %}{% for i in range(3) %}{% set ns.x = ns.x + i %}"
                         "{% set ns.l = ns.l + [i] %}{% endfor %}{{ ns.x }} {{ ns.l }}",
    "namespace_underscore": "{% set ns = namespace(_x=1) %}{{ ns._x }}",
    # jinja2's scoping: filter and set blocks are scopes of their own; a nested scope (loop body,
    # macro, call block) that reads a name its enclosing scope assigns unconditionally sees that
    # local, undefined until the assignment runs, not the context's value.
    "scope_filter_block": "{% filter upper %}{% set num = 's' %}{{ num }}{% endfilter %}{{ num }}",
    "scope_set_block": "{% set blk %}{% set num = 'S' %}{{ num }}{% endset %}{{ num }}{{ blk }}",
    "scope_later_set_seen_by_loop": "{% for i in [1] %}[{{ num }}]{% endfor %}{% set num = 'S' %}{{ num }}",
    "scope_later_set_seen_by_macro": "{% macro m() %}{{ num }}{% endmacro %}[{{ m() }}]{% set num = 'S' %}[{{ m() }}]",
    "scope_later_set_in_filter_block": "{% filter upper %}{% for i in [1] %}[{{ ratio }}]{% endfor %}{% set ratio = 's' %}"
                                       "{% endfilter %}",
    "scope_conditional_set_in_loop": "{% for i in [1] %}[{{ num }}]{% endfor %}{% if false %}{% set num = 'S' %}{% endif %}",
    "scope_default_pattern": "{% if not num is defined %}{% set num = 0 %}{% endif %}{% for i in [1] %}{{ num }}{% endfor %}",
    "set_tuple_unpack": "{% set a, b = 1, 2 %}{{ a }}{{ b }}",
    "set_block": "{% set x %}block {{ 1 + 1 }}{% endset %}[{{ x }}]{% set y | upper %}low{% endset %}{{ y }}",
    "set_overrides_context": "{% set messages = messages[1:] %}{{ messages|length }}{% set add_generation_prompt = 5 %}{{ add_generation_prompt }}",
    "macro_defaults_kwargs": "{% macro m(a, b='d', c=none) %}{{ a }}-{{ b }}-{{ c }}-{{ varargs }}-{{ kwargs }}{% endmacro %}"
                             "{{ m(1) }}|{{ m(1, 2, 3, 4, x=5) }}|{{ m(a='k', c=true) }}",
    "macro_too_many_args": "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}",
    "macro_unknown_kwarg": "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(b=1) }}",
    "cycler_joiner": "{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}{{ c.current }}"
                     "{% set j = joiner(', ') %}{% for x in items_ %}{{ j() }}{{ x }}{% endfor %}",
    "macro_caller": "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}in{% endcall %}"
                    "{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(v) each([1, 2]) %}[{{ v }}]{% endcall %}",
    "macro_outer_scope": "{% set g = 'G' %}{% macro m() %}{{ g }}{{ messages|length }}{% endmacro %}{{ m() }}",
    "filter_block": "{% filter upper %}abc {{ 'd' }}{% endfilter %}{% filter trim %}   t   {% endfilter %}",
    "raw_block": "{% raw %}{{ not rendered }} {% if %}{% endraw %}",
    "comment": "a{# comment #}b{#- trimmed -#} c",
    "dict_builtin": "{{ dict(a=1, b='x') }} {{ dict(a=1)|tojson }}",
    "raise_exception": "{% if messages|length > 1 %}{{ raise_exception('Bad order: ' ~ messages|length) }}{% endif %}",
    "range_limit": "{{ range(100001)|length }}",
    "mutation_refused": "{% set l = [1] %}{{ l.append(2) }}",
    # whitespace control: trim_blocks, lstrip_blocks, '-', '+', trailing newline
    "ws_trim_blocks": "{% if true %}\nx\n{% endif %}\ny",
    "ws_lstrip_blocks": "  {% if true %}\n    x\n  {% endif %}\n  y\n",
    "ws_spaces_before_newline": "{% if true %}  \nx{% endif %}",
    "ws_minus": "a  {%- if true -%}  b  {%- endif -%}  c {{- ' d ' -}} e",
    "ws_plus": "  {%+ if true %}x{% endif +%}\ny",
    "ws_comment_trim": "  {# c #}\nx\n{#- c2 #}  y",
    "ws_variable_not_trimmed": "{{ 'a' }}\n{{ 'b' }}\n",
    "ws_trailing_newline": "x\n",
    "ws_two_trailing_newlines": "x\n\n",
    "ws_crlf": "{% if true %}\r\nx\r\n{% endif %}\r\ny\r\n",
    "ws_raw_lstrip": "  {% raw %}\n  r\n  {% endraw %}\nz",
    "ws_nested_blocks": "{%- for m in messages %}\n    {%- if m.role == 'user' %}\n        {{- m.content }}\n    {%- endif %}\n{%- endfor %}\n",
    # syntax errors
    "syntax_unclosed_if": "{% if true %}x",
    "syntax_bad_expression": "{{ 1 + }}",
    "syntax_endfor_without_for": "{% endfor %}",
    "syntax_elif_after_else": "{% if 1 %}{% else %}{% elif 2 %}{% endif %}",
}
