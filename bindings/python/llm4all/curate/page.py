"""The data map as one self-contained HTML page: map_page.html (canvas and inline script, no
network access) with the points, groups and hover texts inlined as JSON.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

from .mapdata import MapData

TEMPLATE = Path(__file__).with_name("map_page.html")


def _json_for_script(obj) -> str:
    # "</script>" must not end the data block early, and escaping every "/" keeps links in the
    # data ("https://...") from reading as addresses: the page then names none at all.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c").replace("/", "\\/")


def write_html(data: MapData, path: os.PathLike, title: str = "") -> None:
    title = title or f"{len(data.ids)} pairs: {data.embedding} vectors, {data.projection} projection"
    payload = {
        "title": title,
        "x": [round(float(v), 4) for v in data.xy[:, 0]],
        "y": [round(float(v), 4) for v in data.xy[:, 1]],
        "removed": [int(v) for v in data.removed],
        "hover": data.hover,
        "groups": data.groups,
        "member": {k: v.tolist() for k, v in data.member.items()},
        "colours": {k: data.colours(k) for k in data.groups},
        "counts": {k: data.counts(k) for k in data.groups},
    }
    page = TEMPLATE.read_text(encoding="utf-8")
    page = page.replace("__TITLE__", html.escape(title)).replace("__MAP_DATA__", _json_for_script(payload))
    Path(path).write_text(page, encoding="utf-8")


__all__ = ["write_html"]
