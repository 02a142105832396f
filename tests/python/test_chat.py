"""Chat sessions (llm4all.Model.chat / chat_session, the core's llm4all_chat_*):
replies equal greedy generation on the prompt transformers renders from the model's
own template, later turns decode only their new tokens, old turns are dropped to
fit n_ctx, reasoning is split off, stop strings and stop reasons, abort."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import llm4all
from chat_template_cases import reference_render, transformers_renderer

GREEDY = dict(temp=0, repeat_penalty=1.0)

needs_transformers = pytest.mark.skipif(transformers_renderer() is None,
                                        reason="transformers is not installed (the reference renderer)")


def _model(path, **kw):
    return llm4all.Model(str(path), n_threads=2, **kw)


def _reference_prompt(model, messages, **variables):
    return reference_render(model.chat_template, messages, add_generation_prompt=True,
                            **model.special_token_strings(), **variables)


CONVERSATION = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "Name three colours of the rainbow."},
]


@needs_transformers
@pytest.mark.parametrize("name", ["smollm2", "qwen05"])
def test_chat_equals_greedy_on_the_reference_prompt(name, request):
    model = _model(request.getfixturevalue(name))
    prompt = _reference_prompt(model, CONVERSATION)
    assert model.apply_chat_template(CONVERSATION) == prompt
    expected = model.generate(prompt, max_tokens=24, **GREEDY)
    fresh = _model(request.getfixturevalue(name))
    assert fresh.chat(CONVERSATION, max_tokens=24, **GREEDY) == expected
    assert fresh.last_stats["prompt_tokens"] == len(model.tokenize(prompt, add_special=False, parse_special=True))
    # temp=0 alone is greedy: the repeat penalty is off by default (the C ABI's defaults).
    assert _model(request.getfixturevalue(name)).chat(CONVERSATION, max_tokens=24, temp=0) == expected


@needs_transformers
def test_second_turn_decodes_only_new_tokens(smollm2):
    model = _model(smollm2)
    chat = model.chat_session(system_message="You are a helpful assistant.")
    chat.send("What is the capital of France?", max_tokens=16, **GREEDY)
    first = chat.stats
    assert first["reused_tokens"] == 0 and first["decoded_tokens"] == first["prompt_tokens"]
    cached = model.session.n_past
    chat.send("And of Italy?", max_tokens=16, **GREEDY)
    second = chat.stats
    # What the cache held is reused up to the first token that differs from the new prompt.
    prompt = _reference_prompt(model, chat.history[:-1])
    tokens = model.tokenize(prompt, add_special=False, parse_special=True)
    assert second["prompt_tokens"] == len(tokens)
    assert second["reused_tokens"] + second["decoded_tokens"] == second["prompt_tokens"]
    assert 0 < second["decoded_tokens"] < 30
    assert second["reused_tokens"] >= first["prompt_tokens"] and second["reused_tokens"] <= cached
    # The reply after reuse is what a fresh model gives on the whole prompt.
    reply = chat.history[-1]["content"]
    fresh = _model(smollm2)
    assert fresh.generate(prompt, max_tokens=16, **GREEDY) == reply


def test_history_reset_and_messages(smollm2):
    model = _model(smollm2)
    with model.chat_session(system_message="Be brief.") as chat:
        chat.send("Hi", max_tokens=4, **GREEDY)
        h = chat.history
        assert [m["role"] for m in h] == ["system", "user", "assistant"]
        assert h[0]["content"] == "Be brief." and h[1]["content"] == "Hi"
        chat.reset()
        assert chat.history == [{"role": "system", "content": "Be brief."}]
        chat.history = [{"role": "user", "content": "héllo ✓ 你好", "name": "x"}]
        assert chat.history == [{"role": "user", "content": "héllo ✓ 你好", "name": "x"}]
        assert "héllo ✓ 你好" in chat.render()
        with pytest.raises(llm4all.Error, match="role"):
            chat.history = [{"content": "no role"}]


def test_oldest_turns_are_dropped_to_fit(smollm2):
    model = _model(smollm2, n_ctx=160)
    chat = model.chat_session(system_message="You are a helpful assistant.")
    for i in range(6):
        chat.send(f"Tell me fact number {i} about the sea, please.", max_tokens=24, **GREEDY)
        assert chat.stats["prompt_tokens"] + min(24, 160 // 4) <= 160 or chat.stats["dropped_messages"] == 0
    h = chat.history
    assert h[0]["role"] == "system"
    assert h[-2]["content"] == "Tell me fact number 5 about the sea, please."
    assert len(h) < 1 + 2 * 6   # some turns went
    strict = _model(smollm2, n_ctx=64).chat_session(on_overflow="error")
    with pytest.raises(llm4all.Error, match="n_ctx"):
        strict.send("word " * 80, max_tokens=4, **GREEDY)


def test_reasoning_is_split_from_the_answer(smollm2):
    # A template that opens <think> in the generation prompt, as DeepSeek-R1's does.
    tpl = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
           "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}")
    model = _model(smollm2)
    chat = model.chat_session(template=tpl)
    raw = model.generate("<|im_start|>user\nWhy is the sky blue?<|im_end|>\n<|im_start|>assistant\n<think>\n",
                         max_tokens=12, **GREEDY)
    answer = chat.send("Why is the sky blue?", max_tokens=12, **GREEDY)
    if "</think>" in raw:
        before, after = raw.split("</think>", 1)
        assert chat.last_reasoning == before.strip() and answer == after.lstrip()
    else:
        assert answer == "" and chat.last_reasoning == raw.strip()
        assert chat.history[-1]["reasoning_content"] == raw.strip()


def test_stop_strings_and_reasons(smollm2):
    model = _model(smollm2)
    full = model.generate("Once upon a time", max_tokens=40, **GREEDY)
    assert model.last_stats["stop_reason"] in ("max_tokens", "eog")
    cut = full.find(" ", 5)
    stop = full[cut:cut + 3]
    text = model.generate("Once upon a time", max_tokens=40, stop=[stop, "zzzz-never"], **GREEDY)
    assert text == full[:full.find(stop)] and model.last_stats["stop_reason"] == "stop_string"
    streamed = "".join(model.generate("Once upon a time", max_tokens=40, stop=stop, streaming=True, **GREEDY))
    assert streamed == text
    model.generate("Once upon a time", max_tokens=3, **GREEDY)
    assert model.last_stats["stop_reason"] == "max_tokens"
    model.generate("Once upon a time", max_tokens=40, callback=lambda t, p: False, **GREEDY)
    assert model.last_stats["stop_reason"] == "aborted"
    small = _model(smollm2, n_ctx=12)
    small.generate("Once upon a time", max_tokens=40, **GREEDY)
    assert small.last_stats["stop_reason"] == "context_full"


def test_clear_errors_for_bad_arguments(smollm2):
    model = _model(smollm2)
    for kw in (dict(max_tokens=2 ** 31), dict(top_k=2 ** 40), dict(seed=2 ** 64), dict(temp="hot"),
               dict(repeat_last_n=-1)):
        with pytest.raises((ValueError, TypeError), match=next(iter(kw))):
            model.generate("x", **kw)
    with pytest.raises(ValueError, match="n_ctx"):
        _model(smollm2, n_ctx=2 ** 31)
    with pytest.raises(ValueError, match="out of range"):
        model.score([1, 2 ** 31])
    # seed -1 / None: random; a fixed seed repeats.
    a = model.generate("Once", max_tokens=12, temp=1.5, seed=7)
    assert model.generate("Once", max_tokens=12, temp=1.5, seed=7) == a
    outs = {model.generate("Once", max_tokens=12, temp=1.5, seed=-1) for _ in range(4)}
    assert len(outs) > 1


def test_ctrl_c_interrupts_a_non_streaming_call(smollm2, tmp_path):
    # A long prompt in one 2048-token batch on one thread (several seconds): SIGINT must
    # end the call within a layer or two, not at the end of the batch.
    script = textwrap.dedent(f"""
        import sys, time, llm4all
        m = llm4all.Model({str(smollm2)!r}, n_ctx=4096, n_batch=2048, n_threads=1)
        print("ready", flush=True)
        t = time.perf_counter()
        try:
            m.generate("word " * 3000, max_tokens=1000, temp=0)
            print("finished", flush=True)
        except KeyboardInterrupt:
            print("interrupted %.2f" % (time.perf_counter() - t), flush=True)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    t0 = time.perf_counter()
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    assert out.startswith("interrupted"), out
    assert time.perf_counter() - t0 < 2


def test_template_errors(smollm2):
    model = _model(smollm2)
    with pytest.raises(llm4all.TemplateError, match="line 1"):
        model.chat_session(template="{% for x in %}")
    chat = model.chat_session(template="{{ raise_exception('no system role here') }}")
    with pytest.raises(llm4all.TemplateError, match="no system role here"):
        chat.send("hi", max_tokens=2)
    assert issubclass(llm4all.TemplateError, llm4all.Error)
