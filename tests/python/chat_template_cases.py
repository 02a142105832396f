"""Conversations and the transformers reference for the chat-template conformance tests.

Shared by tests/python/test_chat_template.py and tools/bench_chat_template.py: the corpus of
real templates (tests/python/chat_templates), the conversations each one is rendered over,
and `reference_render`, which renders exactly as transformers' apply_chat_template(...,
tokenize=False) does, through transformers' own functions (no copy of them here).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Dict, List, Optional

TEMPLATES_DIR = Path(__file__).resolve().parent / "chat_templates"


def template_names() -> List[str]:
    return sorted(p.stem for p in TEMPLATES_DIR.glob("*.jinja"))


def load_template(name: str) -> str:
    # newline="" keeps the bytes as the model ships them (a \r\n would otherwise become \n).
    with open(TEMPLATES_DIR / f"{name}.jinja", encoding="utf-8", newline="") as f:
        return f.read()


def template_tokens(name: str) -> Dict[str, Any]:
    with open(TEMPLATES_DIR / "tokens.json", encoding="utf-8") as f:
        return json.load(f).get(name, {})


# ---- the reference: transformers' renderer ------------------------------------------------

def transformers_renderer():
    """transformers' chat_template_utils module, or None when transformers (or jinja2) is absent."""
    try:
        from transformers.utils import chat_template_utils  # noqa: F401
        import jinja2  # noqa: F401
    except Exception:  # ImportError, or a broken install
        return None
    return chat_template_utils


def reference_render(template: str, messages: List[Dict[str, Any]], *, add_generation_prompt: bool = True,
                     tools: Optional[List[Any]] = None, **variables: Any) -> str:
    """What tokenizer.apply_chat_template(messages, tools=tools, chat_template=template,
    add_generation_prompt=..., tokenize=False, **variables) returns, given that the tokenizer's
    special tokens are passed in `variables`: the same normalisation of the messages (keys whose
    value is None are dropped, in transformers versions that do it) and the same
    render_jinja_template call (tools=None and documents=None are passed as variables)."""
    ctu = transformers_renderer()
    if ctu is None:
        raise RuntimeError("transformers is not installed")
    normalize = getattr(ctu, "_normalize_chat_messages", None)
    if normalize is not None:
        messages = normalize(messages)
    documents = variables.pop("documents", None)  # apply_chat_template's own argument
    render = getattr(ctu, "render_jinja_template", None)
    if render is not None:
        rendered, _ = render(conversations=[messages], tools=tools, documents=documents, chat_template=template,
                             add_generation_prompt=add_generation_prompt, **variables)
        return rendered[0]
    # transformers < 4.50: apply_chat_template rendered the compiled template itself.
    compiled = ctu._compile_jinja_template(template)
    return compiled.render(messages=messages, tools=tools, documents=documents,
                           add_generation_prompt=add_generation_prompt, **variables)


# ---- conversations ----------------------------------------------------------------------------

SYSTEM = "You are a helpful assistant."

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "description": "Forecast days", "minimum": 1, "maximum": 10},
            },
            "required": ["location"],
        },
    },
}

SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "web_search",
        "description": "Search the web. Returns the top results as \"title: snippet\" lines.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to search for (any language: 東京, Zürich)"},
                "max_results": {"type": "number", "default": 5.0},
                "safe": {"type": "boolean", "default": True},
                "filters": {"type": "array", "items": {"type": "string"}, "nullable": True},
            },
            "required": ["query"],
        },
    },
}

TOOLS = [WEATHER_TOOL, SEARCH_TOOL]


def tool_call(i: int, name: str, arguments: Any) -> Dict[str, Any]:
    # Mistral's templates require 9-character alphanumeric ids; others ignore the id.
    return {"id": f"call{i:05d}", "type": "function", "function": {"name": name, "arguments": arguments}}


WEATHER_ARGS = {"location": "Paris, France", "unit": "celsius", "days": 3}
SEARCH_ARGS = {"query": "日本の首都", "max_results": 2.5, "safe": True, "filters": None, "tags": ["a", "b"]}

