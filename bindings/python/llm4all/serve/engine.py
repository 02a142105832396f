"""The continuous-batching scheduler behind `llm4all serve`.

One thread owns every core call: n_parallel slots (a _core.Session each, reused
across requests as a prefix cache) advance together, one _core.decode_batch per
step; requests join and leave between steps, and long prompts are prefilled in
chunks so they do not stall the sequences already generating. Text handling mirrors
core/src/generate.cpp, so a request gives exactly what Model.generate gives.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import math
import threading
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Deque, Dict, List, Optional, Tuple, Union

import numpy as np

from .. import _core
from ..sampling import DEFAULTS, _float, _int

__all__ = ["EngineError", "ContextLengthExceeded", "QueueFull", "GenRequest", "TokenLogprob", "Delta", "Finish",
           "Job", "Engine"]


class EngineError(Exception):
    """A request the engine cannot take (base of the specific errors)."""


class ContextLengthExceeded(EngineError):
    """The prompt (plus max_tokens, when given) does not fit one slot's context."""


class QueueFull(EngineError):
    """Every slot is busy and queue_size requests are already waiting."""


@dataclass
class GenRequest:
    prompt: List[int]                      # tokenized prompt (BOS etc. already applied)
    max_tokens: Optional[int] = None       # None = until the context is full
    temp: Optional[float] = None           # sampling: None = the C ABI default
    top_k: Optional[int] = None
    top_p: Optional[float] = None
    min_p: Optional[float] = None
    repeat_penalty: Optional[float] = None
    repeat_last_n: Optional[int] = None
    presence_penalty: Optional[float] = None
    frequency_penalty: Optional[float] = None
    seed: Optional[int] = None             # None or -1 = random
    stop: List[str] = field(default_factory=list)   # generation ends before them; never emitted
    logprobs: Optional[int] = None         # None = off; k >= 0 = chosen token's logprob + top k
    constraint: Any = None                 # constrain.Constraint (allowed / accept / done)
    stop_at_eog: bool = True


@dataclass
class TokenLogprob:
    token: int
    piece: bytes
    logprob: float
    top: List[Tuple[int, bytes, float]]    # (token, piece, logprob), most likely first


@dataclass
class Delta:
    """New output. text may be empty (held back as part of a possible stop string or
    an unfinished character); tokens and logprobs are those sampled since the last Delta."""
    text: str
    tokens: List[int]
    logprobs: Optional[List[TokenLogprob]]


@dataclass
class Finish:
    reason: str                 # "stop", "length", "cancelled", "error"
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int          # prompt tokens reused from a slot's cache
    error: Optional[str] = None


Event = Union[Delta, Finish]


# ---- text: a mirror of core/src/generate.cpp -------------------------------------------

def _utf8_complete_prefix(b: bytes) -> int:
    """Length of b without a trailing character that is cut short."""
    n = len(b)
    for back in range(1, min(3, n) + 1):
        c = b[n - back]
        if c & 0xC0 == 0x80:
            continue
        need = 2 if c & 0xE0 == 0xC0 else 3 if c & 0xF0 == 0xE0 else 4 if c & 0xF8 == 0xF0 else 1
        return n - back if need > back else n
    return n


_REPLACEMENT = "\ufffd".encode()
_MIN_CP = (0, 0, 0x80, 0x800, 0x10000)


