"""llm4all.gpt4all against the gpt4all package: scripts from gpt4all's README and docs (2.8.2),
run with `from gpt4all import` turned into `from llm4all.gpt4all import` and the model name
pointing at SmolLM2 (max_tokens lowered where the docs' default would take minutes here);
replies checked against greedy generation on the prompt gpt4all would build (the model's
template rendered by transformers for chat sessions, gpt4all 2.8's prompt-template rule for
2.8 templates). Where the real gpt4all 2.8 runs here it is the reference too (its llama.cpp on
the same weights; see gpt4all_reference.py).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import llm4all
from llm4all import gpt4all as g4a_module
from llm4all.gpt4all import GPT4All

from chat_template_cases import reference_render, transformers_renderer

HERE = Path(__file__).resolve().parent

# gpt4all 2.8.2, gpt4all-backend/llmodel_shared.cpp (generateResponse): every reply stops here.
GPT4ALL_STOPS = ["### Instruction", "### Prompt", "### Response", "### Human", "### Assistant", "### Context"]
# gpt4all 2.8.2, gpt4all/gpt4all.py (GPT4All.generate): its sampling defaults.
GPT4ALL_DEFAULTS = dict(temp=0.7, top_k=40, top_p=0.4, min_p=0.0, repeat_penalty=1.18, repeat_last_n=64)

needs_transformers = pytest.mark.skipif(transformers_renderer() is None, reason="transformers/jinja2 not installed")


def as_llm4all(script: str, model_path: Path) -> str:
    """A gpt4all script with only its import line (and the model it loads) changed."""
    out = script.replace("from gpt4all import", "from llm4all.gpt4all import")
    for name in ("Meta-Llama-3-8B-Instruct.Q4_0.gguf", "orca-mini-3b-gguf2-q4_0.gguf", "wizardlm-13b-v1.2.Q4_0.gguf"):
        out = out.replace(repr(name), repr(str(model_path))).replace(f'"{name}"', repr(str(model_path)))
    assert "from gpt4all" not in out
    return out


def run_script(script: str, model_path: Path, capsys) -> tuple:
    ns: dict = {}
    exec(compile(as_llm4all(script, model_path), "<gpt4all script>", "exec"), ns)
    return capsys.readouterr().out, ns


@pytest.fixture(scope="module")
def ref(smollm2):
    """An llm4all.Model of its own: the reference generation."""
    return llm4all.Model(smollm2)


@pytest.fixture(scope="module")
def model(smollm2):
    """GPT4All loading SmolLM2 as gpt4all users load a side-loaded file: a name inside model_path."""
    m = GPT4All(smollm2.name, model_path=smollm2.parent, allow_download=False)
    yield m
    m.close()


def greedy(ref, prompt: str, max_tokens: int, **over) -> str:
    """What gpt4all's sampling gives at temp=0 on prompt from an empty context."""
    ref.reset()
    kw = {**GPT4ALL_DEFAULTS, "temp": 0.0, **over}
    return ref.generate(prompt, max_tokens=max_tokens, stop=GPT4ALL_STOPS, **kw)


def rendered(ref, messages) -> str:
    """The prompt transformers renders from the model's own template (generation prompt on)."""
    return reference_render(ref.chat_template, messages, add_generation_prompt=True, **ref.special_token_strings())


# ---- generation outside a chat session --------------------------------------------------------


@pytest.mark.smollm2
def test_direct_generation_script(smollm2, ref, capsys):
    # docs "Direct Generation" (greedy so that the reply is known)
    out, _ = run_script('''
from gpt4all import GPT4All
model = GPT4All("Meta-Llama-3-8B-Instruct.Q4_0.gguf")
print(model.generate("quadratic formula", max_tokens=16, temp=0))
''', smollm2, capsys)
    assert out == greedy(ref, "quadratic formula", 16) + "\n"


