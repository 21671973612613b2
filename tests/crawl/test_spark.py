"""``--spark``: the download function inside Spark mapPartitions."""

from __future__ import annotations

import pytest

from nolabel.components.common.datasets import read_manifest
from nolabel.components.common.store import open_store
from nolabel.components.crawl.step import CrawlParams, run
from tests.crawl.servers import LoopbackServer, jpeg_bytes, serve_bytes
from tests.crawl.test_faults import openverse_listing


@pytest.mark.slow
def test_spark_crawl_matches_local_crawl() -> None:
    with LoopbackServer() as server:
        paths = [f"/img/{i}" for i in range(6)]
        for i, path in enumerate(paths):
            server.route(path, serve_bytes(jpeg_bytes(300 + i)))
        server.route("/html", serve_bytes(b"<html></html>", "text/html"))
        openverse_listing(
            server,
            {
                "lion": [server.url(p) for p in paths[:4]] + [server.url("/html")],
                "tree": [server.url(p) for p in paths[4:]],
            },
        )
        params = CrawlParams(
            dataset="sparked",
            provider="openverse",
            positive=["lion"],
            negative=["tree"],
            base_url=server.base,
            api_rate=1000,
            allowed_networks=["127.0.0.1/32"],
            spark=True,
            spark_master="local[2]",
            progress=False,
        )
        result = run(params)
        assert result.counts == {"positive": 4, "negative": 2}
        assert result.failures == {"not_an_image": 1}
        manifest = read_manifest(open_store(), "sparked")
        assert all(open_store().exists(k) for k in manifest["key"])
        assert all(server.hits[p] == 1 for p in paths)
        local = run(params.model_copy(update={"dataset": "local", "spark": False}))
        assert sorted(read_manifest(open_store(), "local")["sha256"]) == sorted(manifest["sha256"])
        assert local.counts == result.counts