def _sanitize_utf8(b: bytes) -> bytes:
    """Valid UTF-8 with each bad byte (and NUL) as U+FFFD, byte for byte as the core does
    (Python's errors="replace" groups bytes differently)."""
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return b.replace(b"\x00", _REPLACEMENT) if "\x00" in s else b
    out = bytearray()
    i, n = 0, len(b)
    while i < n:
        c = b[i]
        ln = 1 if c < 0x80 else 2 if c & 0xE0 == 0xC0 else 3 if c & 0xF0 == 0xE0 else 4 if c & 0xF8 == 0xF0 else 0
        ok = c != 0 and ln > 0 and i + ln <= n
        k = 1
        while ok and k < ln:
            ok = b[i + k] & 0xC0 == 0x80
            k += 1
        if ok and ln > 1:
            cp = c & (0x7F >> ln)
            for k in range(1, ln):
                cp = (cp << 6) | (b[i + k] & 0x3F)
            ok = _MIN_CP[ln] <= cp <= 0x10FFFF and not 0xD800 <= cp <= 0xDFFF
        if ok:
            out += b[i:i + ln]
            i += ln
        else:
            out += _REPLACEMENT
            i += 1
    return bytes(out)


class _StopStrings:
    """Finds stop strings in the held text and says how much of its end could start one."""

    def __init__(self, stops: List[str]) -> None:
        self.stops = [s.encode("utf-8") for s in stops if s]

    def find(self, text: bytes) -> int:
        found = [at for at in (text.find(s) for s in self.stops) if at >= 0]
        return min(found) if found else -1

    def held(self, text: bytes) -> int:
        keep = 0
        for s in self.stops:
            for k in range(min(len(s) - 1, len(text)), keep, -1):
                if text.endswith(s[:k]):
                    keep = k
                    break
        return keep


# ---- jobs ------------------------------------------------------------------------------

