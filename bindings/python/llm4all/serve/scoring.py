"""The prompt's own log-probabilities, for /v1/completions with echo and logprobs (how
evaluation harnesses score a text: echo=true, logprobs=k, max_tokens=0).

The engine only reports generated tokens, so the prompt is scored here on one session of its
own, made on first use and shared under a lock. Batch-invariant kernels make these numbers
the ones the engine's slots would compute.
"""

from __future__ import annotations

import threading
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .. import _core

CHUNK = 64     # prompt rows whose logits are held at once (rows x n_vocab float32)

TokenScore = Tuple[int, bytes, Optional[float], Optional[List[Tuple[int, bytes, float]]]]


class PromptScorer:
    def __init__(self, model: _core.Model, n_ctx: int, n_threads: int = 0) -> None:
        self.model = model
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self._session: Optional[_core.Session] = None
        self._lock = threading.Lock()

    def score(self, tokens: Sequence[int], top: int) -> List[TokenScore]:
        """(token, piece, logprob, top k) per prompt token; the first token has no logprob
        (None, as OpenAI answers). Blocking: call it from a worker thread."""
        tokens = list(tokens)
        out: List[TokenScore] = []
        if not tokens:
            return out
        if len(tokens) > self.n_ctx:
            raise ValueError(f"the prompt has {len(tokens)} tokens, more than n_ctx {self.n_ctx}")
        piece = lambda t: self.model.token_to_piece(int(t), False)   # noqa: E731
        out.append((tokens[0], piece(tokens[0]), None, None))
        with self._lock:
            if self._session is None:
                self._session = _core.Session(self.model, self.n_ctx, CHUNK, self.n_threads, "f16")
            s = self._session
            s.truncate(0)
            for i in range(0, len(tokens) - 1, CHUNK):
                chunk = tokens[i:i + CHUNK]
                s.decode(chunk, True)
                logits = s.logits()
                for j in range(len(chunk)):
                    nxt = i + j + 1
                    if nxt >= len(tokens):
                        break
                    row = logits[j].astype(np.float64)
                    m = row.max()
                    lsm = row - (m + np.log(np.exp(row - m).sum()))
                    tops: List[Tuple[int, bytes, float]] = []
                    if top > 0:
                        idx = np.argpartition(-lsm, min(top, len(lsm) - 1))[:top]
                        idx = idx[np.argsort(-lsm[idx], kind="stable")]
                        tops = [(int(k), piece(k), float(lsm[k])) for k in idx]
                    t = tokens[nxt]
                    out.append((t, piece(t), float(lsm[t]), tops))
            s.truncate(0)
        return out
