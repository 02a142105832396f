"""Vectors for the data map: the engine's sentence embeddings (a catalogue embedding model such
as "minilm", or a GGUF path) or, without a model, TF-IDF reduced by truncated SVD. Both are
L2-normalized rows, so cosine distance is what the projection sees.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from .formats import Pair

# The map shows what a pair is about; the first thousand characters (~250 tokens) say it, and
# embedding time grows with the length (MiniLM reads at most 512 tokens anyway).
TEXT_LIMIT = 1000


def pair_text(pair: Pair, limit: int = TEXT_LIMIT) -> str:
    return f"{pair.prompt}\n{pair.response}"[:limit]


def engine_vectors(texts: Sequence[str], model: str = "minilm", batch: int = 32,
                   progress: Optional[Callable[[int], None]] = None) -> np.ndarray:
    """Embeddings of texts by the engine's embedding model (llm4all.Model(...).embed)."""
    from ..model import Model

    m = Model(model)
    if not m.is_embedding:
        raise ValueError(f"{model} is not an embedding model (try minilm, embgemma or --tfidf)")
    out = []
    for i in range(0, len(texts), batch):
        chunk = list(texts[i:i + batch])
        out.extend(m.embed(chunk, long_text_mode="truncate"))
        if progress:
            progress(len(chunk))
    return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)


def tfidf_matrix(texts: Sequence[str]):
    """Sparse TF-IDF rows (English stop words out) and the vectorizer, for vectors and names."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    min_df = 2 if len(texts) >= 50 else 1
    vec = TfidfVectorizer(stop_words="english", sublinear_tf=True, min_df=min_df, max_df=0.5 if len(texts) >= 50 else 1.0,
                          max_features=50000, token_pattern=r"(?u)\b[^\W\d_]{2,}\b")
    try:
        return vec.fit_transform(texts), vec
    except ValueError:  # nothing but stop words: fall back to every word
        vec = TfidfVectorizer(sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
        return vec.fit_transform([t or "empty" for t in texts]), vec


def tfidf_vectors(matrix, dims: int = 64, seed: int = 0) -> np.ndarray:
    """TF-IDF rows reduced to at most dims dimensions (LSA) and normalized."""
    from sklearn.decomposition import TruncatedSVD

    n_comp = min(dims, matrix.shape[0] - 1, matrix.shape[1] - 1)
    if n_comp < 2:
        dense = matrix.toarray().astype(np.float32)
    else:
        dense = TruncatedSVD(n_components=n_comp, random_state=seed).fit_transform(matrix).astype(np.float32)
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    return dense / np.where(norms > 0, norms, 1.0)


__all__ = ["pair_text", "engine_vectors", "tfidf_matrix", "tfidf_vectors", "TEXT_LIMIT"]
