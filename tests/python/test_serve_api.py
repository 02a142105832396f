"""`llm4all serve` through the official `openai` client and raw httpx, against live servers
(tests/python/live_server.py): chat (greedy equals Model.chat at temperature 0, streamed text
equals non-streamed), completions (greedy equals Model.generate, echo, legacy logprobs),
logprobs, json_schema (validated with jsonschema), tools, reasoning, every error status in
OpenAI's shape with the server still answering correctly afterwards, API key, CORS, body
limit, 503 when full, host refusal. One server per purpose, started once per module."""

from __future__ import annotations

import json
import math
import random
import sys
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
openai = pytest.importorskip("openai")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_server import live_server, run_cli  # noqa: E402

TEMPLATES = Path(__file__).resolve().parent / "chat_templates"
KEY = "sk-test-0123456789"
ORIGIN = "http://page.example"

CHAT = [{"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "What is the capital of France?"}]
CHAT2 = [{"role": "user", "content": "Name three colours."},
         {"role": "assistant", "content": "Red, green and blue."},
         {"role": "user", "content": "And three fruits?"}]


def client(srv, key="none") -> "openai.OpenAI":
    return openai.OpenAI(base_url=srv.api, api_key=key, max_retries=0, timeout=120)


def sse_events(resp) -> list:
    """The data: payloads of an SSE response, checking the framing ([DONE] last)."""
    events = []
    for block in resp.text.split("\n\n"):
        if not block.strip():
            continue
        assert block.startswith("data: "), block
        events.append(block[6:])
    assert events and events[-1] == "[DONE]", events[-3:]
    return [json.loads(e) for e in events[:-1]]


def chat_prompt_tokens(model, messages) -> list:
    """The prompt tokens of a chat as core/src/chat.cpp makes them (BOS once, specials parsed)."""
    prompt = model.apply_chat_template(messages)
    bos = model.special_token_strings().get("bos_token", "")
    add = model.adds_bos() and not (bos and prompt.startswith(bos))
    return model.tokenize(prompt, add_special=add, parse_special=True)


def assert_error(r, status: int, code=None, type_=None):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    assert isinstance(err["message"], str) and err["message"]
    if code is not None:
        assert err["code"] == code, err
    if type_ is not None:
        assert err["type"] == type_, err
    return err


# ---- servers -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chat_srv(smollm2):
    with live_server(smollm2, "--parallel", "2", "--n-ctx", "1024", "--name", "smollm2") as srv:
        yield srv


@pytest.fixture(scope="module")
def stories_srv(stories260k):
    with live_server(stories260k, "--parallel", "2") as srv:
        yield srv


@pytest.fixture(scope="module")
def strict_srv(smollm2):
    """One slot, no queue, an API key, CORS for one origin, a small body limit and a template that
    opens <think> in the prompt (DeepSeek-R1's)."""
    tpl = TEMPLATES / "deepseek-ai-deepseek-r1-distill-qwen-32b.jinja"
    with live_server(smollm2, "--parallel", "1", "--queue-size", "0", "--api-key", KEY, "--cors-origin", ORIGIN,
                     "--max-body", "65536", "--chat-template", str(tpl), "--name", "smollm2") as srv:
        yield srv


@pytest.fixture(scope="module")
def smol_model(smollm2):
    import llm4all
    return llm4all.Model(smollm2, n_ctx=1024)


@pytest.fixture(scope="module")
def stories_model(stories260k):
    import llm4all
    return llm4all.Model(stories260k)


# ---- unit: the reasoning splitter ------------------------------------------------------------

def test_reasoning_splitter_matches_whole_text_split():
    from llm4all.serve.reasoning import ReasoningSplitter, split_reasoning
    pieces = ["<think>", "</think>", "<th", "ink>", "</", "think", ">", " ", "\n", "a", "b c", "<", "t"]
    rng = random.Random(7)
    for _ in range(20000):
        s = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))
        opened = rng.random() < 0.3
        cuts = sorted(rng.sample(range(len(s) + 1), min(len(s) + 1, rng.randint(0, 5))))
        sp = ReasoningSplitter(opened)
        out = []
        for a, b in zip([0] + cuts, cuts + [len(s)]):
            out += sp.feed(s[a:b])
        out += sp.finish()
        got = ("".join(t for k, t in out if k == "reasoning"), "".join(t for k, t in out if k == "content"))
        assert got == split_reasoning(s, opened), (s, opened, cuts)


