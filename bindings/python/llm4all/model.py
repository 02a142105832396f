"""The high-level Python API: llm4all.Model.

Wraps the low-level _core module (one C model + one session with its KV cache) in
an interface familiar to GPT4All users: generate() with the usual sampling knobs,
streaming as a generator, tokenize/detokenize, scoring and perplexity.
"""

from __future__ import annotations

import json
import math
import os
import queue
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Literal, Optional, Sequence, Union, overload

from . import _core
from .catalog import resolve_model

__all__ = ["Model", "PerplexityResult"]


class PerplexityResult(float):
    """Result of Model.perplexity(): the final estimate itself (a float, so it
    compares and divides like one) plus what llama-perplexity also reports."""

    running: List[float]   # the estimate after each chunk
    uncertainty: float     # llama.cpp's "+/-" (standard error of the estimate)
    n_tokens: int          # tokens scored
    n_chunks: int

    def __new__(cls, ppl: float, running: Sequence[float] = (), uncertainty: float = 0.0, n_tokens: int = 0,
                n_chunks: int = 0) -> "PerplexityResult":
        self = super().__new__(cls, ppl)
        self.running = list(running)
        self.uncertainty = uncertainty
        self.n_tokens = n_tokens
        self.n_chunks = n_chunks
        return self

    @property
    def ppl(self) -> float:
        return float(self)

    def __repr__(self) -> str:
        return f"PerplexityResult(ppl={float(self):.4f}, chunks={self.n_chunks}, tokens={self.n_tokens})"


def _random_seed() -> int:
    return int.from_bytes(os.urandom(8), "little")