@pytest.mark.smollm2
def test_generate_defaults_are_gpt4alls(model, ref):
    # Defaults other than temp are gpt4all's: repeat_penalty 1.18 over the last 64 tokens changes
    # the greedy text here, so a different default would show.
    assert model.generate("The capital of France is", temp=0, max_tokens=24) == \
        greedy(ref, "The capital of France is", 24)
    plain = greedy(ref, "The capital of France is", 24, repeat_penalty=1.0)
    assert model.generate("The capital of France is", temp=0, max_tokens=24, repeat_penalty=1.0) == plain
    # n_predict is max_tokens' old name and wins over it; n_batch is accepted
    assert model.generate("The capital of France is", temp=0, repeat_penalty=1.0, max_tokens=3, n_predict=24,
                          n_batch=64) == plain
    assert model.generate("The capital of France is", max_tokens=0) == ""


@pytest.mark.smollm2
def test_stop_sequences(model, ref):
    prompt = ("### Human: Hello, who are you?\n### Assistant: I am a helpful assistant.\n"
              "### Human: What is the capital of France?\n### Assistant:")
    text = model.generate(prompt, temp=0, repeat_penalty=1.0, max_tokens=40)
    assert "###" not in text
    assert text == greedy(ref, prompt, 40, repeat_penalty=1.0)
    # without the stop strings the model goes on into the next "### Human" turn
    ref.reset()
    assert "### Human" in ref.generate(prompt, max_tokens=40, temp=0, repeat_penalty=1.0)


@pytest.mark.smollm2
def test_stop_callback_script(smollm2, ref, capsys):
    # docs "Interrupting Generation", verbatim but for the import and the model
    out, _ = run_script('''
from gpt4all import GPT4All
model = GPT4All('orca-mini-3b-gguf2-q4_0.gguf')

def stop_on_token_callback(token_id, token_string):
    # one sentence is enough:
    if '.' in token_string:
        return False
    else:
        return True

response = model.generate('Blue Whales are the biggest animal to ever inhabit the Earth.',
                          temp=0, callback=stop_on_token_callback)
print(response)
''', smollm2, capsys)
    pieces = []
    ref.reset()
    ref.generate("Blue Whales are the biggest animal to ever inhabit the Earth.", max_tokens=200, stop=GPT4ALL_STOPS,
                 callback=lambda t, s: pieces.append(s) or True, **{**GPT4ALL_DEFAULTS, "temp": 0.0})
    # gpt4all adds a piece to the reply before the callback sees it: the first piece with a
    # full stop is the reply's last
    first = next(i for i, piece in enumerate(pieces) if "." in piece)
    assert out == "".join(pieces[:first + 1]) + "\n"


@pytest.mark.smollm2
def test_callback_semantics(model):
    seen = []

    def log(token_id, piece):  # returns None: gpt4all (ctypes bool) stops after one piece
        seen.append((token_id, piece))
    one = model.generate("The capital of France is", max_tokens=10, temp=0, repeat_penalty=1.0, callback=log)
    assert len(seen) == 1 and one == seen[0][1] and isinstance(seen[0][0], int)

    calls = []

    def third_stops(token_id, piece):
        calls.append(piece)
        return len(calls) < 3
    text = model.generate("The capital of France is", max_tokens=10, temp=0, repeat_penalty=1.0,
                          callback=third_stops)
    assert text == "".join(calls) and len(calls) == 3
    calls.clear()
    pieces = list(model.generate("The capital of France is", max_tokens=10, temp=0, repeat_penalty=1.0,
                                 callback=third_stops, streaming=True))
    # streaming: the piece whose callback said stop is not yielded
    assert pieces == calls[:2] and len(calls) == 3


@pytest.mark.smollm2
def test_streaming_equals_whole(model):
    whole = model.generate("Once upon a time", max_tokens=16, temp=0)
    stream = model.generate("Once upon a time", max_tokens=16, temp=0, streaming=True)
    assert not isinstance(stream, str)
    pieces = list(stream)
    assert len(pieces) > 1 and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces) == whole