def test_reasoning_split_reference_cases():
    from llm4all.serve.reasoning import split_reasoning
    assert split_reasoning("  <think> hm \n</think>\n\nYes.", False) == ("hm", "Yes.")
    assert split_reasoning("hm</think> Yes", True) == ("hm", "Yes")
    assert split_reasoning("  plain", False) == ("", "  plain")
    assert split_reasoning("<think>never closed  ", False) == ("never closed", "")


# ---- models, health ------------------------------------------------------------------------------

def test_models_and_health(chat_srv):
    c = client(chat_srv)
    ids = [m.id for m in c.models.list().data]
    assert ids == ["smollm2"]
    assert c.models.retrieve("smollm2").id == "smollm2"
    with pytest.raises(openai.NotFoundError):
        c.models.retrieve("gpt-4")
    h = httpx.get(chat_srv + "/health").json()
    assert h["status"] == "ok" and h["n_parallel"] == 2 and h["n_ctx"] == 1024


# ---- chat ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("messages", [CHAT, CHAT2], ids=["system+user", "multi-turn"])
def test_chat_greedy_equals_model_chat(chat_srv, smol_model, messages):
    r = client(chat_srv).chat.completions.create(model="smollm2", messages=messages, temperature=0, max_tokens=24)
    expected = smol_model.chat(messages, temp=0, max_tokens=24)
    ch = r.choices[0]
    assert ch.message.role == "assistant"
    assert ch.message.content == expected
    assert ch.finish_reason in ("stop", "length")
    assert r.object == "chat.completion" and r.model == "smollm2" and r.id.startswith("chatcmpl-")
    assert r.usage.completion_tokens <= 24
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.usage.prompt_tokens == len(chat_prompt_tokens(smol_model, messages))


