"""LocalDocs retrieval: hybrid search over a collection. BM25 (SQLite FTS5) finds passages
that share the query's words, exact cosine similarity over the stored vectors finds
passages that mean the same; the two rankings are merged by reciprocal rank fusion
(score = sum over rankings of 1 / (RRF_K + rank)), which needs no score calibration
between them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Dict, List, Sequence

import numpy as np

from .embed import Embedder
from .store import Store

__all__ = ["Hit", "search", "RRF_K", "CANDIDATES"]

RRF_K = 60          # the constant of Cormack et al.'s reciprocal rank fusion
CANDIDATES = 50     # how deep each ranking is read before fusion


@dataclass
class Hit:
    """One search result: `llm4all docs search --json` prints these four fields."""
    file: str
    location: str
    score: float
    text: str

    def as_dict(self) -> Dict[str, object]:
        return asdict(self)


def _fts_query(query: str) -> str:
    # Every word as a quoted term, OR-ed: BM25 ranks passages sharing more (and rarer) words
    # first, and no user text can be read as FTS5 syntax.
    words = re.findall(r"\w+", query.lower())
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(words))


def bm25_ranking(store: Store, cid: int, query: str, limit: int = CANDIDATES) -> List[int]:
    q = _fts_query(query)
    if not q:
        return []
    rows = store.db.execute(
        "SELECT c.id FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid "
        "JOIN documents d ON d.id = c.document_id "
        "WHERE chunks_fts MATCH ? AND d.collection_id = ? "
        "ORDER BY bm25(chunks_fts, 0.5, 1.0) LIMIT ?", (q, cid, limit)).fetchall()
    return [r[0] for r in rows]


def vector_ranking(store: Store, cid: int, model: str, qvec: np.ndarray, limit: int = CANDIDATES) -> List[int]:
    ids, mat = store.vectors(cid, model)
    if not len(ids):
        return []
    if mat.shape[1] != qvec.shape[-1]:
        raise ValueError(f"the collection's vectors have {mat.shape[1]} dimensions, the query's {qvec.shape[-1]}: "
                         "re-index it with this embedding model (llm4all docs index NAME --embed-model ...)")
    sims = mat @ qvec.reshape(-1)
    n = min(limit, len(ids))
    top = np.argpartition(-sims, n - 1)[:n]
    top = top[np.argsort(-sims[top], kind="stable")]
    return [int(ids[i]) for i in top]


def fuse(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> Dict[int, float]:
    scores: Dict[int, float] = {}
    for ranking in rankings:
        for rank, cid in enumerate(ranking, 1):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (k + rank)
    return scores


def search(store: Store, name: str, query: str, embedder: Embedder, k: int = 5) -> List[Hit]:
    """The k best passages of collection NAME for query, best first."""
    coll = store.collection(name)
    cid = coll["id"]
    rankings = [bm25_ranking(store, cid, query)]
    if query.strip():
        rankings.append(vector_ranking(store, cid, embedder.name, embedder.embed([query], query=True)[0]))
    scores = fuse(rankings)
    best = sorted(scores, key=lambda c: (-scores[c], c))[:max(0, k)]
    rows = store.chunk_rows(best)
    return [Hit(rows[c]["path"], rows[c]["location"], round(scores[c], 6), rows[c]["text"]) for c in best if c in rows]