LONG_TEXT = ("The quick brown fox jumps over the lazy dog. " * 40 + "\n") * 5
UNICODE_TEXT = "Grüße aus Zürich! 你好，世界。こんにちは 🌍🚀👩‍👩‍👧 — ñ é ü ß; مرحبا; Привет; e\u0301 \u200b"
JINJA_TEXT = "{{ messages }} {% if true %}x{% endif %} {# comment #} {{ raise_exception('no') }} {%- raw %}"
SPECIAL_TEXT = "quotes ' \" back\\slash \\n tab\there\r\nCRLF <|im_end|> </s> <s> [INST] {\"json\": [1, 2.5, null]}"
WHITESPACE_TEXT = "  \n  padded with spaces and newlines \t \n\n"


def _conv(*pairs: tuple) -> List[Dict[str, Any]]:
    return [{"role": r, "content": c} for r, c in pairs]


def conversations() -> Dict[str, Dict[str, Any]]:
    """name -> {"messages", optional "tools", optional "variables"}. Every one is rendered
    with add_generation_prompt on and off."""
    c: Dict[str, Dict[str, Any]] = {}
    c["user"] = {"messages": _conv(("user", "Hello!"))}
    c["system_user"] = {"messages": _conv(("system", SYSTEM), ("user", "What is 2+2?"))}
    c["user_assistant"] = {"messages": _conv(("user", "Hi"), ("assistant", "Hello! How can I help?"))}
    c["three_turns"] = {"messages": _conv(("user", "Hi"), ("assistant", "Hello."), ("user", "Tell me a joke."))}
    c["system_five_turns"] = {"messages": _conv(
        ("system", SYSTEM), ("user", "One"), ("assistant", "Two"), ("user", "Three"), ("assistant", "Four"),
        ("user", "Five"))}
    turns = []
    for i in range(10):
        turns += [("user", f"Question {i}: {LONG_TEXT[: 200 + 37 * i]}"), ("assistant", f"Answer {i}. " + LONG_TEXT)]
    c["long_20_turns"] = {"messages": _conv(("system", SYSTEM + " " + LONG_TEXT), *turns, ("user", "Last one."))}
    c["unicode"] = {"messages": _conv(("system", "Réponds en français 🇫🇷"), ("user", UNICODE_TEXT),
                                      ("assistant", "你好！😀"), ("user", "ελληνικά · 한국어 · हिन्दी"))}
    c["empty_content"] = {"messages": _conv(("system", ""), ("user", ""), ("assistant", ""), ("user", ""))}
    c["jinja_like_content"] = {"messages": _conv(("system", JINJA_TEXT), ("user", JINJA_TEXT),
                                                 ("assistant", "{{ 1 + 1 }}"), ("user", "{% endfor %}"))}
    c["special_chars"] = {"messages": _conv(("user", SPECIAL_TEXT), ("assistant", SPECIAL_TEXT),
                                            ("user", WHITESPACE_TEXT))}
    c["whitespace"] = {"messages": _conv(("system", WHITESPACE_TEXT), ("user", WHITESPACE_TEXT),
                                         ("assistant", "\n\nanswer\n\n"), ("user", " x "))}
    c["consecutive_users"] = {"messages": _conv(("user", "First"), ("user", "Second"))}
    c["assistant_first"] = {"messages": _conv(("assistant", "I start."), ("user", "OK"))}
    c["system_only"] = {"messages": _conv(("system", SYSTEM))}
    c["system_in_middle"] = {"messages": _conv(("user", "Hi"), ("system", "Be brief."), ("user", "Why?"))}
    c["two_systems"] = {"messages": _conv(("system", SYSTEM), ("system", "Format: JSON."), ("user", "Go"))}
    c["extra_keys"] = {"messages": [
        {"role": "user", "content": "Hi", "name": "alice", "id": 7, "metadata": {"lang": "en", "score": 0.5}},
        {"role": "assistant", "content": "Hey", "name": "bot"}, {"role": "user", "content": "Bye"}]}
    c["content_parts"] = {"messages": [
        {"role": "system", "content": [{"type": "text", "text": SYSTEM}]},
        {"role": "user", "content": [{"type": "text", "text": "Describe this:"}, {"type": "image"},
                                     {"type": "text", "text": " please."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]},
        {"role": "user", "content": [{"type": "text", "text": "Thanks"}]}]}
    c["tools_defined_plain_chat"] = {"messages": _conv(("user", "Hello")), "tools": TOOLS}
    c["tools_system_plain_chat"] = {"messages": _conv(("system", SYSTEM), ("user", "Weather?"),
                                                      ("assistant", "Which city?"), ("user", "Paris")), "tools": TOOLS}
    tool_turn = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [tool_call(1, "get_current_weather", WEATHER_ARGS)]},
        {"role": "tool", "tool_call_id": "call00001", "name": "get_current_weather",
         "content": '{"temperature": 21.5, "condition": "sunny"}'},
        {"role": "assistant", "content": "It is 21.5 °C and sunny in Paris."},
        {"role": "user", "content": "Thanks! And search for 東京?"},
    ]
    c["tool_call_dict_args"] = {"messages": tool_turn, "tools": TOOLS}
    c["tool_call_dict_args_pending"] = {"messages": tool_turn[:4], "tools": TOOLS}
    str_args = copy.deepcopy(tool_turn)
    str_args[2]["tool_calls"][0]["function"]["arguments"] = json.dumps(WEATHER_ARGS)
    c["tool_call_string_args"] = {"messages": str_args, "tools": TOOLS}
    none_content = copy.deepcopy(tool_turn[:4])
    none_content[2]["content"] = None
    c["tool_call_content_none"] = {"messages": none_content, "tools": TOOLS}
    no_content = copy.deepcopy(tool_turn[:4])
    del no_content[2]["content"]
    c["tool_call_no_content_key"] = {"messages": no_content, "tools": TOOLS}
    c["parallel_tool_calls"] = {"messages": [
        {"role": "user", "content": "Weather in Paris and search Tokyo"},
        {"role": "assistant", "content": "Let me check both.", "tool_calls": [
            tool_call(2, "get_current_weather", WEATHER_ARGS), tool_call(3, "web_search", SEARCH_ARGS)]},
        {"role": "tool", "tool_call_id": "call00002", "name": "get_current_weather", "content": "21.5"},
        {"role": "tool", "tool_call_id": "call00003", "name": "web_search", "content": "Tokyo: capital of Japan"},
        {"role": "assistant", "content": "Done: 21.5 °C; Tokyo is the capital."}], "tools": TOOLS}
    c["tool_result_no_tools_param"] = {"messages": tool_turn}
    # Older templates (functionary v2, firefunction, Cohere JSON-schema) take bare function specs.
    c["flat_tools"] = {"messages": tool_turn, "tools": [t["function"] for t in TOOLS]}
    c["reasoning_content"] = {"messages": [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4", "reasoning_content": "Two plus two is four."},
        {"role": "user", "content": "3+3?"}]}
    c["think_tags_in_content"] = {"messages": _conv(
        ("system", SYSTEM), ("user", "2+2?"), ("assistant", "<think>\nSimple sum.\n</think>\n\n4"), ("user", "And 3+3?"),
        ("assistant", "<think>x</think>6"))}
    return c