def test_chat_content_parts_and_unknown_fields(chat_srv, smol_model):
    msgs = [{"role": "user", "content": [{"type": "text", "text": "What is the capital"},
                                         {"type": "text", "text": "of France?"}]}]
    r = httpx.post(chat_srv.api + "/chat/completions", timeout=120, json={
        "model": "smollm2", "messages": msgs, "temperature": 0, "max_tokens": 12,
        "some_future_field": {"x": 1}, "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.0})
    assert r.status_code == 200, r.text
    expected = smol_model.chat([{"role": "user", "content": "What is the capital\nof France?"}], temp=0, max_tokens=12)
    assert r.json()["choices"][0]["message"]["content"] == expected


def test_chat_stream_equals_nonstream(chat_srv):
    c = client(chat_srv)
    full = c.chat.completions.create(model="smollm2", messages=CHAT2, temperature=0, max_tokens=32)
    stream = c.chat.completions.create(model="smollm2", messages=CHAT2, temperature=0, max_tokens=32, stream=True,
                                       stream_options={"include_usage": True})
    text, reasons, usage, roles = [], [], None, []
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            usage = chunk.usage
            assert chunk.choices == []
            continue
        d = chunk.choices[0].delta
        roles.append(d.role)
        if d.content:
            text.append(d.content)
        reasons.append(chunk.choices[0].finish_reason)
    assert roles[0] == "assistant"
    assert "".join(text) == full.choices[0].message.content
    assert [x for x in reasons if x] == [full.choices[0].finish_reason] and reasons[-1] is not None
    assert usage is not None and usage.completion_tokens == full.usage.completion_tokens
    assert usage.prompt_tokens == full.usage.prompt_tokens
    # the same prompt again finds it in an idle slot's cache
    assert 0 < usage.prompt_tokens_details.cached_tokens <= usage.prompt_tokens


def test_chat_stream_sse_framing(chat_srv):
    r = httpx.post(chat_srv.api + "/chat/completions", timeout=120,
                   json={"messages": CHAT, "max_tokens": 4, "temperature": 0, "stream": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r)
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[-1]["choices"][0]["finish_reason"] in ("stop", "length")


def test_chat_logprobs_shape_and_values(chat_srv, smol_model):
    c = client(chat_srv)
    r = c.chat.completions.create(model="smollm2", messages=CHAT, temperature=0, max_tokens=10, logprobs=True,
                                  top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    text = b"".join(bytes(t.bytes) for t in content).decode("utf-8", errors="replace")
    if r.choices[0].finish_reason == "length":
        assert text == r.choices[0].message.content
    for t in content:
        assert t.logprob <= 0 and len(t.top_logprobs) == 3
        tops = [x.logprob for x in t.top_logprobs]
        assert tops == sorted(tops, reverse=True)
        assert t.top_logprobs[0].token == t.token and t.top_logprobs[0].logprob == t.logprob   # greedy
        assert sum(math.exp(x) for x in tops) <= 1 + 1e-9
    # Reference: the model's own scores of the same tokens after the same prompt.
    ptoks = chat_prompt_tokens(smol_model, CHAT)
    gen = [smol_model.tokenize(bytes(t.bytes), add_special=False) for t in content]
    assert all(len(g) == 1 for g in gen), gen     # each piece is its own token again
    ref = smol_model.score(ptoks + [g[0] for g in gen], first=len(ptoks))
    assert [t.logprob for t in content] == pytest.approx(ref, abs=2e-3)

    # The same logprobs arrive in the stream chunks.
    s = c.chat.completions.create(model="smollm2", messages=CHAT, temperature=0, max_tokens=10, logprobs=True,
                                  top_logprobs=3, stream=True)
    streamed = [t for ch in s if ch.choices and ch.choices[0].logprobs for t in ch.choices[0].logprobs.content]
    assert [(t.token, t.logprob) for t in streamed] == [(t.token, t.logprob) for t in content]


def test_chat_stop_top_k_and_seed(chat_srv):
    c = client(chat_srv)
    base = c.chat.completions.create(model="smollm2", messages=CHAT2, temperature=0, max_tokens=24)
    text = base.choices[0].message.content
    # top_k=1 at a high temperature is greedy: the llama.cpp extra reaches the sampler.
    r = c.chat.completions.create(model="smollm2", messages=CHAT2, temperature=1.5, max_tokens=24,
                                  extra_body={"top_k": 1})
    assert r.choices[0].message.content == text
    if "," in text:
        r = c.chat.completions.create(model="smollm2", messages=CHAT2, temperature=0, max_tokens=24, stop=[",", "@@"])
        assert r.choices[0].message.content == text[:text.index(",")]
        assert r.choices[0].finish_reason == "stop"
    a, b = (c.chat.completions.create(model="smollm2", messages=CHAT2, temperature=1.0, max_tokens=16, seed=1234)
            for _ in range(2))
    assert a.choices[0].message.content == b.choices[0].message.content
    # max_completion_tokens wins over max_tokens; a frequency penalty reaches the sampler
    cat = [{"role": "user", "content": "Repeat the word cat many times."}]
    plain = c.chat.completions.create(model="smollm2", messages=cat, temperature=0, max_tokens=30)
    short = c.chat.completions.create(model="smollm2", messages=cat, temperature=0, max_tokens=30,
                                      max_completion_tokens=3)
    assert short.usage.completion_tokens == 3 and short.choices[0].finish_reason == "length"
    assert plain.choices[0].message.content.startswith(short.choices[0].message.content)
    pen = c.chat.completions.create(model="smollm2", messages=cat, temperature=0, max_tokens=30, frequency_penalty=1.5)
    assert pen.choices[0].message.content != plain.choices[0].message.content


def test_json_schema_output_validates(chat_srv):
    jsonschema = pytest.importorskip("jsonschema")
    schema = {"type": "object", "additionalProperties": False, "required": ["name", "age", "city"],
              "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"},
                             "city": {"type": "string", "enum": ["Paris", "Rome", "Oslo"]}}}
    c = client(chat_srv)
    msgs = [{"role": "user", "content": "Describe a person as JSON with name, age and city."}]
    for temp in (0, 1.0):
        r = c.chat.completions.create(model="smollm2", messages=msgs, temperature=temp, max_tokens=80, seed=3,
                                      response_format={"type": "json_schema",
                                                       "json_schema": {"name": "person", "schema": schema}})
        assert r.choices[0].finish_reason == "stop", r.choices[0].message.content
        jsonschema.validate(json.loads(r.choices[0].message.content), schema)
    r = c.chat.completions.create(model="smollm2", messages=msgs, temperature=0, max_tokens=80,
                                  response_format={"type": "json_object"})
    if r.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(r.choices[0].message.content), dict)
    bad = httpx.post(chat_srv.api + "/chat/completions", json={
        "messages": msgs, "response_format": {"type": "json_schema", "json_schema": {"name": "x",
                                                                                        "schema": {"type": 5}}}})
    assert_error(bad, 400, type_="invalid_request_error")


def test_tools_refused_for_a_template_without_tools(chat_srv):
    r = httpx.post(chat_srv.api + "/chat/completions", json={
        "messages": CHAT, "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]})
    err = assert_error(r, 400, code="tools_not_supported")
    assert "tool" in err["message"]
    # tool_choice "none" does not need tool support: the tools are not shown to the model.
    r = httpx.post(chat_srv.api + "/chat/completions", timeout=120, json={
        "messages": CHAT, "max_tokens": 2, "tool_choice": "none",
        "tools": [{"type": "function", "function": {"name": "f"}}]})
    assert r.status_code == 200, r.text


# ---- completions -------------------------------------------------------------------------------

def test_completions_greedy_echo_and_list(stories_srv, stories_model):
    c = client(stories_srv)
    prompts = ["Once upon a time", "The little dog"]
    r = c.completions.create(model=Path(stories_model.path).stem, prompt=prompts, temperature=0, max_tokens=20)
    assert r.object == "text_completion" and len(r.choices) == 2
    for i, p in enumerate(prompts):
        ch = next(x for x in r.choices if x.index == i)
        assert ch.text == stories_model.generate(p, temp=0, max_tokens=20)
    r2 = c.completions.create(model=r.model, prompt=prompts[0], temperature=0, max_tokens=20, echo=True)
    assert r2.choices[0].text == prompts[0] + r.choices[0].text
    # token ids work as prompts too
    toks = stories_model.tokenize(prompts[1])
    r3 = c.completions.create(model=r.model, prompt=[toks], temperature=0, max_tokens=20)
    assert r3.choices[0].text == r.choices[1].text
    # streamed text equals the whole
    s = c.completions.create(model=r.model, prompt=prompts[0], temperature=0, max_tokens=20, stream=True)
    assert "".join(ch.choices[0].text for ch in s if ch.choices) == r.choices[0].text


def test_completions_legacy_logprobs(stories_srv, stories_model):
    r = httpx.post(stories_srv.api + "/completions", timeout=60, json={
        "prompt": "Once upon a time", "temperature": 0, "max_tokens": 12, "logprobs": 3})
    assert r.status_code == 200, r.text
    ch = r.json()["choices"][0]
    lp = ch["logprobs"]
    assert set(lp) == {"tokens", "token_logprobs", "top_logprobs", "text_offset"}
    n = r.json()["usage"]["completion_tokens"]
    assert len(lp["tokens"]) == len(lp["token_logprobs"]) == len(lp["top_logprobs"]) == len(lp["text_offset"]) == n
    if ch["finish_reason"] == "length":
        assert "".join(lp["tokens"]) == ch["text"]
    assert lp["text_offset"] == sorted(lp["text_offset"]) and lp["text_offset"][0] == 0
    for tok, v, top in zip(lp["tokens"], lp["token_logprobs"], lp["top_logprobs"]):
        assert v <= 0 and 1 <= len(top) <= 3
        assert max(top.values()) == pytest.approx(v)   # greedy: the chosen token is the most likely
    toks = stories_model.tokenize("Once upon a time")
    # the token ids behind the pieces (stories260K's 512 pieces are distinct)
    ids = {stories_model.token_to_piece(i).decode("utf-8", "replace"): i for i in range(stories_model.n_vocab)}
    gen = [ids[piece] for piece in lp["tokens"]]
    ref = stories_model.score(toks + gen, first=len(toks))
    assert lp["token_logprobs"] == pytest.approx(ref, abs=2e-3)


def test_completions_echo_logprobs_score_the_prompt(stories_srv, stories_model):
    text = "Once upon a time there was a little girl"
    toks = stories_model.tokenize(text)
    ref = stories_model.score(toks, first=1)
    for max_tokens, stream in ((0, False), (6, False), (6, True)):
        body = {"prompt": text, "echo": True, "logprobs": 2, "max_tokens": max_tokens, "temperature": 0,
                "stream": stream}
        r = httpx.post(stories_srv.api + "/completions", json=body, timeout=60)
        assert r.status_code == 200, r.text
        if stream:
            chunks = [c["choices"][0] for c in sse_events(r) if c["choices"]]
            lp = {k: sum((c["logprobs"][k] for c in chunks if c.get("logprobs")), []) for k in
                  ("tokens", "token_logprobs", "top_logprobs", "text_offset")}
            out = "".join(c["text"] for c in chunks)
        else:
            ch = r.json()["choices"][0]
            lp, out = ch["logprobs"], ch["text"]
        assert out.startswith(text)
        assert len(lp["tokens"]) == len(toks) + (max_tokens if len(lp["tokens"]) > len(toks) else 0)
        assert lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None
        assert lp["token_logprobs"][1:len(toks)] == pytest.approx(ref, abs=2e-3)
        for v, top in zip(lp["token_logprobs"][1:], lp["top_logprobs"][1:]):
            assert len(top) == 2 and v <= max(top.values()) + 1e-9
        assert lp["text_offset"] == sorted(lp["text_offset"])


# ---- errors ----------------------------------------------------------------------------------------

BAD_CHAT = [
    ("bad json", b'{"messages": [', 400, "invalid_json"),
    ("empty body", b"", 400, "invalid_json"),
    ("not an object", b"[1, 2]", 400, None),
    ("no messages", {"model": "smollm2"}, 400, None),
    ("empty messages", {"messages": []}, 400, None),
    ("bad role", {"messages": [{"role": "robot", "content": "x"}]}, 400, None),
    ("content a number", {"messages": [{"role": "user", "content": 5}]}, 400, None),
    ("user without content", {"messages": [{"role": "user"}]}, 400, None),
    ("temperature a string", {"messages": CHAT, "temperature": "hot"}, 400, None),
    ("temperature out of range", {"messages": CHAT, "temperature": 3}, 400, None),
    ("top_p out of range", {"messages": CHAT, "top_p": 1.5}, 400, None),
    ("NaN", b'{"messages": [{"role": "user", "content": "x"}], "temperature": NaN}', 400, None),
    ("max_tokens a float", {"messages": CHAT, "max_tokens": 2.5}, 400, None),
    ("max_tokens negative", {"messages": CHAT, "max_tokens": -1}, 400, None),
    ("n=2", {"messages": CHAT, "n": 2}, 400, None),
    ("stream a string", {"messages": CHAT, "stream": "yes"}, 400, None),
    ("stop a number", {"messages": CHAT, "stop": 7}, 400, None),
    ("top_logprobs without logprobs", {"messages": CHAT, "top_logprobs": 2}, 400, None),
    ("top_logprobs too many", {"messages": CHAT, "logprobs": True, "top_logprobs": 50}, 400, None),
    ("presence_penalty out of range", {"messages": CHAT, "presence_penalty": 9}, 400, None),
    ("bad response_format", {"messages": CHAT, "response_format": {"type": "xml"}}, 400, None),
    ("image content", {"messages": [{"role": "user", "content": [{"type": "image_url",
                                                                  "image_url": {"url": "http://x"}}]}]}, 400, None),
    ("tool_choice without tools", {"messages": CHAT, "tool_choice": "required"}, 400, None),
    ("context too long", {"messages": CHAT, "max_tokens": 100000}, 400, "context_length_exceeded"),
    ("prompt too long", {"messages": [{"role": "user", "content": "word " * 1500}]}, 400, "context_length_exceeded"),
    ("unknown model", {"model": "gpt-4o", "messages": CHAT}, 404, "model_not_found"),
]


def test_errors_have_openai_shape_and_the_server_still_answers(chat_srv, smol_model):
    import threading
    url = chat_srv.api + "/chat/completions"
    # A greedy stream runs while the bad requests arrive: it must come out exactly as alone.
    streamed = []

    def stream():
        s = client(chat_srv).chat.completions.create(model="smollm2", messages=CHAT2, temperature=0, max_tokens=40,
                                                     stream=True)
        streamed.extend(ch.choices[0].delta.content or "" for ch in s if ch.choices)

    t = threading.Thread(target=stream)
    t.start()
    for name, body, status, code in BAD_CHAT:
        kw = {"content": body, "headers": {"content-type": "application/json"}} if isinstance(body, bytes) \
            else {"json": body}
        r = httpx.post(url, timeout=60, **kw)
        err = assert_error(r, status, code)
        if status == 400:
            assert err["type"] == "invalid_request_error", name
    assert_error(httpx.post(chat_srv.api + "/completions", json={"prompt": "x", "n": 3}), 400)
    assert_error(httpx.post(chat_srv.api + "/completions", json={"prompt": []}), 400)
    assert_error(httpx.post(chat_srv.api + "/completions", json={"prompt": 3.5}), 400)
    assert_error(httpx.post(chat_srv.api + "/completions", json={"prompt": [1, 10 ** 8]}), 400)
    assert_error(httpx.post(chat_srv.api + "/completions", json={"prompt": [[]]}), 400)
    assert_error(httpx.post(chat_srv.api + "/completions", json={"prompt": ["a", 1]}), 400)
    assert_error(httpx.get(chat_srv.api + "/nothing/here"), 404, type_="not_found_error")
    assert_error(httpx.post(chat_srv + "/nothing"), 404)
    assert_error(httpx.get(url), 405)
    assert_error(httpx.delete(chat_srv.api + "/models"), 405)
    # the openai client raises its own typed errors on them
    c = client(chat_srv)
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="smollm2", messages=CHAT, max_tokens=100000)
    assert e.value.code == "context_length_exceeded"
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.create(model="nope", messages=CHAT)
    # ... and good requests still get exactly the right answer
    r = c.chat.completions.create(model="smollm2", messages=CHAT, temperature=0, max_tokens=12)
    assert r.choices[0].message.content == smol_model.chat(CHAT, temp=0, max_tokens=12)
    t.join()
    assert "".join(streamed) == smol_model.chat(CHAT2, temp=0, max_tokens=40)


def test_body_limit(strict_srv):
    h = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    big = json.dumps({"messages": [{"role": "user", "content": "a" * 100000}]}).encode()
    assert_error(httpx.post(strict_srv.api + "/chat/completions", content=big, headers=h), 413,
                 "request_too_large")

    def chunks():     # no Content-Length: the bytes received are counted
        for i in range(0, len(big), 8192):
            yield big[i:i + 8192]
    assert_error(httpx.post(strict_srv.api + "/chat/completions", content=chunks(), headers=h), 413)
    assert httpx.get(strict_srv + "/health").status_code == 200


def test_api_key(strict_srv):
    url = strict_srv.api + "/models"
    assert_error(httpx.get(url), 401, "invalid_api_key", "authentication_error")
    assert_error(httpx.get(url, headers={"authorization": "Bearer wrong"}), 401)
    assert_error(httpx.get(url, headers={"authorization": KEY}), 401)
    assert_error(httpx.post(strict_srv.api + "/chat/completions", json={"messages": CHAT}), 401)
    with pytest.raises(openai.AuthenticationError):
        client(strict_srv, "wrong").models.list()
    assert [m.id for m in client(strict_srv, KEY).models.list().data] == ["smollm2"]
    # the page and the health check need no key
    assert httpx.get(strict_srv + "/health").status_code == 200
    assert httpx.get(strict_srv + "/").status_code == 200


def test_cors(strict_srv, chat_srv):
    pre = httpx.options(strict_srv.api + "/chat/completions", headers={
        "origin": ORIGIN, "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, x-stainless-lang"})
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == ORIGIN
    assert "x-stainless-lang" in pre.headers["access-control-allow-headers"].lower()
    bad = httpx.options(strict_srv.api + "/chat/completions", headers={
        "origin": "http://evil.example", "access-control-request-method": "POST"})
    assert bad.status_code == 400 and "access-control-allow-origin" not in bad.headers
    r = httpx.get(strict_srv.api + "/models", headers={"origin": ORIGIN, "authorization": f"Bearer {KEY}"})
    assert r.headers.get("access-control-allow-origin") == ORIGIN
    r = httpx.get(strict_srv.api + "/models", headers={"origin": "http://evil.example",
                                                       "authorization": f"Bearer {KEY}"})
    assert "access-control-allow-origin" not in r.headers
    # no --cors-origin: no CORS headers at all
    r = httpx.get(chat_srv.api + "/models", headers={"origin": ORIGIN})
    assert "access-control-allow-origin" not in r.headers


# A reply that cannot end early: at least 1000 integers (the constraint forbids stopping sooner).
LONG = {"messages": [{"role": "user", "content": "List numbers."}], "max_tokens": 3000, "temperature": 1.0, "seed": 5,
        "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {
            "type": "array", "minItems": 1000, "items": {"type": "integer"}}}}}


