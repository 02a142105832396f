"""Where the points of the data map go and what groups they form: a 2-D projection (UMAP from
umap-learn, or t-SNE from scikit-learn) of the pair vectors, k-means clusters of the same
vectors, and a name for each cluster from its most distinctive TF-IDF words.
"""

from __future__ import annotations

import math
from typing import List, Tuple

import numpy as np


def have_umap() -> bool:
    try:
        import umap  # noqa: F401
    except ImportError:
        return False
    return True


def project(vectors: np.ndarray, method: str = "auto", seed: int = 0) -> Tuple[np.ndarray, str]:
    """(n, 2) coordinates of the rows and the method that made them ("umap", "tsne", or
    "pca" for fewer than 5 points, where neither has neighbours to work with)."""
    n = len(vectors)
    if method == "auto":
        method = "umap" if have_umap() else "tsne"
    if n < 5:
        from sklearn.decomposition import PCA

        xy = np.zeros((n, 2), np.float32)
        if n > 1:
            comps = PCA(n_components=min(2, n - 1, vectors.shape[1])).fit_transform(vectors)
            xy[:, :comps.shape[1]] = comps
        return xy, "pca"
    if method == "umap":
        import umap

        reducer = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), min_dist=0.1, metric="cosine",
                            random_state=seed, n_jobs=1)
        return np.asarray(reducer.fit_transform(vectors), np.float32), "umap"
    if method == "tsne":
        from sklearn.manifold import TSNE

        tsne = TSNE(n_components=2, perplexity=float(min(30, (n - 1) / 3)), init="pca", metric="cosine",
                    random_state=seed)
        return np.asarray(tsne.fit_transform(vectors), np.float32), "tsne"
    raise ValueError(f"unknown projection {method!r} (umap, tsne or auto)")


def auto_clusters(n: int) -> int:
    """A readable number of clusters for n points: about sqrt(n)/4, from 2 to 12."""
    return max(1, min(n, max(2, min(12, round(math.sqrt(n) / 4)))))


def cluster(vectors: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k-means labels (0..k-1) of the rows."""
    k = max(1, min(k, len(vectors)))
    if k == 1:
        return np.zeros(len(vectors), np.int64)
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(vectors).astype(np.int64)


def cluster_names(tfidf, vectorizer, labels: np.ndarray, n_terms: int = 3) -> List[str]:
    """Each cluster's name: the words whose mean TF-IDF in it most exceeds their mean overall
    (the way topic maps are labelled), e.g. "python, code, function"."""
    terms = np.asarray(vectorizer.get_feature_names_out())
    overall = np.asarray(tfidf.mean(axis=0)).ravel()
    names = []
    for c in range(int(labels.max()) + 1 if len(labels) else 0):
        rows = np.flatnonzero(labels == c)
        if not len(rows) or not len(terms):
            names.append(f"cluster {c}")
            continue
        score = np.asarray(tfidf[rows].mean(axis=0)).ravel() - overall
        top = [terms[i] for i in np.argsort(-score)[:n_terms] if score[i] > 0]
        names.append(", ".join(top) if top else f"cluster {c}")
    return names


__all__ = ["project", "cluster", "cluster_names", "auto_clusters", "have_umap"]
