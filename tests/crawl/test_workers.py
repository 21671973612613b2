"""Large local crawls over several processes: same dataset as one process, resumable."""

from __future__ import annotations

import pytest

from nolabel.components.common.datasets import read_manifest
from nolabel.components.common.store import open_store
from nolabel.components.crawl.fetch import FetchOptions
from nolabel.components.crawl.step import CrawlParams, run
from nolabel.components.crawl.workers import MIN_URLS_PER_PROCESS, share, worker_count
from tests.crawl.servers import jpeg_bytes


def test_worker_count_and_limits_are_shared():
    assert worker_count(1, 100_000) == 1
    assert worker_count(4, 100_000) == 4
    assert worker_count(4, 2 * MIN_URLS_PER_PROCESS) == 2  # small crawls: fewer processes
    assert worker_count(8, 10) == 1
    assert worker_count(0, 10**6) >= 1  # 0: one per core
    each = share(FetchOptions(concurrency=32, per_host=8), 4)
    assert (each.concurrency, each.per_host) == (8, 2)
    assert share(FetchOptions(concurrency=3, per_host=1), 4).per_host == 1


@pytest.mark.slow
def test_two_processes_build_the_same_dataset_and_resume(tmp_path) -> None:
    positives, negatives = tmp_path / "lion", tmp_path / "random"
    positives.mkdir()
    negatives.mkdir()
    for seed in range(300):
        (positives / f"{seed}.jpg").write_bytes(jpeg_bytes(seed, (32, 24)))
    for seed in range(1000, 1220):
        (negatives / f"{seed}.jpg").write_bytes(jpeg_bytes(seed, (32, 24)))
    (negatives / "same-as-lion-0.jpg").write_bytes(jpeg_bytes(0, (32, 24)))  # both classes
    (negatives / "broken.jpg").write_bytes(b"\xff\xd8\xff" + b"\0" * 50)
    params = CrawlParams(
        dataset="two",
        provider="folder",
        positive=["lion"],
        negative=["random"],
        per_page=400,
        negative_per_query=400,
        folder_root=str(tmp_path),
        near_duplicate_distance=-1,
        processes=2,
        progress=False,
    )
    parallel = run(params)
    single = run(params.model_copy(update={"dataset": "one", "processes": 1}))
    assert parallel.downloaded == single.downloaded == 521
    assert parallel.counts == single.counts == {"positive": 299, "negative": 220}
    assert parallel.failures == single.failures == {"undecodable": 1, "label_conflict": 2}
    assert parallel.duplicates == single.duplicates
    store = open_store()
    two, one = read_manifest(store, "two"), read_manifest(store, "one")
    assert sorted(two["sha256"]) == sorted(one["sha256"])
    assert all(store.exists(key) for key in two["key"])

    again = run(params)  # every URL is recorded (each worker wrote its own progress)
    assert again.downloaded == 0 and again.resumed == 522
    assert again.counts == parallel.counts