COHERE_TOOLS = [
    {"name": "internet_search", "description": "Returns a list of relevant document snippets for a textual query",
     "parameter_definitions": {"query": {"description": "Query to search the internet with", "type": "str",
                                         "required": True}}},
    {"name": "directly_answer", "description": "Calls a standard (un-augmented) AI chatbot", "parameter_definitions": {}},
]

# Conversations for templates whose tool format is their own; name -> list of extra cases.
TEMPLATE_EXTRAS: Dict[str, List[Dict[str, Any]]] = {
    "fireworks-ai-llama-3-firefunction-v2": [
        {"id": "functions_var", "messages": _conv(("system", SYSTEM), ("user", "Weather in Paris?")),
         "variables": {"functions": json.dumps([t["function"] for t in TOOLS], indent=2), "datetime": "2024-07-26"}},
        {"id": "functions_var_tool_call", "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [tool_call(1, "get_current_weather", WEATHER_ARGS)]},
            {"role": "tool", "tool_call_id": "call00001", "name": "get_current_weather", "content": "21.5"}],
         "variables": {"functions": json.dumps([t["function"] for t in TOOLS]), "datetime": "2024-07-26"}},
    ],
    "hfjs-firefunction-v1": [
        {"id": "functions_message", "messages": [
            {"role": "functions", "content": json.dumps([t["function"] for t in TOOLS], indent=4)},
            {"role": "user", "content": "Weather in Paris?"}]},
        {"id": "system_functions_messages", "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "functions", "content": json.dumps([t["function"] for t in TOOLS])},
            {"role": "user", "content": "Weather in Paris?"}, {"role": "assistant", "content": "Sunny."},
            {"role": "user", "content": "Thanks"}]},
    ],
}
for _cohere in ("cohereforai-c4ai-command-r-plus-tool_use", "hfjs-c4ai-command-r-v01"):
    TEMPLATE_EXTRAS[_cohere] = [
        {"id": "cohere_tools", "messages": _conv(("system", SYSTEM), ("user", "Who won the 2022 World Cup?")),
         "tools": COHERE_TOOLS},
        {"id": "cohere_tools_no_system", "messages": _conv(("user", "Hi"), ("assistant", "Hello"), ("user", "Search it")),
         "tools": COHERE_TOOLS},
    ]