class Model:
    """A language model loaded from a GGUF file, with one generation session.

    ``model`` is a path to a .gguf file or a catalogue name (see ``llm4all list``);
    a catalogue model that is not cached yet is fetched first unless
    ``allow_download`` is false. One Model serves one conversation at a time:
    calls are serialised on its session. ``kv_type`` is the KV cache's element type:
    "f16" (default, like llama.cpp) or "f32" (exact float attention, for comparisons
    with float references).
    """

    def __init__(self, model: Union[str, os.PathLike], n_ctx: int = 2048, n_threads: Optional[int] = None,
                 device: str = "auto", n_batch: int = 512, allow_download: bool = True,
                 cache_dir: Union[str, os.PathLike, None] = None, kv_type: str = "f16") -> None:
        path = resolve_model(model, allow_download=allow_download, cache=cache_dir)
        self.path = Path(os.fsdecode(path))
        self._n_threads = int(n_threads or 0)
        self._n_batch = int(n_batch)
        self._kv_type = kv_type
        self._model = _core.Model(path, device)
        self._session = _core.Session(self._model, int(n_ctx), self._n_batch, self._n_threads, kv_type)

    # ---- facts about the model -------------------------------------------------

    def info(self) -> Dict[str, Any]:
        """Architecture, parameter count, context length, vocabulary, ... as a dict."""
        return json.loads(self._model.info_json())

    @property
    def n_vocab(self) -> int:
        return self._model.n_vocab

    @property
    def n_ctx(self) -> int:
        """Size of this model's session context (KV cache) in tokens."""
        return self._session.n_ctx

    @property
    def n_ctx_train(self) -> int:
        return self._model.n_ctx_train

    @property
    def bos_token(self) -> int:
        return self._model.bos

    @property
    def eos_token(self) -> int:
        return self._model.eos

    def is_eog(self, token: int) -> bool:
        return self._model.is_eog(token)

    # ---- tokens ------------------------------------------------------------------

    def tokenize(self, text: Union[str, bytes], add_special: bool = True, parse_special: bool = False) -> List[int]:
        """Token ids of text; add_special adds BOS where the model wants it."""
        return self._model.tokenize(text, add_special, parse_special)

    def detokenize(self, tokens: Sequence[int], render_special: bool = False) -> str:
        """Text of token ids (bytes that are not valid UTF-8 become U+FFFD)."""
        return self._model.detokenize(list(tokens), render_special).decode("utf-8", errors="replace")

    def token_to_piece(self, token: int, render_special: bool = False) -> bytes:
        """Raw bytes of one token (may be part of a UTF-8 character; b"" for a control
        token unless render_special). Join pieces as bytes before decoding."""
        return self._model.token_to_piece(token, render_special)

    def adds_bos(self) -> bool:
        """True when tokenize(add_special=True) puts BOS first for this model."""
        bos = self._model.bos
        if bos < 0:
            return False
        with_special = self._model.tokenize(b"a", True, False)
        without = self._model.tokenize(b"a", False, False)
        return len(with_special) > len(without) and with_special[0] == bos

    # ---- generation ----------------------------------------------------------------

    @overload
    def generate(self, prompt: Union[str, bytes], max_tokens: int = ..., temp: float = ..., top_k: int = ...,
                 top_p: float = ..., min_p: float = ..., repeat_penalty: float = ..., repeat_last_n: int = ...,
                 seed: Optional[int] = ..., streaming: Literal[False] = ...,
                 callback: Optional[Callable[[int, str], Optional[bool]]] = ...) -> str: ...

    @overload
    def generate(self, prompt: Union[str, bytes], max_tokens: int = ..., temp: float = ..., top_k: int = ...,
                 top_p: float = ..., min_p: float = ..., repeat_penalty: float = ..., repeat_last_n: int = ...,
                 seed: Optional[int] = ..., streaming: Literal[True] = ...,
                 callback: Optional[Callable[[int, str], Optional[bool]]] = ...) -> Iterator[str]: ...

    def generate(self, prompt: Union[str, bytes], max_tokens: int = 200, temp: float = 0.7, top_k: int = 40,
                 top_p: float = 0.4, min_p: float = 0.0, repeat_penalty: float = 1.18, repeat_last_n: int = 64,
                 seed: Optional[int] = None, streaming: bool = False,
                 callback: Optional[Callable[[int, str], Optional[bool]]] = None) -> Union[str, Iterator[str]]:
        """Continues prompt (raw text; no chat template is applied).

        temp <= 0 is greedy. seed=None draws a fresh random seed; an int makes
        sampling reproducible. streaming=True returns a generator of text pieces
        (closing it stops generation). callback(token_id, piece), GPT4All's
        signature, may return False to stop.
        """
        kwargs = dict(max_tokens=int(max_tokens), temp=float(temp), top_k=int(top_k), top_p=float(top_p),
                      min_p=float(min_p), repeat_penalty=float(repeat_penalty),
                      repeat_last_n=int(repeat_last_n),
                      seed=_random_seed() if seed is None else int(seed) & 0xFFFFFFFFFFFFFFFF)
        self.last_stats: Dict[str, Any] = {}
        if streaming:
            return self._stream(prompt, kwargs, callback)
        cb = None
        if callback is not None:
            def cb(piece: str, token: int) -> Optional[bool]:
                return callback(token, piece)
        text, stats = self._session.generate(prompt, callback=cb, **kwargs)
        self.last_stats = stats
        return text

    def _stream(self, prompt: Union[str, bytes], kwargs: Dict[str, Any],
                callback: Optional[Callable[[int, str], Optional[bool]]]) -> Iterator[str]:
        # The engine runs in a worker thread (GIL released) and hands pieces over a
        # queue; closing the generator sets `stop`, which the next callback sees.
        q: "queue.Queue[tuple]" = queue.Queue()
        stop = threading.Event()

        def on_piece(piece: str, token: int) -> bool:
            if stop.is_set():
                return False
            if callback is not None and callback(token, piece) is False:
                return False
            q.put(("piece", piece))
            return True

        def work() -> None:
            try:
                _, stats = self._session.generate(prompt, callback=on_piece, **kwargs)
                self.last_stats = stats
                q.put(("done", None))
            except BaseException as e:  # handed to the consumer, raised there
                q.put(("error", e))

        worker = threading.Thread(target=work, name="llm4all-generate", daemon=True)

        def pieces() -> Iterator[str]:
            worker.start()
            try:
                while True:
                    kind, value = q.get()
                    if kind == "piece":
                        if value:
                            yield value
                    elif kind == "error":
                        raise value
                    else:
                        return
            finally:
                stop.set()
                worker.join()

        return pieces()

    # ---- scoring ---------------------------------------------------------------------

    def score(self, tokens: Sequence[int], first: int = 1) -> List[float]:
        """Log-probability of tokens[i] given tokens[:i], for first <= i < len(tokens)."""
        logprobs, _ = self._session.score(list(tokens), int(first))
        return logprobs.tolist()

    def score_top1(self, tokens: Sequence[int], first: int = 1):
        """Like score(), plus the most likely token at each scored position (numpy arrays)."""
        return self._session.score(list(tokens), int(first))

    def perplexity(self, text: Union[str, bytes], n_ctx: int = 512, n_chunks: Optional[int] = None,
                   on_chunk: Optional[Callable[[int, float], None]] = None) -> PerplexityResult:
        """Perplexity of text by llama.cpp's llama-perplexity method.

        The whole text is tokenized once (with BOS where the model adds it) and cut
        into chunks of n_ctx tokens. Each chunk is evaluated from an empty context,
        its first token replaced by BOS when the model adds BOS, and only the second
        half is scored (tokens n_ctx/2 + 1 .. n_ctx - 1) so that every scored token
        has at least n_ctx/2 tokens of context. on_chunk(i, running_ppl) is called
        after each chunk.
        """
        n_ctx = int(n_ctx)
        if n_ctx < 4:
            raise ValueError("perplexity: n_ctx must be at least 4")
        tokens = self._model.tokenize(text, True, False)
        if len(tokens) < 2 * n_ctx:
            raise ValueError(f"perplexity: the text has {len(tokens)} tokens; at least 2*n_ctx = "
                             f"{2 * n_ctx} are needed (use a longer text or a smaller n_ctx)")
        n_max = len(tokens) // n_ctx
        n = n_max if n_chunks is None or n_chunks <= 0 else min(int(n_chunks), n_max)
        add_bos = self.adds_bos()
        bos = self._model.bos
        first = n_ctx // 2
        # A session sized for exactly one chunk; the model's own session keeps its cache.
        session = _core.Session(self._model, n_ctx, min(self._n_batch, n_ctx), self._n_threads, self._kv_type)
        nll = 0.0
        nll2 = 0.0
        count = 0
        running: List[float] = []
        for i in range(n):
            chunk = tokens[i * n_ctx:(i + 1) * n_ctx]
            if add_bos:
                chunk[0] = bos
            # Every chunk starts from an empty cache (except a shared BOS at
            # position 0, which prefix reuse may keep: its state is identical).
            logprobs, _ = session.score(chunk, first + 1)
            lp = logprobs.astype("float64")
            nll -= float(lp.sum())
            nll2 += float((lp * lp).sum())
            count += len(lp)
            running.append(math.exp(nll / count))
            if on_chunk is not None:
                on_chunk(i, running[-1])
        mean = nll / count
        ppl = math.exp(mean)
        var = nll2 / count - mean * mean
        err = math.sqrt(var / (count - 1)) * ppl if var > 0 and count > 1 else 0.0
        return PerplexityResult(ppl, running, err, count, n)

    # ---- low level -------------------------------------------------------------------

    @property
    def session(self) -> "_core.Session":
        """The underlying _core.Session (KV cache), for advanced use."""
        return self._session

    def reset(self) -> None:
        """Empties the KV cache."""
        self._session.truncate(0)

    def __repr__(self) -> str:
        return f"llm4all.Model({str(self.path)!r}, n_ctx={self.n_ctx})"
