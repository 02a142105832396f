"""The data map's content, built once and drawn twice (PNG by plot.py, HTML by page.py): 2-D
positions of every pair, kept and removed, and three ways to colour them: by source file, by
cluster (named by its words) and by fate (kept, or the rule that removed it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from .embed import engine_vectors, pair_text, tfidf_matrix, tfidf_vectors
from .formats import Pair
from .layout import auto_clusters, cluster, cluster_names, have_umap, project

# Colour-blind-friendly categorical colours (the "tab" families), shared by PNG and HTML.
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d",
           "#9edae5", "#393b79"]
KEPT_COLOUR = "#b0bac4"
HOVER_CHARS = 240


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


@dataclass
class MapData:
    xy: np.ndarray                      # (n, 2)
    ids: List[str]
    hover: List[str]                    # text shown for each point
    groups: Dict[str, List[str]]        # colouring -> category names ("source", "cluster", "status")
    member: Dict[str, np.ndarray]       # colouring -> (n,) category index of each point
    embedding: str = ""                 # what made the vectors ("minilm", "tfidf")
    projection: str = ""                # umap | tsne | pca
    removed: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def colours(self, by: str) -> List[str]:
        if by == "status":
            return [KEPT_COLOUR] + [colour(i) for i in range(len(self.groups[by]) - 1)]
        return [colour(i) for i in range(len(self.groups[by]))]

    def counts(self, by: str) -> List[int]:
        return np.bincount(self.member[by], minlength=len(self.groups[by])).tolist()


def _short(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n - 1] + "\u2026"


def hover_text(pair: Pair) -> str:
    fate = "kept" if pair.removed_by is None else f"removed: {pair.removed_by} ({pair.detail})"
    return f"{pair.id}\n{fate}\nPROMPT: {_short(pair.prompt, HOVER_CHARS)}\nRESPONSE: {_short(pair.response, HOVER_CHARS)}"


def sample_pairs(pairs: Sequence[Pair], max_points: int, seed: int = 0) -> List[Pair]:
    """All pairs, or a seeded uniform sample of max_points of them in input order (a page of a
    million points would not open; a uniform sample keeps the proportions)."""
    if not 0 < max_points < len(pairs):
        return list(pairs)
    keep = np.sort(np.random.default_rng(seed).choice(len(pairs), max_points, replace=False))
    return [pairs[i] for i in keep]


def build_map(pairs: Sequence[Pair], embed_model: Optional[str], projection: str = "auto", clusters: int = 0,
              seed: int = 0, progress: Optional[Callable[[str, int], Callable[[int], None]]] = None,
              max_points: int = 0) -> MapData:
    """Vectors (engine model embed_model, or TF-IDF when None), 2-D projection and clusters of
    the readable pairs, or of a seeded random sample of max_points of them (0: all).
    progress(label, total) returns an update(n) callable."""
    pairs = sample_pairs([p for p in pairs if p.format != "unreadable"], max_points, seed)
    texts = [pair_text(p) for p in pairs]
    tfidf, vectorizer = tfidf_matrix(texts) if texts else (None, None)
    if embed_model:
        update = progress("embed", len(texts)) if progress else None
        vectors = engine_vectors(texts, embed_model, progress=update)
    elif texts:
        vectors = tfidf_vectors(tfidf, seed=seed)
    else:
        vectors = np.zeros((0, 2), np.float32)
    if len(texts):
        if projection == "auto":
            projection = "umap" if have_umap() else "tsne"
        if progress:   # UMAP and t-SNE report no progress of their own: say what is running
            progress(f"projecting {len(texts)} points ({projection}), clustering", 0)
        xy, method = project(vectors, projection, seed)
        labels = cluster(vectors, clusters or auto_clusters(len(texts)), seed)
        names = cluster_names(tfidf, vectorizer, labels)
    else:
        xy, method, labels, names = np.zeros((0, 2), np.float32), "none", np.zeros(0, np.int64), []
    sources = list(dict.fromkeys(p.source for p in pairs))
    rules = list(dict.fromkeys(p.removed_by for p in pairs if p.removed_by is not None))
    status = ["kept"] + rules
    return MapData(
        xy=np.asarray(xy, np.float32), ids=[p.id for p in pairs], hover=[hover_text(p) for p in pairs],
        groups={"source": sources, "cluster": [f"{i}: {n}" for i, n in enumerate(names)], "status": status},
        member={"source": np.array([sources.index(p.source) for p in pairs], np.int64),
                "cluster": np.asarray(labels, np.int64),
                "status": np.array([status.index(p.removed_by or "kept") for p in pairs], np.int64)},
        embedding=embed_model or "tfidf", projection=method,
        removed=np.array([p.removed_by is not None for p in pairs], bool))


__all__ = ["MapData", "build_map", "sample_pairs", "hover_text", "colour", "PALETTE", "KEPT_COLOUR"]
