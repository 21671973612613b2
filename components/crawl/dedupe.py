"""Exact (sha256) and near-duplicate (perceptual hash) grouping; cross-label conflicts."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

DUPLICATE, NEAR_DUPLICATE, CONFLICT = "duplicate", "near_duplicate", "label_conflict"


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def near_pairs(hashes: list[int], distance: int) -> list[tuple[int, int]]:
    """Index pairs whose 64-bit hashes differ in at most ``distance`` bits.

    Pigeonhole: split the bits into ``distance + 1`` bands; close hashes share a band exactly,
    so only hashes sharing a band value are compared.
    """
    if distance < 0 or len(hashes) < 2:
        return []
    bands = min(distance + 1, 64)
    edges = [round(64 * i / bands) for i in range(bands + 1)]
    pairs: set[tuple[int, int]] = set()
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (1 << (hi - lo)) - 1
        buckets: dict[int, list[int]] = defaultdict(list)
        for index, value in enumerate(hashes):
            buckets[(value >> lo) & mask].append(index)
        for members in buckets.values():
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    if (hashes[a] ^ hashes[b]).bit_count() <= distance:
                        pairs.add((a, b))
    return sorted(pairs)


def dedupe(entries: pd.DataFrame, near_distance: int = 4) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``entries`` (rows in priority order with label, sha256, phash) into kept rows and
    dropped rows (with ``reason``).

    Rows with the same sha256 or phashes within ``near_distance`` bits form a group. A group
    whose rows carry more than one label is dropped entirely (``label_conflict``); otherwise
    its first row is kept and the others are ``duplicate`` (same bytes) or ``near_duplicate``.
    """
    entries = entries.reset_index(drop=True)
    n = len(entries)
    groups = _UnionFind(n)
    shas, labels, phashes = (entries[c].tolist() for c in ("sha256", "label", "phash"))
    first_by_sha: dict[str, int] = {}
    for index, sha in enumerate(shas):
        if sha in first_by_sha:
            groups.union(first_by_sha[sha], index)
        else:
            first_by_sha[sha] = index
    unique = list(first_by_sha.items())
    hashes = [int(phashes[i] or "0", 16) for _, i in unique]
    for a, b in near_pairs(hashes, near_distance):
        groups.union(unique[a][1], unique[b][1])
    members: dict[int, list[int]] = defaultdict(list)
    for index in range(n):
        members[groups.find(index)].append(index)
    reasons = [""] * n
    for root, rows in members.items():
        conflict = len({labels[index] for index in rows}) > 1
        for index in rows:
            if conflict:
                reasons[index] = CONFLICT
            elif index != root:
                reasons[index] = DUPLICATE if shas[index] == shas[root] else NEAR_DUPLICATE
    reason = pd.Series(reasons, index=entries.index)
    kept = entries[reason == ""].reset_index(drop=True)
    dropped = entries[reason != ""].assign(reason=reason[reason != ""]).reset_index(drop=True)
    return kept, dropped
