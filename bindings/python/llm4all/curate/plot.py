"""The data map as a PNG (matplotlib, no display needed): three panels side by side, the same
points coloured by source, by cluster and by fate (kept in grey, removed by the rule's colour).
"""

from __future__ import annotations

import os

import numpy as np

from .mapdata import MapData

PANELS = [("source", "by source"), ("cluster", "by cluster"), ("status", "kept vs removed")]


def write_png(data: MapData, path: os.PathLike, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(data.ids)
    size = float(np.clip(6000 / max(n, 1), 3, 30))
    fig, axes = plt.subplots(1, 3, figsize=(19, 6.8))
    for ax, (by, label) in zip(axes, PANELS):
        names, colours, counts = data.groups[by], data.colours(by), data.counts(by)
        member = data.member[by]
        # Kept points first, so that the few removed ones are drawn on top and stay visible.
        order = np.argsort(data.removed, kind="stable") if by == "status" else np.arange(n)
        # Removed pairs are few among many: on the fate panel they are drawn larger, outlined.
        big = data.removed[order] & (by == "status")
        sizes = np.where(big, max(4 * size, 25), size)
        ax.scatter(data.xy[order, 0], data.xy[order, 1], s=sizes, c=[colours[m] for m in member[order]],
                   linewidths=np.where(big, 0.6, 0.0), edgecolors="black", alpha=0.85)
        for i, name in enumerate(names):
            ax.scatter([], [], s=30, c=colours[i], label=f"{name[:40]} ({counts[i]})")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2 if len(names) > 6 else 1, fontsize=7,
                  frameon=False)
        ax.set_title(label)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or f"{n} pairs: {data.embedding} vectors, {data.projection} projection")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


__all__ = ["write_png"]