# ---- chat sessions -----------------------------------------------------------------------------


@pytest.mark.smollm2
@needs_transformers
def test_chat_session_history_script(smollm2, ref, capsys):
    # docs "Chatting with GPT4All" (max_tokens added)
    out, _ = run_script('''
from gpt4all import GPT4All
model = GPT4All(model_name='orca-mini-3b-gguf2-q4_0.gguf')
with model.chat_session():
    response1 = model.generate(prompt='hello', temp=0, max_tokens=16)
    response2 = model.generate(prompt='write me a short poem', temp=0, max_tokens=16)
    print(model.current_chat_session)
print(model.current_chat_session)
''', smollm2, capsys)
    inside, after = out.strip().split("\n")
    history = ast.literal_eval(inside)
    assert after == "None"
    # gpt4all 2.8 keeps the system message first, "" when there is none
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user", "assistant"]
    assert history[0]["content"] == "" and history[1]["content"] == "hello"
    # each reply is greedy generation on the model template's rendering of the conversation so far
    # (an empty system message is not rendered, so SmolLM2's template uses its default)
    for k in (2, 4):
        convo = [m for m in history[1:k]]
        assert history[k]["content"] == greedy(ref, rendered(ref, convo), 16), k


@pytest.mark.smollm2
@needs_transformers
def test_chat_session_system_message_and_reuse(model, ref):
    system = "You are a pirate. Answer in one sentence."
    with model.chat_session(system_message=system):
        a1 = model.generate("What is the capital of France?", temp=0, max_tokens=20)
        first = dict(model.model.last_stats)
        a2 = model.generate("And of Italy?", temp=0, max_tokens=20)
        second = dict(model.model.last_stats)
        history = model.current_chat_session
    assert history == [{"role": "system", "content": system},
                       {"role": "user", "content": "What is the capital of France?"},
                       {"role": "assistant", "content": a1},
                       {"role": "user", "content": "And of Italy?"},
                       {"role": "assistant", "content": a2}]
    assert a1 == greedy(ref, rendered(ref, history[:2]), 20)
    assert a2 == greedy(ref, rendered(ref, history[:4]), 20)
    # the second turn decodes only what the KV cache does not hold
    assert second["reused_tokens"] > 0 and second["decoded_tokens"] < second["prompt_tokens"]
    assert first["prompt_tokens"] < second["prompt_tokens"]


@pytest.mark.smollm2
@needs_transformers
def test_chat_session_streaming_script(smollm2, ref, capsys):
    # docs "Streaming Generations" (greedy, max_tokens added), then the history it leaves
    out, ns = run_script('''
from gpt4all import GPT4All
model = GPT4All("orca-mini-3b-gguf2-q4_0.gguf")
tokens = []
with model.chat_session():
    for token in model.generate("What is the capital of France?", streaming=True, temp=0, max_tokens=16):
        tokens.append(token)
    history = model.current_chat_session
print(tokens)
''', smollm2, capsys)
    tokens = ast.literal_eval(out.strip())
    expected = greedy(ref, rendered(ref, [{"role": "user", "content": "What is the capital of France?"}]), 16)
    assert len(tokens) > 1 and "".join(tokens) == expected
    assert ns["history"][-1] == {"role": "assistant", "content": expected}


@pytest.mark.smollm2
@needs_transformers
def test_jinja_chat_template_argument(model, ref):
    # gpt4all 3.x's chat_template=: a Jinja template given in the call is the one used
    template = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}"
                "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
    with model.chat_session("Be brief.", template):
        reply = model.generate("Name a colour.", temp=0, max_tokens=12)
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]
    assert reply == greedy(ref, reference_render(template, msgs, add_generation_prompt=True), 12)


