"""Duplicate removal of curation: exact duplicates after normalization, then near duplicates by
MinHash LSH over character shingles (datasketch). The first occurrence of a group is kept, so
the result does not depend on anything but the input order.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from typing import Dict, List, Optional, Sequence, Tuple

from .formats import Pair

_NON_WORD = re.compile(r"[\W_]+")


def normalize(text: str) -> str:
    """What two texts must share to be "the same": NFKC, case-folded, punctuation and runs of
    spaces as one space."""
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _key(pair: Pair) -> str:
    return "\x1e".join(f"{m['role']}\x1f{normalize(m['content'])}" for m in pair.messages)


def _live(pairs: Sequence[Pair]) -> List[Pair]:
    return [p for p in pairs if p.removed_by is None]


def exact_dedup(pairs: Sequence[Pair], progress=None) -> int:
    """Mark later copies of a normalized conversation as exact_duplicate; returns how many."""
    first: Dict[str, str] = {}
    n = 0
    for pair in _live(pairs):
        key = _key(pair)
        if key in first:
            pair.removed_by, pair.detail = "exact_duplicate", f"same as {first[key]}"
            n += 1
        else:
            first[key] = pair.id
        if progress:
            progress.update()
    return n


def shingles(text: str, k: int = 5) -> List[bytes]:
    """Character k-grams of the normalized text (the whole text when shorter)."""
    t = normalize(text)
    if len(t) <= k:
        return [t.encode()]
    return list({t[i:i + k].encode() for i in range(len(t) - k + 1)})


def near_dedup(pairs: Sequence[Pair], threshold: float = 0.8, num_perm: int = 128, k: int = 5,
               seed: int = 1, progress=None) -> int:
    """Mark pairs as near_duplicate when an earlier kept pair is at least threshold similar
    (estimated Jaccard of character k-grams) both in all turns and in the response alone;
    returns how many. The second test keeps pairs that ask different questions about one long
    passage: their texts are mostly the passage, their answers differ."""
    try:
        from datasketch import MinHash, MinHashLSH
    except ImportError as e:  # pragma: no cover - the [curate] extra installs it
        raise RuntimeError("near-duplicate removal needs datasketch (pip install 'llm4all[curate]')") from e

    def signature(text: str) -> "MinHash":
        # CRC-32 (deterministic, C speed) as the base hash: the MinHash permutations on top of
        # it do the mixing, and it halves the time of datasketch's default SHA-1.
        mh = MinHash(num_perm=num_perm, seed=seed, hashfunc=zlib.crc32)
        mh.update_batch(shingles(text, k))
        return mh

    # LSH's banding finds a pair at exactly its threshold only about half the time: index at a
    # lower one (more candidates, each confirmed below) so that pairs just above are found too.
    lsh = MinHashLSH(threshold=max(0.05, threshold * 0.75), num_perm=num_perm)
    kept: Dict[str, Tuple["MinHash", "MinHash"]] = {}
    n = 0
    for pair in _live(pairs):
        whole, answer = signature(pair.text()), signature(pair.response)
        best: Optional[str] = None
        best_j = (threshold, threshold)
        # LSH candidates are probable matches: confirm each with the signatures' estimates.
        for cand in lsh.query(whole):
            j = (kept[cand][0].jaccard(whole), kept[cand][1].jaccard(answer))
            if j[0] >= threshold and j[1] >= threshold and (best is None or j > best_j):
                best, best_j = cand, j
        if best is not None:
            pair.removed_by = "near_duplicate"
            pair.detail = f"~{best_j[0]:.2f} Jaccard with {best} (response ~{best_j[1]:.2f})"
            n += 1
        else:
            lsh.insert(pair.id, whole)
            kept[pair.id] = (whole, answer)
        if progress:
            progress.update()
    return n


__all__ = ["normalize", "shingles", "exact_dedup", "near_dedup"]