def wait_idle(srv, seconds=10.0) -> int:
    deadline = time.monotonic() + seconds
    while httpx.get(srv + "/health").json()["slots_busy"] and time.monotonic() < deadline:
        time.sleep(0.05)
    return httpx.get(srv + "/health").json()["slots_busy"]


def test_busy_503_and_disconnect_frees_the_slot(strict_srv):
    h = {"authorization": f"Bearer {KEY}"}
    body = {**LONG, "stream": True}
    with httpx.Client(timeout=60) as hc:
        with hc.stream("POST", strict_srv.api + "/chat/completions", json=body, headers=h) as s:
            assert s.status_code == 200
            lines = s.iter_lines()
            next(x for x in lines if x.startswith("data: "))    # generation has started
            r = httpx.post(strict_srv.api + "/chat/completions", headers=h,
                           json={"messages": CHAT, "max_tokens": 2})
            err = assert_error(r, 503, type_="overloaded_error")
            assert "busy" in err["message"]
            assert httpx.get(strict_srv + "/health").json()["slots_busy"] == 1
        # the stream is closed mid-generation: the slot frees
    assert wait_idle(strict_srv) == 0
    r = httpx.post(strict_srv.api + "/chat/completions", headers=h, timeout=60,
                   json={"messages": CHAT, "max_tokens": 2})
    assert r.status_code == 200, r.text


