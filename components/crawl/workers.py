"""Local crawls on every core: the URLs sharded over worker processes, one event loop each.

One Python process tops out at about one core (HTTP parsing, asyncio and image checks share its
GIL), so a large crawl is split over ``processes`` workers. Each crawls its shard with the same
:func:`..engine.crawl_urls`, at its share of the concurrency and per-host limits
(the totals stay as configured), and writes its own durable progress parts, so a killed crawl
resumes exactly as a single-process one. Workers die with their parent (Linux).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from typing import Any

from nolabel.components.common.settings import Settings
from nolabel.components.common.store import open_store
from nolabel.components.crawl.engine import crawl_urls
from nolabel.components.crawl.fetch import FetchOptions

MIN_URLS_PER_PROCESS = 250  # below this a worker's start-up (imports) costs more than it saves

_done_counter: Any = None  # the shared "URLs finished" counter, in each worker


def worker_count(requested: int, urls: int) -> int:
    """Processes to use: ``requested`` (0 = one per core), never more than the URLs justify."""
    wanted = requested or os.cpu_count() or 1
    return max(1, min(wanted, urls // MIN_URLS_PER_PROCESS))


def share(options: FetchOptions, workers: int) -> FetchOptions:
    """Each worker's download limits: its share of the total concurrency and per-host limit."""
    return options.model_copy(
        update={
            "concurrency": max(1, options.concurrency // workers),
            "per_host": max(1, options.per_host // workers),
        }
    )


def _init_worker(counter: Any) -> None:
    global _done_counter
    _done_counter = counter
    try:  # die with the parent, as a single-process crawl would
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _count(finished: int) -> None:
    with _done_counter.get_lock():
        _done_counter.value += finished


def crawl_shard(
    settings: Settings,
    dataset: str,
    urls: list[str],
    options: FetchOptions,
    stored_shas: set[str],
) -> list[dict[str, Any]]:
    """One worker: crawl ``urls`` into the store, recording progress as it goes."""
    from nolabel.components.crawl.progress import ProgressLog

    store = open_store(settings)
    progress = ProgressLog(store, dataset)
    return crawl_urls(store, dataset, urls, options, stored_shas, progress.append, _count)


def crawl_in_processes(
    settings: Settings,
    dataset: str,
    urls: list[str],
    options: FetchOptions,
    workers: int,
    stored_shas: set[str],
    on_done: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Crawl ``urls`` over ``workers`` processes; all their records (progress is already
    durable: every worker wrote its own parts)."""
    context = multiprocessing.get_context("spawn")  # no fork of a threaded parent
    counter = context.Value("q", 0)
    shards = [urls[index::workers] for index in range(workers)]
    each = share(options, workers)
    records: list[dict[str, Any]] = []
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(counter,)
    ) as pool:
        futures = [
            pool.submit(crawl_shard, settings, dataset, shard, each, stored_shas)
            for shard in shards
        ]
        reported = 0
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
            for future in finished:
                future.result()  # a worker's crash fails the crawl (its progress is kept)
            reported = _report(counter, reported, on_done)
        for future in futures:
            records += future.result()
        _report(counter, reported, on_done)
    return records


def _report(counter: Any, reported: int, on_done: Callable[[int], None] | None) -> int:
    current = int(counter.value)
    if on_done is not None and current > reported:
        on_done(current - reported)
    return current
