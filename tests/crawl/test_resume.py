"""Kill a crawl mid-way (SIGKILL) and resume it: nothing lost, nothing fetched twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from nolabel.components.common.datasets import read_manifest
from nolabel.components.common.store import open_store
from nolabel.components.crawl.progress import ProgressLog
from nolabel.components.crawl.step import CrawlParams, run
from tests.conftest import REPO_ROOT
from tests.crawl.servers import LoopbackServer, jpeg_bytes, serve_bytes
from tests.crawl.test_faults import openverse_listing

IMAGES, CONCURRENCY = 40, 3


def test_kill_and_resume() -> None:
    with LoopbackServer() as server:
        paths = [f"/img/{i}" for i in range(IMAGES)]
        for i, path in enumerate(paths):
            server.route(path, serve_bytes(jpeg_bytes(1000 + i), delay=0.15))
        openverse_listing(
            server,
            {
                "lion": [server.url(p) for p in paths[:30]],
                "tree": [server.url(p) for p in paths[30:]],
            },
        )
        params = CrawlParams(
            dataset="resume",
            provider="openverse",
            positive=["lion"],
            negative=["tree"],
            per_page=20,
            pages=2,
            base_url=server.base,
            api_rate=1000,
            allowed_networks=["127.0.0.1/32"],
            concurrency=CONCURRENCY,
            per_host=CONCURRENCY,
            progress=False,
        )
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nolabel.components.crawl",
                "run-json",
                params.model_dump_json(),
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        deadline = time.monotonic() + 60
        while sum(server.hits[p] for p in paths) < 15 and time.monotonic() < deadline:
            assert process.poll() is None, process.stderr.read().decode()
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        store = open_store()
        recorded = ProgressLog(store, "resume").read()
        hits_at_kill = {p: server.hits[p] for p in paths}
        assert 0 < len(recorded) < IMAGES
        assert sum(hits_at_kill.values()) < IMAGES

        result = run(params)
        manifest = read_manifest(store, "resume")
        assert result.counts == {"positive": 30, "negative": 10} and not result.failures
        assert sorted(manifest["source_url"]) == sorted(server.url(p) for p in paths)
        # Every URL recorded before the kill was fetched exactly once; at most the ones in
        # flight at the kill were fetched twice.
        for url in recorded["url"]:
            assert server.hits[url.removeprefix(server.base)] == 1
        twice = [p for p in paths if server.hits[p] > 1]
        assert all(server.hits[p] <= 2 for p in paths) and len(twice) <= CONCURRENCY
        assert result.resumed == len(recorded)
        images = store.list("datasets/resume/images/")
        assert sorted(images) == sorted(manifest["key"])
        # A third run fetches nothing.
        before = sum(server.hits[p] for p in paths)
        third = run(params)
        assert third.downloaded == 0 and sum(server.hits[p] for p in paths) == before
        assert json.loads(third.model_dump_json())["counts"] == result.counts


def test_progress_write_failure_stops_the_crawl_cleanly() -> None:
    """If the progress log cannot be written, the crawl fails loudly instead of hanging."""
    import pytest

    from nolabel.components.crawl.engine import crawl_urls
    from nolabel.components.crawl.fetch import FetchOptions
    from nolabel.components.crawl.providers.demo import demo_url

    def broken_sink(records) -> None:
        raise OSError("disk full")

    urls = [demo_url(i % 2 == 0, i, 32, 32) for i in range(6)]
    with pytest.raises(OSError, match="disk full"):
        crawl_urls(open_store(), "broken", urls, FetchOptions(concurrency=2), sink=broken_sink)
    written: list[dict] = []
    records = crawl_urls(open_store(), "ok", urls, FetchOptions(concurrency=2), sink=written.extend)
    assert sorted(r["url"] for r in written) == sorted(urls) == sorted(r["url"] for r in records)
    assert all(r["status"] == "ok" for r in records)