def test_nonstream_disconnect_frees_the_slot(strict_srv):
    import threading
    h = {"authorization": f"Bearer {KEY}"}
    errors = []

    def request():
        try:
            httpx.post(strict_srv.api + "/chat/completions", json=LONG, headers=h, timeout=4)
        except httpx.TimeoutException as e:
            errors.append(e)     # the client gives up and closes the connection

    t = threading.Thread(target=request)
    t.start()
    time.sleep(2)
    assert httpx.get(strict_srv + "/health").json()["slots_busy"] == 1
    t.join()
    assert errors, "the long request finished before the client gave up"
    assert wait_idle(strict_srv, 5) == 0
    r = httpx.post(strict_srv.api + "/chat/completions", headers=h, timeout=60, json={"messages": CHAT, "max_tokens": 2})
    assert r.status_code == 200, r.text


def test_reasoning_content_as_core_chat(strict_srv, smol_model):
    tpl = (TEMPLATES / "deepseek-ai-deepseek-r1-distill-qwen-32b.jinja").read_text()
    msgs = [{"role": "user", "content": "Is 7 prime?"}]
    c = client(strict_srv, KEY)
    r = c.chat.completions.create(model="smollm2", messages=msgs, temperature=0, max_tokens=40)
    session = smol_model.chat_session(template=tpl)
    session.history = msgs
    answer = session.send(None, temp=0, max_tokens=40)
    m = r.choices[0].message.model_dump()
    assert m["content"] == answer
    assert m.get("reasoning_content", None) in ((session.last_reasoning or None),)
    s = c.chat.completions.create(model="smollm2", messages=msgs, temperature=0, max_tokens=40, stream=True)
    content, reasoning = [], []
    for ch in s:
        d = ch.choices[0].delta.model_dump() if ch.choices else {}
        content.append(d.get("content") or "")
        reasoning.append(d.get("reasoning_content") or "")
    assert "".join(content) == answer and "".join(reasoning) == session.last_reasoning
    # constrained JSON after a prompt that opened <think> is the answer, not reasoning
    r = c.chat.completions.create(model="smollm2", messages=msgs, temperature=0, max_tokens=60,
                                  response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": {
                                      "type": "object", "properties": {"prime": {"type": "boolean"}},
                                      "required": ["prime"], "additionalProperties": False}}})
    assert isinstance(json.loads(r.choices[0].message.content)["prime"], bool)


