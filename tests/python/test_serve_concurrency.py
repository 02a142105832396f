"""Concurrent requests to a live `llm4all serve` give exactly what each gives alone.

Eight greedy chat requests with different prompts and lengths, sent at once through the
official `openai` client to a server with 4 slots (so sequences join and leave the batch while
others generate, and half of them wait in the queue), must each equal the same request run
alone on an idle server: text, finish reason and token count. Run on SmolLM2 and on gemma3,
whose sliding-window layers keep only the last 512 positions (some prompts here go past the
window, and past the cache rows, so the windowed caches slide while batched with short ones).
A second test mixes streamed and non-streamed requests and checks the same equality.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

openai = pytest.importorskip("openai", reason="the official openai client is the reference client here")
pytest.importorskip("fastapi", reason="llm4all serve needs fastapi")
pytest.importorskip("uvicorn", reason="llm4all serve needs uvicorn")

from live_server import live_server  # noqa: E402

HERE = Path(__file__).resolve().parent
N_PARALLEL = 4

QUESTIONS = [
    "Write a short poem about the sea.",
    "What is the capital of France? Answer in one sentence.",
    "List three fruits that are red.",
    "Explain what a hash table is.",
    "Tell me a joke about computers.",
    "How many legs does a spider have?",
    "Give me a recipe for pancakes.",
    "Why is the sky blue?",
]
MAX_TOKENS = [40, 24, 32, 48, 28, 20, 44, 36]   # different lengths: sequences leave at different steps


def _long_text(n_sentences: int, seed: int) -> str:
    """A deterministic document of numbered sentences (~14 tokens each) to push a prompt past
    gemma3's 512-position window."""
    animals = ["fox", "owl", "bear", "otter", "heron", "badger", "lynx", "crane"]
    places = ["river", "hill", "forest", "meadow", "lake", "valley", "marsh", "cliff"]
    return " ".join(f"Note {i}: the {animals[(i * 3 + seed) % 8]} walked to the {places[(i * 5 + seed) % 8]} "
                    f"and counted {(i * 7 + seed) % 50} stones." for i in range(n_sentences))


def _messages(model: str, i: int) -> List[Dict[str, str]]:
    if model == "gemma3" and i == 1:
        # ~1170 prompt tokens: beyond the window (512) and beyond the rows a windowed layer's
        # cache holds (512 + n_batch 512 + alignment), so its caches slide during the batch.
        text = _long_text(65, i) + "\n\nWhat did the fox count? " + QUESTIONS[i]
    elif model == "gemma3" and i in (3, 5):
        text = _long_text(35, i) + "\n\n" + QUESTIONS[i]     # ~640 tokens: past the window only
    else:
        text = QUESTIONS[i]
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module", params=["smollm2", "gemma3"])
def served(request) -> Tuple[str, str]:
    name = request.param
    path = request.getfixturevalue(name)
    args = ["--parallel", str(N_PARALLEL), "--threads", "2", "--n-ctx", "2048"]
    if name == "gemma3":   # the base model's GGUF has no chat template; use the instruct model's
        args += ["--chat-template", str(HERE / "chat_templates" / "gemma3-it.jinja")]
    with live_server(path, *args) as srv:
        yield name, srv


def _client(srv: str) -> "openai.OpenAI":
    # No retries: a failed request must fail the test, not be hidden by a second try.
    return openai.OpenAI(base_url=srv + "/v1", api_key="unused", max_retries=0, timeout=600)