@pytest.mark.smollm2
@needs_transformers
def test_current_chat_session_setter(model, ref):
    # gpt4all 3.x: replacing the history inside a session changes what the next turn sees
    with model.chat_session(system_message=False):
        assert model.current_chat_session == []
        model.current_chat_session = [{"role": "user", "content": "My name is Ada."},
                                      {"role": "assistant", "content": "Nice to meet you, Ada!"}]
        reply = model.generate("What is my name?", temp=0, max_tokens=12)
        history = model.current_chat_session
    assert len(history) == 4
    assert reply == greedy(ref, rendered(ref, history[:3]), 12)
    with pytest.raises(ValueError):
        model.current_chat_session = []


def _legacy_prompt(system: str, template: str, turns) -> str:
    """gpt4all 2.8's rule (llmodel_shared.cpp LLModel::prompt): the raw system prompt, then per
    turn the template formatted with ("%1", "%2") split at its placeholders, the reply after
    "%2" and the rest of the template after it ("\\n\\n" when there is no "%2")."""
    t = template.format("%1", "%2")
    before, rest = t.split("%1")
    middle, after = rest.split("%2") if "%2" in rest else (rest, "\n\n")
    text = system
    for user, reply in turns:
        text += before + user + middle
        if reply is not None:
            text += reply + after
    return text


@pytest.mark.smollm2
def test_prompt_template_script(smollm2, ref, capsys):
    # docs "Managing Templates" (2.8.2: positional system prompt and "{0}" prompt template;
    # greedy and max_tokens added)
    out, ns = run_script('''
from gpt4all import GPT4All
model = GPT4All('wizardlm-13b-v1.2.Q4_0.gguf')
system_template = 'A chat between a curious user and an artificial intelligence assistant.\\n'
# many models use triple hash '###' for keywords, Vicunas are simpler:
prompt_template = 'USER: {0}\\nASSISTANT: '
with model.chat_session(system_template, prompt_template):
    response1 = model.generate('why is the grass green?', temp=0, max_tokens=16)
    print(response1)
    print()
    response2 = model.generate('why is the sky blue?', temp=0, max_tokens=16)
    print(response2)
    history = model.current_chat_session
''', smollm2, capsys)
    system, template = ns["system_template"], ns["prompt_template"]
    r1 = greedy(ref, _legacy_prompt(system, template, [("why is the grass green?", None)]), 16)
    r2 = greedy(ref, _legacy_prompt(system, template, [("why is the grass green?", r1),
                                                       ("why is the sky blue?", None)]), 16)
    assert out == f"{r1}\n\n{r2}\n"
    assert ns["history"][0] == {"role": "system", "content": system}


@pytest.mark.smollm2
def test_prompt_template_keywords_and_percent_form(model, ref):
    # 2.8.2's keyword names, a "{1}" reply placeholder, and the desktop app's "%1"/"%2" form
    system = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    braces = "<|im_start|>user\n{0}<|im_end|>\n<|im_start|>assistant\n{1}<|im_end|>\n"
    replies = {}
    for template in (braces, braces.replace("{0}", "%1").replace("{1}", "%2")):
        with model.chat_session(system_prompt=system, prompt_template=template):
            a1 = model.generate("What is 2+2?", temp=0, repeat_penalty=1.0, max_tokens=12)
            a2 = model.generate("And times 3?", temp=0, repeat_penalty=1.0, max_tokens=12)
        replies[template] = (a1, a2)
    assert len(set(replies.values())) == 1
    a1, a2 = replies[braces]
    assert a1 == greedy(ref, _legacy_prompt(system, braces, [("What is 2+2?", None)]), 12, repeat_penalty=1.0)
    assert a2 == greedy(ref, _legacy_prompt(system, braces, [("What is 2+2?", a1), ("And times 3?", None)]), 12,
                        repeat_penalty=1.0)
    with pytest.raises(TypeError):
        with model.chat_session(chat_template=braces, prompt_template=braces):
            pass


