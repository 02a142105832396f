#!/usr/bin/env python3
"""Chat-template rendering speed: a 20-turn Qwen2.5 conversation with tools and tool calls
(tests/python/chat_templates/qwen2.5-coder-0.5b-instruct.jinja), rendered N times by llm4all
and by transformers' jinja2 renderer, checked equal first. Prints the median microseconds per
render of each path:

  llm4all render_chat_template   the public Python call: json.dumps of the context + C ABI render
  llm4all C ABI only             _core.render_chat_template on a context JSON encoded once
                                 (parse template + JSON + render + copy out, per call)
  json.dumps of the context      the Python-side encoding alone
  transformers render_jinja_template   transformers' whole path (compiled template cached)
  jinja2 Template.render         the compiled jinja2 template alone

    python tools/bench_chat_template.py [-n 2000]
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))

import llm4all  # noqa: E402
from llm4all import _core  # noqa: E402

from chat_template_cases import (LONG_TEXT, SYSTEM, TOOLS, WEATHER_ARGS, SEARCH_ARGS, load_template,  # noqa: E402
                                 reference_render, tool_call, transformers_renderer)


def conversation(turns: int = 20):
    """A system message and `turns` user turns, each answered; every other turn goes through
    two parallel tool calls and their results first."""
    msgs = [{"role": "system", "content": SYSTEM}]
    for i in range(turns):
        msgs.append({"role": "user", "content": f"Question {i}: what is the weather in city {i}? " + LONG_TEXT[:300]})
        if i % 2 == 0:
            msgs.append({"role": "assistant", "content": "", "tool_calls": [
                tool_call(i, "get_current_weather", WEATHER_ARGS), tool_call(100 + i, "web_search", SEARCH_ARGS)]})
            msgs.append({"role": "tool", "tool_call_id": f"call{i:05d}", "content": '{"temperature": 21.5}'})
            msgs.append({"role": "tool", "tool_call_id": f"call{100 + i:05d}", "content": "Tokyo: capital of Japan"})
        msgs.append({"role": "assistant", "content": f"Answer {i}: it is sunny, 21.5 °C. " + LONG_TEXT[:200]})
    return msgs


def median_us(fns, n):
    """Median microseconds per call of each function, called round-robin so that a busy
    machine slows every path alike."""
    for fn in fns:
        for _ in range(min(50, n)):
            fn()
    times = [[] for _ in fns]
    for _ in range(n):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) * 1e6 for ts in times]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=2000, help="renders per path (default 2000)")
    args = ap.parse_args()

    template = load_template("qwen2.5-coder-0.5b-instruct")
    msgs = conversation(20)
    kwargs = dict(add_generation_prompt=True, tools=TOOLS, bos_token="<|endoftext|>", eos_token="<|im_end|>")
    ours = llm4all.render_chat_template(template, msgs, **kwargs)
    ctx = {"messages": msgs, "add_generation_prompt": True, "tools": TOOLS, "bos_token": "<|endoftext|>",
           "eos_token": "<|im_end|>"}
    ctx_json = json.dumps(ctx, ensure_ascii=False)
    print(f"conversation: {len(msgs)} messages ({sum(1 for m in msgs if m['role'] == 'user')} user turns), "
          f"{len(TOOLS)} tools; template {len(template)} bytes; prompt {len(ours.encode())} bytes")

    paths = [("llm4all render_chat_template", lambda: llm4all.render_chat_template(template, msgs, **kwargs)),
             ("llm4all C ABI only", lambda: _core.render_chat_template(template, ctx_json)),
             ("json.dumps of the context", lambda: json.dumps(ctx, ensure_ascii=False))]
    if transformers_renderer() is not None:
        ref = reference_render(template, msgs, **kwargs)
        print("output equals transformers':", ref == ours)
        compiled = transformers_renderer()._compile_jinja_template(template)
        paths.append(("transformers render_jinja_template", lambda: reference_render(template, msgs, **kwargs)))
        paths.append(("jinja2 Template.render", lambda: compiled.render(messages=msgs, **kwargs)))
    else:
        print("transformers is not installed: llm4all timings only")
    try:
        print("load average:", " ".join(f"{x:.1f}" for x in os.getloadavg()))
    except OSError:
        pass
    for (name, _), us in zip(paths, median_us([fn for _, fn in paths], args.n)):
        print(f"  {name:38s} {us:9.1f} us/render (median of {args.n}, interleaved)")


if __name__ == "__main__":
    main()
