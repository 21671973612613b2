"""Download many URLs concurrently: fetch → check/clean → store image → record the outcome."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from nolabel.components.common.datasets import image_key
from nolabel.components.common.store import ArtifactStore
from nolabel.components.crawl.fetch import Fetcher, FetchOptions
from nolabel.components.crawl.normalize import FetchFailure, ProcessedImage, process_image
from nolabel.components.crawl.safety import HostGuard

Sink = Callable[[list[dict[str, Any]]], None]


def _failure(url: str, reason: str, detail: str, permanent: bool) -> dict[str, Any]:
    return {
        "url": url,
        "status": "failed",
        "reason": reason,
        "detail": detail[:500],
        "permanent": permanent,
        "sha256": "",
        "width": 0,
        "height": 0,
        "phash": "",
        "nbytes": 0,
        "truth": "",
        "finished_at": time.time(),
    }


class Crawler:
    """Downloads URLs into ``datasets/NAME/images/`` and reports one record per URL."""

    def __init__(
        self,
        store: ArtifactStore,
        dataset: str,
        options: FetchOptions,
        stored_shas: set[str] | None = None,
    ) -> None:
        self.store, self.dataset, self.options = store, dataset, options
        self.stored = set(stored_shas or ())
        self.pool = ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) + 1))

    def _process_and_store(self, data: bytes) -> ProcessedImage:
        opts = self.options
        image = process_image(data, opts.max_pixels, opts.resize, opts.jpeg_quality)
        if image.sha256 not in self.stored:
            self.store.put_bytes(image_key(self.dataset, image.sha256), image.jpeg, "image/jpeg")
            self.stored.add(image.sha256)
        return image

    async def _one(self, fetcher: Fetcher, url: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        try:
            data, truth = await fetcher.fetch(url)
            image = await loop.run_in_executor(self.pool, self._process_and_store, data)
        except FetchFailure as exc:
            return _failure(url, exc.reason, exc.detail, exc.permanent)
        except Exception as exc:  # never let one URL crash the crawl
            return _failure(url, "error", f"{type(exc).__name__}: {exc}", False)
        boxes = []
        if truth is not None:
            boxes = [[round(v * image.scale, 2) for v in truth]]
        return {
            "url": url,
            "status": "ok",
            "reason": "",
            "detail": "",
            "permanent": True,
            "sha256": image.sha256,
            "width": image.width,
            "height": image.height,
            "phash": image.phash,
            "nbytes": len(image.jpeg),
            "truth": json.dumps(boxes) if truth is not None else "",
            "finished_at": time.time(),
        }

    async def run(
        self, urls: Iterable[str], sink: Sink | None = None, on_done: Callable[[int], None] = None
    ) -> list[dict[str, Any]]:
        """Download every URL and return all records.

        Finished records go to ``sink`` in batches (group commit: one call per batch of URLs
        that finished together). A worker takes its next URL only once its record has been
        through ``sink``, so at most ``concurrency`` URLs are ever fetched but unrecorded.
        """
        pending: list[tuple[dict[str, Any], asyncio.Future]] = []
        wake = asyncio.Event()
        finished = False
        results: list[dict[str, Any]] = []
        iterator = iter(urls)
        hosts: dict[str, asyncio.Semaphore] = {}
        guard = HostGuard(self.options.allow_private, self.options.allowed_networks)
        loop = asyncio.get_running_loop()

        async def worker() -> None:
            async with Fetcher(self.options, hosts, guard) as fetcher:
                for url in iterator:
                    record = await self._one(fetcher, url)
                    recorded = loop.create_future()
                    pending.append((record, recorded))
                    results.append(record)
                    wake.set()
                    await recorded

        async def writer() -> None:
            nonlocal pending
            while True:
                await wake.wait()
                wake.clear()
                batch, pending = pending, []
                try:
                    if batch and sink is not None:
                        await asyncio.to_thread(sink, [record for record, _ in batch])
                except BaseException as exc:
                    for _, recorded in batch + pending:
                        recorded.set_exception(exc)
                    raise
                for _, recorded in batch:
                    recorded.set_result(None)
                if batch and on_done is not None:
                    on_done(len(batch))
                if finished and not pending:
                    return

        writing = asyncio.create_task(writer())
        try:
            await asyncio.gather(*(worker() for _ in range(max(1, self.options.concurrency))))
        finally:
            finished = True
            wake.set()
            await writing
        return results

    def close(self) -> None:
        """Stop the worker threads."""
        self.pool.shutdown(wait=True)


def crawl_urls(
    store: ArtifactStore,
    dataset: str,
    urls: list[str],
    options: FetchOptions,
    stored_shas: set[str] | None = None,
    sink: Sink | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Synchronous wrapper around ``Crawler.run``."""
    crawler = Crawler(store, dataset, options, stored_shas)
    try:
        return asyncio.run(crawler.run(urls, sink, on_done))
    finally:
        crawler.close()
