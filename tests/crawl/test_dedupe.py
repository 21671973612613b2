"""Exact and near-duplicate grouping and cross-label conflicts."""

from __future__ import annotations

import random

import pandas as pd

from nolabel.components.crawl.dedupe import dedupe, near_pairs
from nolabel.components.crawl.plan import build_plan, random_words, word_list


def test_near_pairs_matches_brute_force() -> None:
    rng = random.Random(1)
    hashes = [rng.getrandbits(64) for _ in range(150)]
    hashes += [h ^ (1 << rng.randrange(64)) ^ (1 << rng.randrange(64)) for h in hashes[:40]]
    for distance in (0, 2, 4):
        brute = {
            (i, j)
            for i in range(len(hashes))
            for j in range(i + 1, len(hashes))
            if (hashes[i] ^ hashes[j]).bit_count() <= distance
        }
        assert set(near_pairs(hashes, distance)) == brute
    assert len(set(near_pairs(hashes, 2))) >= 40
    assert near_pairs(hashes, -1) == []


def test_dedupe_keeps_first_and_drops_conflicts() -> None:
    rows = [
        ("positive", "a", "0000000000000000"),  # kept
        ("positive", "a", "0000000000000000"),  # same bytes: duplicate
        ("positive", "b", "0000000000000003"),  # 2 bits away: near duplicate
        ("positive", "c", "ffffffffffffffff"),  # conflict with the negative below
        ("negative", "d", "fffffffffffffffe"),  # near the positive "c": conflict
        ("negative", "e", "0f0f0f0f0f0f0f0f"),  # kept
    ]
    entries = pd.DataFrame(rows, columns=["label", "sha256", "phash"])
    kept, dropped = dedupe(entries, near_distance=4)
    assert list(kept["sha256"]) == ["a", "e"]
    assert list(dropped["reason"]) == [
        "duplicate",
        "near_duplicate",
        "label_conflict",
        "label_conflict",
    ]
    kept, dropped = dedupe(entries, near_distance=-1)
    assert list(kept["sha256"]) == ["a", "b", "c", "d", "e"]


def test_plan_pages_and_random_words() -> None:
    plan = build_plan(["snow leopard"], [], 5, pages=3, per_page=10, negative_per_query=2, seed=1)
    positives = [t for t in plan if t.label == "positive"]
    assert [(t.offset, t.count) for t in positives] == [(0, 10), (10, 10), (20, 10)]
    negatives = [t for t in plan if t.label == "negative"]
    assert len(negatives) == 5 and all(t.count == 2 for t in negatives)
    assert len(set(word_list())) >= 250
    assert random_words(5, 1) == random_words(5, 1) != random_words(5, 2)


def test_perceptual_hash_matches_imagehash() -> None:
    import imagehash
    import numpy as np
    from PIL import Image

    from nolabel.components.crawl.normalize import perceptual_hash

    rng = np.random.default_rng(0)
    for size in ((64, 48), (300, 200), (17, 90)):
        for _ in range(5):
            image = Image.fromarray(rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8))
            assert perceptual_hash(image) == str(imagehash.phash(image))
