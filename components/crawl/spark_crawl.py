"""``--spark``: the same download function inside Spark ``mapPartitions`` for huge crawls."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from nolabel.components.common.settings import Settings
from nolabel.components.common.spark import get_spark
from nolabel.components.common.store import open_store
from nolabel.components.crawl.engine import crawl_urls
from nolabel.components.crawl.fetch import FetchOptions


def download_partition(
    settings: Settings, dataset: str, options: FetchOptions, urls: list[str]
) -> list[dict[str, Any]]:
    """Download one partition's URLs into the store (runs on an executor)."""

    return crawl_urls(open_store(settings), dataset, urls, options)


def crawl_with_spark(
    settings: Settings,
    dataset: str,
    urls: list[str],
    options: FetchOptions,
    master: str | None = None,
    partitions: int | None = None,
    sink: Callable[[list[dict[str, Any]]], None] | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Download ``urls`` on Spark; each partition's records reach ``sink`` as it finishes."""
    if not urls:
        return []

    # Executors must run this interpreter (the one with nolabel's dependencies).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = get_spark(master, "nolabel-crawl", settings)
    context = spark.sparkContext
    # About 1,000 URLs per partition (each partition is one progress part), at least one per core.
    slices = partitions or min(len(urls), max(context.defaultParallelism, len(urls) // 1000 + 1))

    def run_partition(iterator):
        yield download_partition(settings, dataset, options, list(iterator))

    records: list[dict[str, Any]] = []
    rdd = context.parallelize(urls, slices).mapPartitions(run_partition)
    for batch in rdd.toLocalIterator():
        if sink is not None:
            sink(batch)
        if on_done is not None:
            on_done(len(batch))
        records += batch
    return records