class Job:
    """One request's stream of events: async-iterate it for Delta ... Finish."""

    _ids = itertools.count(1)

    def __init__(self, engine: "Engine", req: GenRequest, sampler: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.id = next(Job._ids)
        self.request = req
        self.prompt_tokens = len(req.prompt)
        self._engine = engine
        self._sampler = sampler
        self._loop = loop
        self._events: "asyncio.Queue[Event]" = asyncio.Queue()
        self._cancelled = False
        self._queued = False     # in the engine's queue (read and written under its lock)
        self._finished = False   # scheduler side: Finish sent

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            ev = await self._events.get()
            yield ev
            if isinstance(ev, Finish):
                return

    def cancel(self) -> None:
        """Stops the request (any thread); its slot is freed before the next step. A job
        still waiting leaves the queue at once, so a client that has gone away never
        counts against queue_size (its Finish("cancelled") comes from the scheduler)."""
        self._engine._cancel(self)

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    # Scheduler thread only: events wait in the engine's outbox until the step ends.
    def _send(self, ev: Event) -> None:
        if self._finished:
            return
        if isinstance(ev, Finish):
            self._finished = True
        self._engine._outbox.setdefault(self._loop, []).append((self, ev))


def _deliver(batch: List[Tuple[Job, Event]]) -> None:
    for job, ev in batch:
        job._events.put_nowait(ev)


class _Run:
    """A job's generation state while it holds a slot."""

    def __init__(self, job: Job, cached: int, n_vocab: int) -> None:
        req = job.request
        self.job = job
        self.req = req
        self.prompt = req.prompt
        self.pos = cached              # prompt tokens in the slot's cache
        self.cached = cached
        self.sampler = job._sampler
        self.stops = _StopStrings(req.stop)
        self.max_tokens = req.max_tokens
        self.n_generated = 0
        self.next_token: Optional[int] = None   # sampled, to be decoded next step
        self.pending = b""             # raw bytes not yet complete UTF-8
        self.held = b""                # text that may start a stop string
        self.out_tokens: List[int] = []
        self.out_logprobs: Optional[List[TokenLogprob]] = [] if req.logprobs is not None else None
        self.n_vocab = n_vocab

    @property
    def prefilling(self) -> bool:
        return self.pos < len(self.prompt)


class _Slot:
    def __init__(self, session: Any, index: int) -> None:
        self.session = session
        self.index = index
        self.cached: List[int] = []    # tokens in the session's KV cache
        self.run: Optional[_Run] = None
        self.last_used = 0


# ---- the engine --------------------------------------------------------------------------

class Engine:
    """Serves generation requests on n_parallel sequences of one model.

    submit() is called on an asyncio loop's thread and returns a Job whose events come
    back on that loop. n_ctx is per sequence (0 = the model's training context capped at
    4096); n_batch is the token budget of one step, decode tokens first, prompt chunks after.
    """

    def __init__(self, model: "_core.Model", *, n_parallel: int = 4, n_ctx: int = 0, n_batch: int = 512,
                 n_threads: int = 0, queue_size: int = 64, kv_type: str = "f16") -> None:
        self.model = model
        self.n_parallel = _int("n_parallel", n_parallel, 1, 4096)
        self.queue_size = _int("queue_size", queue_size, 0)
        self.n_batch = _int("n_batch", n_batch, 1)
        _int("n_ctx", n_ctx, 0)
        _int("n_threads", n_threads, 0, 4096)
        self._n_vocab = model.n_vocab
        self._slots = [_Slot(_core.Session(model, n_ctx, self.n_batch, n_threads, kv_type), i)
                       for i in range(self.n_parallel)]
        self.n_ctx = self._slots[0].session.n_ctx
        self._pieces: Dict[int, bytes] = {}
        self._cond = threading.Condition()
        self._queue: Deque[Job] = collections.deque()
        self._dropped: List[Job] = []   # cancelled while queued: Finish("cancelled") still to send
        self._n_active = 0
        self._closing = False
        self._use_counter = itertools.count(1)
        # Events of one step, by consumer loop: one wake-up per loop per step (a wake-up
        # per event cost as much as sampling).
        self._outbox: Dict[asyncio.AbstractEventLoop, List[Tuple[Job, Event]]] = {}
        self._thread = threading.Thread(target=self._loop, name="llm4all-engine", daemon=True)
        self._thread.start()

    # ---- public API (loop thread) -------------------------------------------------------

    def submit(self, req: GenRequest) -> Job:
        """Checks and queues a request; raises ContextLengthExceeded, QueueFull or ValueError."""
        try:
            sampler = self._check(req)
        except TypeError as e:   # a value of the wrong type is a bad value to the caller
            raise ValueError(str(e)) from None
        loop = asyncio.get_running_loop()
        job = Job(self, req, sampler, loop)
        with self._cond:
            if self._closing:
                raise EngineError("the engine is closed")
            if self._n_active + len(self._queue) >= self.n_parallel + self.queue_size:
                raise QueueFull(f"every slot is busy and {len(self._queue)} requests are waiting; try again later")
            self._queue.append(job)
            job._queued = True
            self._cond.notify()
        return job

    def stats(self) -> Dict[str, int]:
        with self._cond:
            return {"slots_busy": self._n_active, "queued": len(self._queue), "n_parallel": self.n_parallel,
                    "n_ctx": self.n_ctx}

    def close(self) -> None:
        """Stops the scheduler (open jobs finish "cancelled") and frees the sessions."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify()
        self._thread.join()
        for slot in self._slots:
            slot.session = None
        self._slots = []

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- validation ---------------------------------------------------------------------

    def _check(self, req: GenRequest) -> Any:
        prompt = req.prompt
        if not isinstance(prompt, list):
            prompt = req.prompt = list(prompt)
        if not prompt:
            raise ValueError("the prompt is empty (no tokens to start from)")
        arr = np.asarray(prompt)
        if arr.dtype.kind not in "iu" or arr.ndim != 1:
            raise ValueError("prompt must be a list of token ids")
        if int(arr.min()) < 0 or int(arr.max()) >= self._n_vocab:
            raise ValueError(f"prompt token ids must be in 0..{self._n_vocab - 1}")
        if req.max_tokens is not None:
            req.max_tokens = _int("max_tokens", req.max_tokens, 0)
        n_prompt = len(prompt)
        n_total = n_prompt + (req.max_tokens or 0)
        if n_total > self.n_ctx:
            if req.max_tokens is None:
                msg = (f"This model's maximum context length is {self.n_ctx} tokens. However, your messages "
                       f"resulted in {n_prompt} tokens. Please reduce the length of the messages.")
            else:
                msg = (f"This model's maximum context length is {self.n_ctx} tokens. However, you requested "
                       f"{n_total} tokens ({n_prompt} in the messages, {req.max_tokens} in the completion). "
                       f"Please reduce the length of the messages or completion.")
            raise ContextLengthExceeded(msg)
        if isinstance(req.stop, str):
            req.stop = [req.stop]
        for s in req.stop:
            if not isinstance(s, str):
                raise ValueError(f"stop strings must be str, not {type(s).__name__}")
        if req.logprobs is not None:
            req.logprobs = _int("logprobs", req.logprobs, 0, self._n_vocab)
        kw: Dict[str, Any] = {}
        for name in ("temp", "top_p", "min_p", "repeat_penalty", "presence_penalty", "frequency_penalty"):
            v = getattr(req, name)
            if v is not None:
                kw[name] = _float(name, v)
        if req.top_k is not None:
            kw["top_k"] = _int("top_k", req.top_k, -(2 ** 31))
        if req.repeat_last_n is not None:
            kw["repeat_last_n"] = _int("repeat_last_n", req.repeat_last_n, 0)
        if kw.get("repeat_penalty", 1.0) <= 0:
            raise ValueError(f"repeat_penalty must be > 0, got {req.repeat_penalty}")
        if req.seed is not None and req.seed != -1:
            kw["seed"] = _int("seed", req.seed, 0, 2 ** 64 - 2)
        try:
            return _core.Sampler(**kw)
        except (_core.Error, TypeError) as e:
            raise ValueError(f"bad sampling options: {e}") from None

    # ---- scheduler thread -----------------------------------------------------------------

    def _cancel(self, job: Job) -> None:
        with self._cond:
            if job._cancelled:
                return
            job._cancelled = True
            if job._queued:
                job._queued = False
                self._queue.remove(job)    # O(queue_size), under the lock submit and _admit take
                self._dropped.append(job)
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closing and not self._queue and not self._dropped and self._n_active == 0:
                    self._cond.wait()
                if self._closing:
                    break
            try:
                self._drop_cancelled()
                self._admit()
                self._step()
            except Exception as e:   # a bug here must not kill the server: fail what runs, reset
                self._fail_all(f"internal error: {type(e).__name__}: {e}")
            self._flush()
        # Closing: every open job ends "cancelled".
        with self._cond:
            queued = self._dropped + list(self._queue)
            for job in self._queue:
                job._queued = False
            self._queue.clear()
            self._dropped = []
        for job in queued:
            job._send(Finish("cancelled", job.prompt_tokens, 0, 0))
        for slot in self._slots:
            if slot.run is not None:
                self._finish(slot, "cancelled")
        self._flush()

    def _flush(self) -> None:
        outbox, self._outbox = self._outbox, {}
        for loop, batch in outbox.items():
            try:
                loop.call_soon_threadsafe(_deliver, batch)
            except RuntimeError:     # the consumers' loop is closed: nobody listens any more
                for job, _ in batch:
                    job._cancelled = True

    def _fail_all(self, message: str) -> None:
        for slot in self._slots:
            if slot.run is not None:
                self._finish(slot, "error", message)
            slot.cached = []
            try:
                slot.session.truncate(0)
            except Exception:
                pass

    def _drop_cancelled(self) -> None:
        with self._cond:
            dropped, self._dropped = self._dropped, []
        for job in dropped:
            job._send(Finish("cancelled", job.prompt_tokens, 0, 0))
        for slot in self._slots:
            if slot.run is not None and slot.run.job._cancelled:
                self._finish(slot, "cancelled")

    def _admit(self) -> None:
        """Gives each waiting job (in order) the idle slot whose cache shares the longest
        prefix with its prompt; ties go to the least recently used slot."""
        while True:
            idle = [s for s in self._slots if s.run is None]
            with self._cond:
                if not idle or not self._queue:
                    return
                job = self._queue.popleft()
                job._queued = False
                self._n_active += 1
            prompt = job.request.prompt
            best, best_common = idle[0], -1
            p = np.asarray(prompt, dtype=np.int64)
            for s in idle:
                m = min(len(s.cached), len(p))
                if m == 0:
                    common = 0
                else:
                    diff = np.flatnonzero(np.asarray(s.cached[:m], dtype=np.int64) != p[:m])
                    common = int(diff[0]) if len(diff) else m
                if common > best_common or (common == best_common and s.last_used < best.last_used):
                    best, best_common = s, common
            slot = best
            slot.last_used = next(self._use_counter)
            keep = min(best_common, len(prompt) - 1)
            try:
                if keep < len(slot.cached):
                    slot.session.truncate(keep)
                    del slot.cached[keep:]
                run = _Run(job, keep, self._n_vocab)
                slot.run = run
                # As generate.cpp: the prompt fills the penalty window first (only its
                # last repeat_last_n tokens can stay in it).
                window = run.req.repeat_last_n if run.req.repeat_last_n is not None else DEFAULTS["repeat_last_n"]
                accept = run.sampler.accept
                for t in (prompt[-window:] if window > 0 else ()):
                    accept(t)
                if run.max_tokens == 0:
                    self._finish(slot, "length")
            except Exception as e:
                if slot.run is None:
                    slot.run = _Run(job, 0, self._n_vocab)
                slot.cached = []
                self._finish(slot, "error", f"{type(e).__name__}: {e}")

    def _step(self) -> None:
        """One decode_batch over every busy slot, then sampling for those with fresh logits."""
        decoding = [s for s in self._slots if s.run is not None and not s.run.prefilling]
        prefilling = [s for s in self._slots if s.run is not None and s.run.prefilling]
        if not decoding and not prefilling:
            return
        prefilling.sort(key=lambda s: s.run.job.id)   # first come, first prefilled
        items: List[Tuple[_Slot, List[int]]] = []
        for s in decoding:
            items.append((s, [s.run.next_token]))
        budget = max(self.n_batch - len(items), 1 if prefilling else 0)
        for s in prefilling:
            if budget <= 0:
                break
            run = s.run
            chunk = run.prompt[run.pos:run.pos + budget]
            items.append((s, chunk))
            budget -= len(chunk)

        # The step runs on the first item's session's thread pool: keep it the same pool
        # from step to step (a pool that has gone to sleep costs a wake-up per op).
        items.sort(key=lambda it: it[0].index)
        ok = self._decode(items)
        for s, toks in ok:
            run = s.run
            s.cached.extend(toks)
            if run.prefilling:
                run.pos += len(toks)
                if run.prefilling:
                    continue
            try:
                self._sample(s)
            except Exception as e:
                self._finish(s, "error", f"{type(e).__name__}: {e}")

    def _decode(self, items: List[Tuple[_Slot, List[int]]]) -> List[Tuple[_Slot, List[int]]]:
        """Runs the step; when it fails, finds out which items did not go through and fails
        only their jobs."""
        try:
            _core.decode_batch([(s.session, toks, False) for s, toks in items])
            return items
        except Exception:
            pass
        ok = []
        for s, toks in items:
            n = s.session.n_past
            if n == len(s.cached) + len(toks):
                ok.append((s, toks))
                continue
            try:
                if n != len(s.cached):
                    s.session.truncate(len(s.cached))   # a half-done item: back to what we know
                _core.decode_batch([(s.session, toks, False)])
                ok.append((s, toks))
            except Exception as e:
                s.cached = []
                try:
                    s.session.truncate(0)
                except Exception:
                    pass
                self._finish(s, "error", f"{type(e).__name__}: {e}")
        return ok

    def _piece(self, token: int) -> bytes:
        p = self._pieces.get(token)
        if p is None:
            p = self._pieces[token] = self.model.token_to_piece(token, False)
        return p

    def _sample(self, slot: _Slot) -> None:
        """The body of generate.cpp's loop for one sequence with fresh last-token logits."""
        run = slot.run
        req = run.req
        logits = slot.session.logits()[-1]
        lp_entry: Optional[TokenLogprob] = None
        lp: Optional[np.ndarray] = None
        if req.logprobs is not None:
            x = logits.astype(np.float64)
            mx = x.max()
            lp = x - (mx + math.log(np.exp(x - mx).sum()))
        if req.constraint is not None:
            allowed = req.constraint.allowed()
            if allowed is not None:
                allowed = np.asarray(allowed, dtype=bool)
                if allowed.shape != logits.shape:
                    raise ValueError(f"the constraint's mask has shape {allowed.shape}, the logits {logits.shape}")
                logits = np.where(allowed, logits, np.float32(-np.inf)).astype(np.float32)
        tok = int(run.sampler.sample(np.ascontiguousarray(logits, dtype=np.float32)))
        if req.stop_at_eog and self.model.is_eog(tok):
            self._finish(slot, "stop")
            return
        run.sampler.accept(tok)
        if req.constraint is not None:
            req.constraint.accept(tok)
        run.n_generated += 1
        run.out_tokens.append(tok)
        if lp is not None:
            k = req.logprobs
            top: List[Tuple[int, bytes, float]] = []
            if k > 0:
                idx = np.argpartition(-lp, k - 1)[:k] if k < len(lp) else np.arange(len(lp))
                idx = idx[np.lexsort((idx, -lp[idx]))]
                top = [(int(t), self._piece(int(t)), float(lp[t])) for t in idx]
            lp_entry = TokenLogprob(tok, self._piece(tok), float(lp[tok]), top)
            run.out_logprobs.append(lp_entry)
        # Text: complete characters only, and nothing that may start a stop string.
        run.pending += self._piece(tok)
        ready = _utf8_complete_prefix(run.pending)
        run.held += _sanitize_utf8(run.pending[:ready])
        run.pending = run.pending[ready:]
        at = run.stops.find(run.held)
        if at >= 0:
            run.held = run.held[:at]
            self._emit(run, run.held)
            run.held = b""
            self._finish(slot, "stop", flush=False)
            return
        keep = run.stops.held(run.held)
        if len(run.held) > keep:
            cut = len(run.held) - keep
            self._emit(run, run.held[:cut])
            run.held = run.held[cut:]
        if run.max_tokens is not None and run.n_generated >= run.max_tokens:
            self._finish(slot, "length")
        elif req.constraint is not None and req.constraint.done():
            self._finish(slot, "stop")
        elif len(slot.cached) >= self.n_ctx:
            self._finish(slot, "length")
        else:
            run.next_token = tok

    def _emit(self, run: _Run, text: bytes) -> None:
        if not text:
            return
        run.job._send(Delta(text.decode("utf-8", errors="replace"), run.out_tokens, run.out_logprobs))
        run.out_tokens = []
        run.out_logprobs = [] if run.out_logprobs is not None else None

    def _finish(self, slot: _Slot, reason: str, error: Optional[str] = None, flush: bool = True) -> None:
        """Ends the slot's job: the text still held back goes out first (unless it was
        cancelled or failed, as generate.cpp drops it after an abort), then Finish."""
        run = slot.run
        if run is None:
            return
        slot.run = None
        with self._cond:
            self._n_active -= 1
        job = run.job
        if flush and reason in ("stop", "length"):
            rest = run.held + _sanitize_utf8(run.pending)
            if rest:
                self._emit(run, rest)
        if reason in ("stop", "length") and run.out_tokens:
            job._send(Delta("", run.out_tokens, run.out_logprobs))
        job._send(Finish(reason, len(run.prompt), run.n_generated, run.cached, error))