def _ask(client, model: str, i: int, stream: bool) -> Tuple[str, str, int]:
    """(text, finish_reason, completion_tokens) of request i, greedy."""
    kw = dict(model=model, messages=_messages(model, i), max_tokens=MAX_TOKENS[i], temperature=0, seed=7)
    if not stream:
        r = client.chat.completions.create(**kw)
        return r.choices[0].message.content or "", r.choices[0].finish_reason, r.usage.completion_tokens
    parts: List[str] = []
    finish, tokens, chunks = None, None, 0
    for ch in client.chat.completions.create(**kw, stream=True, stream_options={"include_usage": True}):
        if ch.usage is not None:
            tokens = ch.usage.completion_tokens
        for c in ch.choices:
            if c.delta.content:
                parts.append(c.delta.content)
                chunks += 1
            if c.finish_reason:
                finish = c.finish_reason
    assert tokens is not None, "stream_options.include_usage gave no usage chunk"
    assert chunks > 1 or tokens <= 1, f"request {i}: {tokens} tokens came in {chunks} chunk(s), not streamed"
    return "".join(parts), finish, tokens


class _BusyWatch:
    """Polls /health while requests run and keeps the most slots seen busy at once, so a test
    knows the requests really were batched together."""

    def __init__(self, srv: str) -> None:
        self.url, self.max_busy, self.max_queued = srv + "/health", 0, 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    h = json.load(r)
                self.max_busy = max(self.max_busy, h["slots_busy"])
                self.max_queued = max(self.max_queued, h["queued"])
            except OSError:
                pass
            self._stop.wait(0.02)

    def __enter__(self) -> "_BusyWatch":
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()


def _all_at_once(srv: str, model: str, streams: List[bool]) -> List[Tuple[str, str, int]]:
    client = _client(srv)
    barrier = threading.Barrier(len(streams))

    def one(i: int) -> Tuple[str, str, int]:
        barrier.wait()       # all threads send together
        return _ask(client, model, i, streams[i])

    with _BusyWatch(srv) as watch, ThreadPoolExecutor(len(streams)) as pool:
        out = list(pool.map(one, range(len(streams))))
    assert watch.max_busy >= 2, f"the requests never ran together (at most {watch.max_busy} slot busy)"
    return out


_SOLO: Dict[str, List[Tuple[str, str, int]]] = {}


def _solo(srv: str, model: str) -> List[Tuple[str, str, int]]:
    if model not in _SOLO:
        client = _client(srv)
        _SOLO[model] = [_ask(client, model, i, stream=False) for i in range(len(QUESTIONS))]
    return _SOLO[model]


def _compare(model: str, label: str, got, want) -> None:
    bad = [f"request {i}: {label} {g!r}\n      alone {w!r}" for i, (g, w) in enumerate(zip(got, want)) if g != w]
    assert not bad, f"{model}: {len(bad)} of {len(want)} requests differ from their solo run:\n" + "\n".join(bad)


def test_concurrent_greedy_equals_solo(served):
    model, srv = served
    n = len(QUESTIONS)
    # First on a cold server (every prompt prefilled in a shared batch), then each request
    # alone, then all together again (now slots hold cached prefixes of earlier requests).
    t0 = time.perf_counter()
    cold = _all_at_once(srv, model, [False] * n)
    t_cold = time.perf_counter() - t0
    solo = _solo(srv, model)
    texts = [s[0] for s in solo]
    assert all(t.strip() for t in texts), f"{model}: an empty solo reply: {texts}"
    assert len(set(texts)) == n, f"{model}: different prompts gave the same reply, the test would not see mix-ups"
    _compare(model, "together (cold)", cold, solo)
    warm = _all_at_once(srv, model, [False] * n)
    _compare(model, "together (warm)", warm, solo)
    print(f"\n{model}: 8 concurrent requests on {N_PARALLEL} slots in {t_cold:.1f} s, each equal to its solo run")


def test_streaming_mixed_with_non_streaming(served):
    model, srv = served
    n = len(QUESTIONS)
    solo = _solo(srv, model)
    # Even requests stream, odd ones do not; then (on the fast model) the other way round.
    for first in ((True, False) if model == "smollm2" else (True,)):
        streams = [(i % 2 == 0) == first for i in range(n)]
        got = _all_at_once(srv, model, streams)
        _compare(model, "streamed" if first else "mixed", got, solo)