# ---- tools (Qwen2.5's template supports them) -------------------------------------------------------

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TIME = {"type": "function", "function": {
    "name": "get_time", "description": "Current time in a timezone",
    "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]}}}


@pytest.fixture(scope="module")
def tools_srv(qwen05):
    with live_server(qwen05, "--parallel", "1", "--n-ctx", "2048", "--name", "qwen05") as srv:
        yield srv


def test_tools_forced_auto_and_stream(tools_srv):
    c = openai.OpenAI(base_url=tools_srv.api, api_key="x", max_retries=0, timeout=300)
    msgs = [{"role": "user", "content": "What is the weather in Paris right now?"}]
    r = c.chat.completions.create(model="qwen05", messages=msgs, tools=[WEATHER, TIME], temperature=0, max_tokens=60,
                                  tool_choice={"type": "function", "function": {"name": "get_weather"}})
    ch = r.choices[0]
    assert ch.finish_reason == "tool_calls", ch
    call = ch.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather" and call.id
    assert isinstance(json.loads(call.function.arguments)["city"], str)

    r = c.chat.completions.create(model="qwen05", messages=msgs, tools=[WEATHER, TIME], temperature=0, max_tokens=60,
                                  tool_choice="required")
    assert r.choices[0].finish_reason == "tool_calls"
    assert r.choices[0].message.tool_calls[0].function.name in ("get_weather", "get_time")

    auto = c.chat.completions.create(model="qwen05", messages=msgs, tools=[WEATHER], temperature=0, max_tokens=60)
    s = c.chat.completions.create(model="qwen05", messages=msgs, tools=[WEATHER], temperature=0, max_tokens=60,
                                  stream=True)
    content, calls, reasons = [], [], []
    for chunk in s:
        d = chunk.choices[0].delta
        content.append(d.content or "")
        calls += d.tool_calls or []
        reasons.append(chunk.choices[0].finish_reason)
    assert [x for x in reasons if x] == [auto.choices[0].finish_reason]
    if auto.choices[0].message.tool_calls:
        assert [(x.function.name, x.function.arguments) for x in calls] == \
            [(x.function.name, x.function.arguments) for x in auto.choices[0].message.tool_calls]
        # a tool result goes back in, and the model answers from it
        call = auto.choices[0].message.tool_calls[0]
        msgs2 = msgs + [{"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21, "sky": "clear"}'}]
        r = c.chat.completions.create(model="qwen05", messages=msgs2, tools=[WEATHER], temperature=0, max_tokens=30)
        assert r.choices[0].message.content
    else:
        assert "".join(content).strip() == (auto.choices[0].message.content or "").strip()


# ---- the command line --------------------------------------------------------------------------

def test_refuses_public_host_without_key(stories260k):
    r = run_cli("serve", str(stories260k), "--host", "0.0.0.0", "--port", "1")
    assert r.returncode == 1 and "refusing to bind 0.0.0.0 without --api-key" in r.stderr
    assert "Traceback" not in r.stderr
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        r = run_cli("serve", str(stories260k), "--port", str(taken.getsockname()[1]))
    assert r.returncode == 1 and "cannot listen on" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("serve", "--help")
    assert r.returncode == 0 and "--api-key" in r.stdout and "--cors-origin" in r.stdout