def variants(name: str, template: str) -> Dict[str, Dict[str, Any]]:
    """Extra variable sets a template is rendered with, by what it reads."""
    v: Dict[str, Dict[str, Any]] = {"": {}}
    if "enable_thinking" in template:
        v["think_on"] = {"enable_thinking": True}
        v["think_off"] = {"enable_thinking": False}
    if "date_string" in template:
        v["date"] = {"date_string": "26 Jul 2024"}
    if "builtin_tools" in template:
        v["builtin_tools"] = {"builtin_tools": ["brave_search", "wolfram_alpha"], "date_string": "01 Jan 2025"}
    if "documents" in template:
        v["documents"] = {"documents": [{"title": "Tall penguins", "text": "Emperor penguins are the tallest."},
                                        {"title": "Penguin habitats", "text": "Emperor penguins only live in Antarctica.",
                                         "doc_id": 7}]}
    if "reasoning_effort" in template:
        v["effort_high"] = {"reasoning_effort": "high"}
    if "tools_in_user_message" in template:
        v["tools_in_system"] = {"tools_in_user_message": False, "date_string": "26 Jul 2024"}
    return v


def cases_for(name: str, template: str) -> List[Dict[str, Any]]:
    """Every render case of one template: conversation x add_generation_prompt, plus the
    template-specific variable variants on a few conversations."""
    out = []
    convs = conversations()
    base_vars = template_tokens(name)
    vs = variants(name, template)
    for cname, conv in convs.items():
        for agp in (True, False):
            out.append({"id": f"{cname}-{'gen' if agp else 'nogen'}", "messages": conv["messages"],
                        "tools": conv.get("tools"), "add_generation_prompt": agp, "variables": dict(base_vars)})
    for vname, extra in vs.items():
        if not vname:
            continue
        for cname in ("system_user", "three_turns", "tool_call_dict_args", "reasoning_content", "think_tags_in_content"):
            conv = convs[cname]
            out.append({"id": f"{cname}-{vname}", "messages": conv["messages"], "tools": conv.get("tools"),
                        "add_generation_prompt": True, "variables": {**base_vars, **extra}})
    for extra in TEMPLATE_EXTRAS.get(name, []):
        for agp in (True, False):
            out.append({"id": f"{extra['id']}-{'gen' if agp else 'nogen'}", "messages": extra["messages"],
                        "tools": extra.get("tools"), "add_generation_prompt": agp,
                        "variables": {**base_vars, **extra.get("variables", {})}})
    out.append({"id": "no_special_tokens", "messages": convs["three_turns"]["messages"], "tools": None,
                "add_generation_prompt": True, "variables": {}})
    return out