def _kept_tail(count_tokens, history, n_ctx: int, max_tokens: int):
    """The messages a full context keeps: the system message, then whole turns from the newest
    back, as long as the prompt leaves min(max_tokens, n_ctx/4) tokens to answer in."""
    reserve = max(1, min(max_tokens, n_ctx // 4))
    head = history[:1] if history[0]["role"] == "system" else []
    starts = [i for i, m in enumerate(history) if m["role"] == "user"]
    for s in starts:
        if count_tokens(head + history[s:]) + reserve <= n_ctx:
            return head + history[s:]
    return head + history[starts[-1]:]


@pytest.mark.smollm2
@needs_transformers
def test_full_context_drops_oldest_turns(smollm2, ref):
    questions = ["Tell me about the history of Rome in detail.", "And about Athens?", "Which is older?",
                 "Name a famous Roman emperor.", "What did he build?"]
    n_ctx, max_tokens = 160, 16
    m = GPT4All(str(smollm2), n_ctx=n_ctx)
    system = "You answer briefly."
    # the model's Jinja template (through llm4all's ChatSession)
    with m.chat_session(system):
        for q in questions:
            m.generate(q, temp=0, max_tokens=max_tokens)
        history = m.current_chat_session
    assert len(history) == 1 + 2 * len(questions)  # gpt4all's history keeps every turn
    assert m.model.last_stats["dropped_messages"] > 0
    kept = _kept_tail(lambda msgs: len(ref.tokenize(rendered(ref, msgs), True, True)), history[:-1], n_ctx, max_tokens)
    assert len(kept) < len(history) - 1
    assert history[-1]["content"] == greedy(ref, rendered(ref, kept), max_tokens)
    # a 2.8 prompt template: the same rule on the text gpt4all 2.8 feeds
    template = "USER: {0}\nASSISTANT: "
    with m.chat_session(system + "\n", prompt_template=template):
        for q in questions:
            m.generate(q, temp=0, max_tokens=max_tokens)
        history = m.current_chat_session

    def legacy_text(msgs):
        turns = [(msgs[i]["content"], msgs[i + 1]["content"] if i + 1 < len(msgs) else None)
                 for i in range(1, len(msgs), 2)]
        return _legacy_prompt(msgs[0]["content"], template, turns)
    kept = _kept_tail(lambda msgs: len(ref.tokenize(legacy_text(msgs), True, True)), history[:-1], n_ctx, max_tokens)
    assert len(kept) < len(history) - 1
    assert history[-1]["content"] == greedy(ref, legacy_text(kept), max_tokens)
    # a message that cannot fit at all: ValueError as in gpt4all 3.x (and an llm4all.Error)
    with m.chat_session(system):
        with pytest.raises(ValueError, match="too long") as info:
            m.generate("word " * 400, max_tokens=max_tokens)
        assert isinstance(info.value, llm4all.Error)
    m.close()


@pytest.mark.smollm2
def test_format_chat_prompt_template_override(smollm2, ref):
    # gpt4all 2.8's deprecated hook: a subclass formats each new message itself (with the system
    # prompt as header on the first turn); the reply is followed by "\n\n" in the context
    class Custom(GPT4All):
        def _format_chat_prompt_template(self, messages, default_prompt_header="", default_prompt_footer=""):
            head = f"[{default_prompt_header}]\n" if default_prompt_header else ""
            return head + "".join(f"Q: {m['content']}\nA:" for m in messages if m["role"] == "user")
    m = Custom(str(smollm2))
    with pytest.warns(DeprecationWarning):
        with m.chat_session("Be brief.", "{0}"):
            r1 = m.generate("Name a fruit.", temp=0, max_tokens=8)
            r2 = m.generate("Name a colour.", temp=0, max_tokens=8)
    assert r1 == greedy(ref, "[Be brief.]\nQ: Name a fruit.\nA:", 8)
    assert r2 == greedy(ref, "[Be brief.]\nQ: Name a fruit.\nA:" + r1 + "\n\nQ: Name a colour.\nA:", 8)
    m.close()


def test_no_template_falls_back_to_gpt4all_default(stories260k):
    # stories260K has no chat template: gpt4all 2.8.2 warns and uses its Alpaca-like default
    ref = llm4all.Model(stories260k)
    assert ref.chat_template is None
    m = GPT4All(str(stories260k))
    with pytest.warns(DeprecationWarning):
        with m.chat_session():
            reply = m.generate("hi", temp=0, max_tokens=12)
    expected = greedy(ref, "### Human:\nhi\n\n### Assistant:\n", 12)
    assert reply == expected
    m.close()


# ---- models, devices, lifetime -----------------------------------------------------------------


def test_list_models_is_models3_shaped():
    models = GPT4All.list_models()
    assert models and all(isinstance(m, dict) for m in models)
    gguf = {e.filename: e for e in llm4all.CATALOG.values() if not e.is_folder}
    assert [m["filename"] for m in models] == list(gguf)
    for m in models:
        entry = gguf[m["filename"]]
        assert m["filesize"] == str(entry.size) and m["sha256sum"] == entry.sha256
        assert m["name"] and m["url"].startswith("https://") and isinstance(m["order"], str)
        # what scripts read from models3.json entries
        for key in ("ramrequired", "parameters", "quant", "type", "description", "systemPrompt"):
            assert isinstance(m[key], str), key
    by_file = {m["filename"]: m for m in models}
    assert "%1" in by_file["smollm2.gguf"]["promptTemplate"]


@pytest.mark.smollm2
def test_retrieve_model(smollm2, tmp_path):
    # a file name inside model_path, as gpt4all looks it up (".gguf" added when missing)
    cfg = GPT4All.retrieve_model(smollm2.stem, model_path=smollm2.parent, allow_download=False)
    assert cfg["path"] == str(smollm2)
    with pytest.raises(FileNotFoundError):
        GPT4All.retrieve_model("missing.gguf", model_path=tmp_path, allow_download=False)
    with pytest.raises(FileNotFoundError):
        GPT4All.retrieve_model("missing.gguf", model_path=tmp_path / "nowhere", allow_download=False)
    # a catalogue name, from llm4all's cache; its config is the list_models() entry with
    # gpt4all's Python-style promptTemplate
    if not llm4all.catalog.is_cached("smollm2"):
        pytest.skip("smollm2 is not in llm4all's default cache")
    for name in ("smollm2", "smollm2.gguf"):
        cfg = GPT4All.retrieve_model(name, allow_download=False)
        assert cfg["path"] == str(llm4all.catalog.cached_path("smollm2"))
        assert cfg["filename"] == "smollm2.gguf" and "{0}" in cfg["promptTemplate"]


@pytest.mark.smollm2
def test_default_model_directory_is_searched(smollm2, tmp_path, monkeypatch):
    # gpt4all's docs: `gpt4all.DEFAULT_MODEL_DIRECTORY = ...` then GPT4All('file.gguf')
    (tmp_path / "mine.gguf").symlink_to(smollm2)
    monkeypatch.setattr(g4a_module.gpt4all, "DEFAULT_MODEL_DIRECTORY", tmp_path)
    assert GPT4All.retrieve_model("mine", allow_download=False)["path"] == str(tmp_path / "mine.gguf")


def test_devices_like_gpt4all_without_gpu():
    gpus = [d for p in json.loads(llm4all._core.devices_json()) for d in p.get("devices") or []
            if d.get("kind") != "cpu" and not d.get("emulated")]   # gpt4all skips lavapipe too
    if gpus:
        assert GPT4All.list_gpus()
        return
    with pytest.raises(ValueError, match="Unable to retrieve available GPU devices"):
        GPT4All.list_gpus()
    with pytest.raises(ValueError, match="Unable to retrieve available GPU devices"):
        GPT4All("no-need-to-exist.gguf", device="gpu")


@pytest.mark.smollm2
def test_with_statement_and_close(smollm2, capsys):
    out, ns = run_script('''
from gpt4all import GPT4All
with GPT4All("orca-mini-3b-gguf2-q4_0.gguf", device="cpu", n_threads=2) as model:
    print(model.backend, model.device, model.model.thread_count())
    model.model.set_thread_count(1)
    print(model.generate("Hello", max_tokens=3, temp=0) != "")
''', smollm2, capsys)
    assert out == "cpu None 2\nTrue\n"
    with pytest.raises(ValueError, match="closed"):
        ns["model"].generate("x")
    ns["model"].close()  # twice is fine, as in gpt4all


@pytest.mark.smollm2
def test_langchain_style_client(smollm2, ref):
    # how langchain_community.llms.GPT4All drives the package: model_type from its `backend`,
    # threads through client.model, every sampling knob by keyword, and the reply iterated
    client = GPT4All(smollm2.name, model_path=str(smollm2.parent), model_type="llama", allow_download=False,
                     device="cpu")
    client.model.set_thread_count(2)
    params = {"max_tokens": 200, "n_predict": 12, "top_k": 40, "top_p": 0.1, "temp": 0, "n_batch": 8,
              "repeat_penalty": 1.18, "repeat_last_n": 64}
    for streaming in (False, True):
        text = ""
        for token in client.generate("The three primary colours are", streaming=streaming, **params):
            text += token
        assert text == greedy(ref, "The three primary colours are", 12, top_p=0.1)
    assert client.model_type == "llama" and client.model.thread_count() == 2
    client.close()


# ---- the real gpt4all as reference ---------------------------------------------------------------


def _gpt4all_python() -> str:
    """An interpreter where `import gpt4all` works: $LLM4ALL_GPT4ALL_PYTHON, else this one."""
    py = os.environ.get("LLM4ALL_GPT4ALL_PYTHON", sys.executable)
    probe = subprocess.run([py, "-c", "import gpt4all"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("the gpt4all package is not installed (pip install gpt4all==2.8.2, or set "
                    "LLM4ALL_GPT4ALL_PYTHON to a Python that has it)")
    return py


def _for_old_llama_cpp(src: Path, dst: Path) -> Path:
    """SmolLM2 with tokenizer.ggml.pre "refact" instead of "smollm": gpt4all 2.8's llama.cpp
    (July 2024) predates the name, and llama.cpp gives both the same pre-tokenizer regex
    (src/llama-vocab.cpp: LLAMA_VOCAB_PRE_TYPE_REFACT and _SMOLLM share one case). Same length,
    so the bytes are patched in place."""
    shutil.copyfile(src, dst)
    key = b"tokenizer.ggml.pre"
    with open(dst, "r+b") as f:
        head = f.read(1 << 20)
        at = head.find(key) + len(key)
        assert at > len(key) and struct.unpack("<IQ", head[at:at + 12]) == (8, 6)
        assert head[at + 12:at + 18] == b"smollm"
        f.seek(at + 12)
        f.write(b"refact")
    return dst


@pytest.fixture(scope="module")
def gpt4all_ref(smollm2, tmp_path_factory):
    py = _gpt4all_python()
    path = _for_old_llama_cpp(smollm2, tmp_path_factory.mktemp("gpt4all") / "smollm2-refact.gguf")
    proc = subprocess.run([py, str(HERE / "gpt4all_reference.py"), str(path)], capture_output=True, text=True,
                          timeout=1800)
    if proc.returncode != 0 or "error loading model" in proc.stderr:
        pytest.skip(f"gpt4all could not run SmolLM2 here: {proc.stderr.strip()[-400:]}")
    return json.loads(proc.stdout)


def _teacher_forced_gap(ref, prompt: str, tokens, repeat_penalty: float) -> float:
    """The largest gap between llm4all's best logit and the logit of the token gpt4all chose,
    over gpt4all's greedy reply, with gpt4all's repeat penalty applied (last 64 tokens)."""
    import numpy as np
    p = ref.tokenize(prompt, True, True)
    ref.reset()
    ref.session.decode(p + list(tokens), all_logits=True)
    logits = ref.session.logits()[len(p) - 1:]
    seq = p + list(tokens)
    worst = 0.0
    for i, tok in enumerate(tokens):
        row = logits[i].astype(np.float64).copy()
        for t in set(seq[max(0, len(p) + i - 64):len(p) + i]):
            row[t] = row[t] / repeat_penalty if row[t] > 0 else row[t] * repeat_penalty
        worst = max(worst, float(row.max() - row[tok]))
    return worst


@pytest.mark.slow
@pytest.mark.smollm2
def test_against_real_gpt4all(gpt4all_ref, ref, model):
    g = gpt4all_ref
    # plain generate: the same prompt tokens, and gpt4all's greedy tokens are llm4all's greedy
    # choices up to float noise between the two engines (Q4_1 dot products in another order)
    for key, rp in (("generate", 1.0), ("generate_defaults_temp0", 1.18)):
        pieces = g[key]["pieces"]
        prompt_tokens = ref.tokenize("The capital of France is", True, True)
        assert g[key]["context"][:len(prompt_tokens)] == prompt_tokens
        assert _teacher_forced_gap(ref, "The capital of France is", [t for t, _ in pieces], rp) < 0.5
        assert "".join(s for _, s in pieces) == g[key]["text"]
    assert "###" not in g["stop_sequence"]["text"]
    # callbacks: the same pieces returned and yielded
    calls = []
    assert model.generate("The capital of France is", max_tokens=10, temp=0, callback=lambda t, s: None) == \
        g["callback_none"]
    third = lambda t, s: calls.append(s) or len(calls) < 3  # noqa: E731
    assert model.generate("The capital of France is", max_tokens=10, temp=0, callback=third) == g["callback_false"]
    calls.clear()
    assert list(model.generate("The capital of France is", max_tokens=10, temp=0, callback=third,
                               streaming=True)) == g["callback_false_streaming"]
    # 2.8 prompt templates: the tokens gpt4all holds after two turns are those of the text
    # llm4all.gpt4all builds from gpt4all's own history
    for key, system, template in (("chatml_chat", "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n",
                                   "<|im_start|>user\n{0}<|im_end|>\n<|im_start|>assistant\n{1}<|im_end|>\n"),
                                  ("vicuna_chat", "A chat between a curious user and an artificial intelligence "
                                   "assistant.\n", "USER: {0}\nASSISTANT: ")):
        history = g[key]["history"]
        turns = [(history[i]["content"], history[i + 1]["content"]) for i in range(1, len(history), 2)]
        text = _legacy_prompt(system, template, turns)
        assert ref.detokenize(g[key]["context"], render_special=True) == text
        with model.chat_session(system_prompt=system, prompt_template=template):
            model.current_chat_session = history
            assert model._legacy_transcript(model.current_chat_session) == text
            assert [m["role"] for m in model.current_chat_session] == [m["role"] for m in history]
    # no template on a side-loaded file: the same warning, history shape and prompt
    assert g["default_chat_warning"] == ["DeprecationWarning"]
    assert [m["role"] for m in g["default_chat"]["history"]] == ["system", "user", "assistant"]
    assert g["default_chat"]["history"][0] == {"role": "system", "content": ""}
    assert ref.detokenize(g["default_chat"]["context"], render_special=True).startswith(
        "### Human:\nhi\n\n### Assistant:\n")
    # errors: the same types (and messages where llm4all has the same facts)
    assert g["list_gpus_error"] == ["ValueError", "Unable to retrieve available GPU devices"]
    assert g["gpu_device_error"][0] == "ValueError" and g["closed_error"][0] == "ValueError"
    assert g["missing_error"][0] == "FileNotFoundError"
