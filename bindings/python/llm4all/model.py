"""The high-level Python API: llm4all.Model.

Wraps the low-level _core module (one C model + one session with its KV cache) in
an interface familiar to GPT4All users: generate() with the usual sampling knobs,
streaming as a generator, tokenize/detokenize, scoring and perplexity.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Union

from . import _core
from .catalog import catalog_chat_template
from .embeddings import PROMPTS, embed_vectors, resolve_embedding_model
from .lora import lora_pairs
from .chat import ChatSession
from .chat_template import TemplateError, render_chat_template
from .sampling import _int, sampling_args
from .streaming import gpt4all_callback, stream

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


class _NoSession:
    """Stands in for the session of an embedding model: every use says why it cannot work."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        raise ValueError(f"{self._name} is an embedding model: it embeds text (Model.embed) and cannot "
                         f"generate, chat or score")


class Model:
    """A language model loaded from a GGUF file, with one generation session.

    ``model`` is a path to a .gguf file or a catalogue name (see ``llm4all list``);
    a catalogue model that is not cached yet is fetched first unless
    ``allow_download`` is false. One Model serves one conversation at a time:
    calls are serialised on its session. ``kv_type`` is the KV cache's element type:
    "f16" (default, like llama.cpp) or "f32" (exact float attention, for comparisons
    with float references). ``lora``: LoRA adapters in llama.cpp's GGUF format, as a
    path, a (path, scale) pair or a list of either; each adds scale * (alpha / r) B A
    to the weights it names, and one made for another model is refused.
    A model whose memory estimate (``llm4all.estimate_memory``) exceeds the memory
    available now fails to load with a message naming the numbers; ``skip_memory_check``
    loads it anyway.
    ``device``: "auto" (the best GPU that is not emulated, else the CPU), "cpu", "gpu",
    "vulkan", "cuda", "metal", "vulkan:1" (kind and index) or a device name from
    ``llm4all devices``; one that cannot be used raises llm4all.Error saying why.
    ``n_gpu_layers``: layers on that device counted from the last (the output head goes
    with the last one); -1 = all that fit its memory, 0 = CPU only.
    """

    def __init__(self, model: Union[str, os.PathLike], n_ctx: int = 2048, n_threads: Optional[int] = None,
                 device: str = "auto", n_batch: int = 512, allow_download: bool = True,
                 cache_dir: Union[str, os.PathLike, None] = None, kv_type: str = "f16",
                 lora: Any = None, skip_memory_check: bool = False, n_gpu_layers: int = -1) -> None:
        n_ctx = _int("n_ctx", n_ctx, 0)
        n_threads = _int("n_threads", n_threads or 0, 0, 4096)
        n_batch = _int("n_batch", n_batch, 0)
        path = resolve_embedding_model(model, allow_download=allow_download, cache=cache_dir)
        self.path = Path(os.fsdecode(path))
        # A catalogue entry may replace the chat template its file is known to get wrong.
        self._template_override = catalog_chat_template(model)
        if self._template_override is not None:
            self._chat_template: Optional[str] = self._template_override
        self._n_threads = n_threads
        self._n_batch = n_batch
        self._kv_type = kv_type
        # lora: adapter GGUF files applied to the weights (a path, (path, scale), or a list).
        self.lora = lora_pairs(lora)
        # Loading and the session below fail with llm4all.Error (LLM4ALL_ERR_OUT_OF_MEMORY) when the
        # engine's memory estimate exceeds the memory available, unless skip_memory_check.
        n_gpu_layers = _int("n_gpu_layers", n_gpu_layers, -1)
        self._model = _core.Model(path, device, lora=self.lora, skip_memory_check=skip_memory_check,
                                  n_gpu_layers=n_gpu_layers)
        if self._model.embedding_dim > 0:
            # An embedding model has no KV cache and cannot generate.
            self._session = _NoSession(self.path.name)
        else:
            self._session = _core.Session(self._model, int(n_ctx), self._n_batch, self._n_threads, kv_type)

    # ---- embeddings --------------------------------------------------------------------

    @property
    def is_embedding(self) -> bool:
        """True for embedding models (BERT, EmbeddingGemma), which embed() and do not generate."""
        return self._model.embedding_dim > 0

    @property
    def embedding_dim(self) -> int:
        """Length of embed()'s vectors at full size; 0 for models that are not embedding models."""
        return self._model.embedding_dim

    @property
    def embedding_prompts(self) -> Dict[str, str]:
        """Task prompts this model knows by name (embed(prefix="query") uses the text)."""
        return dict(PROMPTS.get(self._model_arch(), {}))

    def _model_arch(self) -> str:
        arch = getattr(self, "_arch", None)
        if arch is None:
            arch = self._arch = self.info()["architecture"]
        return arch

    def embed(self, texts: Union[str, Sequence[str]], *, normalize: bool = True, dimensionality: Optional[int] = None,
              prefix: Optional[str] = None, long_text_mode: str = "mean", return_tokens: bool = False) -> Any:
        """Embedding vectors of texts: list[list[float]] for a list, list[float] for one string.

        normalize: L2-normalise (default). dimensionality: keep the first d values
        (Matryoshka), normalised after the cut. prefix: a prompt name from
        embedding_prompts (e.g. "query", "document") or literal text put before each text.
        long_text_mode: "mean" (windows averaged, as gpt4all), "truncate" or "error".
        Many texts go through the network together. return_tokens=True returns
        (vectors, tokens run).
        """
        single, vecs, n_tokens = embed_vectors(self._model, self._model_arch(), texts, normalize=normalize,
                                               dimensionality=dimensionality, prefix=prefix,
                                               long_text_mode=long_text_mode, n_threads=self._n_threads)
        out = (vecs[0] if vecs else []) if single else vecs
        return (out, n_tokens) if return_tokens else out

    # ---- facts about the model -------------------------------------------------

    def info(self) -> Dict[str, Any]:
        """Architecture, parameter count, context length, vocabulary, ... as a dict."""
        return json.loads(self._model.info_json())

    @property
    def n_vocab(self) -> int:
        return self._model.n_vocab

    @property
    def n_ctx(self) -> int:
        """Size of this model's session context (KV cache) in tokens (an embedding
        model's window: its training context)."""
        if isinstance(self._session, _NoSession):
            return self._model.n_ctx_train
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

    def generate(self, prompt: Union[str, bytes], max_tokens: Optional[int] = None, temp: Optional[float] = None,
                 top_k: Optional[int] = None, top_p: Optional[float] = None, min_p: Optional[float] = None,
                 repeat_penalty: Optional[float] = None, repeat_last_n: Optional[int] = None,
                 seed: Optional[int] = None, streaming: bool = False,
                 callback: Optional[Callable[[int, str], Optional[bool]]] = None,
                 stop: Union[str, Sequence[str], None] = None, presence_penalty: Optional[float] = None,
                 frequency_penalty: Optional[float] = None) -> Union[str, Iterator[str]]:
        """Continues prompt (raw text; no chat template is applied).

        Unset sampling arguments take the engine's defaults (llm4all.sampling.DEFAULTS,
        from the C ABI); temp=0 with repeat_penalty=1 is exact greedy decoding.
        seed=None or -1 draws a fresh random seed; an int makes sampling reproducible.
        stop: strings that end generation (never part of the returned text).
        presence_penalty / frequency_penalty: OpenAI's penalties over the last
        repeat_last_n tokens (logit -= count * frequency + (count > 0) * presence).
        streaming=True returns a generator of text pieces (closing it stops
        generation). callback(token_id, piece), GPT4All's signature, may return False
        to stop. last_stats["stop_reason"] says why generation ended: "eog",
        "stop_string", "max_tokens", "context_full" or "aborted".
        """
        kwargs = sampling_args(max_tokens, temp, top_k, top_p, min_p, repeat_penalty, repeat_last_n, seed, stop,
                               presence_penalty, frequency_penalty)
        self.last_stats: Dict[str, Any] = {}
        if streaming:
            return stream(lambda on_piece: self._session.generate(prompt, callback=on_piece, **kwargs),
                          self._session.abort, self._remember_stats, callback)
        text, stats = self._session.generate(prompt, callback=gpt4all_callback(callback), **kwargs)
        self.last_stats = stats
        return text

    def _remember_stats(self, result: tuple) -> None:
        self.last_stats = result[1]

    # ---- chat --------------------------------------------------------------------------

    @property
    def chat_template(self) -> Optional[str]:
        """The model's Jinja chat template: the catalogue's override for it if it has one,
        else the file's (tokenizer.chat_template), or None."""
        if not hasattr(self, "_chat_template"):
            desc = json.loads(_core.gguf_describe(self.path, 0))
            t = desc["metadata"].get("tokenizer.chat_template")
            self._chat_template = t if isinstance(t, str) else None
        return self._chat_template

    def special_token_strings(self) -> Dict[str, str]:
        """bos_token / eos_token as the template sees them (only those the model has)."""
        out = {}
        for name, tok in (("bos_token", self._model.bos), ("eos_token", self._model.eos)):
            if tok >= 0:
                out[name] = self._model.token_to_piece(tok, True).decode("utf-8", errors="replace")
        return out

    def apply_chat_template(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True,
                            tools: Optional[Sequence[Any]] = None, template: Optional[str] = None,
                            **variables: Any) -> str:
        """Renders messages with the model's chat template (or `template`), filling in
        the file's BOS/EOS strings as transformers does."""
        tpl = template if template is not None else self.chat_template
        if tpl is None:
            raise TemplateError(f"{self.path.name} has no chat template (tokenizer.chat_template): pass template=")
        ctx = {**self.special_token_strings(), **variables}
        return render_chat_template(tpl, messages, add_generation_prompt=add_generation_prompt, tools=tools, **ctx)

    def chat(self, messages: Sequence[Mapping[str, Any]], *, streaming: bool = False, template: Optional[str] = None,
             callback: Optional[Callable[[int, str], Optional[bool]]] = None,
             docs: Optional[Sequence[str]] = None, **sampling: Any) -> Union[str, Iterator[str]]:
        """The assistant's reply to messages (list of {"role", "content"} dicts),
        rendered with the model's chat template; sampling keywords as generate().
        Template variables (e.g. enable_thinking=False) go in ``variables=dict``.
        docs: LocalDocs collections (llm4all.localdocs) whose best passages for the last
        user message go into the prompt; the reply then ends with numbered citations, and
        ``last_sources`` lists them (file, location, score, text)."""
        variables = sampling.pop("variables", None) or {}
        session = ChatSession(self, template=template, **variables)
        hits: list = []
        if docs:
            from .localdocs.answer import prepare, sources
            messages, hits = prepare(messages, docs)
            self.last_sources = sources(hits)
        session.history = messages
        reply = session.send(None, streaming=streaming, callback=callback, **sampling)
        if docs:
            from .localdocs.answer import append_citations
            reply = append_citations(reply, hits)
        return reply

    def chat_session(self, system_message: Optional[str] = None, template: Optional[str] = None,
                     **variables: Any) -> ChatSession:
        """A multi-turn conversation (also a context manager); see llm4all.ChatSession."""
        return ChatSession(self, system_message=system_message, template=template, **variables)

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
