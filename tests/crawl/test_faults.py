"""End-to-end crawl against a fault-injection server: no crash, every failure recorded."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from PIL import Image

from nolabel.components.common.datasets import read_manifest, read_parquet
from nolabel.components.common.errors import InputError
from nolabel.components.common.store import open_store
from nolabel.components.crawl import fetch
from nolabel.components.crawl.step import CrawlParams, run
from tests.crawl.servers import (
    LoopbackServer,
    endless,
    fail_then,
    huge_length,
    jpeg_bytes,
    png_bomb,
    redirect,
    send,
    serve_bytes,
    stall,
    truncated,
)
from tests.crawl.test_providers import openverse_item


def openverse_listing(server: LoopbackServer, results: dict[str, list[str]]) -> None:
    """An Openverse-format API whose results for each query are the given image URLs."""

    def images(handler, query) -> None:
        urls = results.get(query["q"][0], [])
        page, size = int(query["page"][0]), int(query["page_size"][0])
        chunk = urls[(page - 1) * size : page * size]
        items = [{**openverse_item(i), "url": url} for i, url in enumerate(chunk)]
        body = {
            "result_count": len(urls),
            "page_count": max(1, -(-len(urls) // size)),
            "page_size": size,
            "page": page,
            "results": items,
        }
        send(handler, 200, json.dumps(body).encode(), "application/json")

    server.route("/v1/images/", images)


def build_fault_server(server: LoopbackServer) -> dict[str, str]:
    """Routes for every fault; returns the expected outcome per path."""
    good = [jpeg_bytes(i) for i in range(8)]
    shared = jpeg_bytes(99)
    near = io.BytesIO()
    Image.open(io.BytesIO(good[1])).save(near, format="JPEG", quality=60)
    routes = {
        "/good/0": (serve_bytes(good[0]), "ok"),
        "/good/1": (serve_bytes(good[1]), "ok"),
        "/good/2": (serve_bytes(jpeg_bytes(2, exif=True)), "ok"),
        "/good/3": (serve_bytes(good[3], "application/octet-stream"), "ok"),
        "/good/png": (serve_bytes(_png(good[4]), "image/png"), "ok"),
        "/limited": (fail_then(1, 429, serve_bytes(good[5]), retry_after="1"), "ok"),
        "/copy-of-0": (serve_bytes(good[0]), "duplicate"),
        "/near-1": (serve_bytes(near.getvalue()), "near_duplicate"),
        "/slow": (stall(10), "timeout"),
        "/err500": (fail_then(100, 500, serve_bytes(good[6])), "http_500"),
        "/trunc": (truncated(good[7]), "truncated"),
        "/html": (serve_bytes(b"<!doctype html><html>nope</html>", "image/jpeg"), "not_an_image"),
        "/metadata": (redirect("http://169.254.169.254/latest/meta-data/"), "private_address"),
        "/intranet": (redirect("http://10.0.0.1/cat.jpg"), "private_address"),
        "/huge": (huge_length(), "too_large"),
        "/endless": (endless(), "too_large"),
        "/bomb": (serve_bytes(png_bomb(3000), "image/png"), "too_many_pixels"),
        "/missing": (lambda h, q: send(h, 404, b"", "text/plain"), "http_404"),
        "/shared": (serve_bytes(shared), "label_conflict"),
        "/corrupt": (serve_bytes(b"\xff\xd8\xff\xe0" + b"\x13" * 500), "undecodable"),
        "/neg/0": (serve_bytes(jpeg_bytes(50)), "ok"),
        "/neg/1": (serve_bytes(jpeg_bytes(51)), "ok"),
        "/neg/shared": (serve_bytes(shared), "label_conflict"),
    }
    for path, (route, _) in routes.items():
        server.route(path, route)
    negatives = [p for p in routes if p.startswith("/neg/") or p == "/corrupt"]
    openverse_listing(
        server,
        {
            "cat": [server.url(p) for p in routes if p not in negatives],
            "dog": [server.url(p) for p in negatives],
        },
    )
    return {path: outcome for path, (_, outcome) in routes.items()}


def _png(jpeg: bytes) -> bytes:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).save(buffer, format="PNG")
    return buffer.getvalue()


def fault_params(server: LoopbackServer, **extra) -> CrawlParams:
    values = dict(
        dataset="faults",
        provider="openverse",
        positive=["cat"],
        negative=["dog"],
        per_page=20,
        base_url=server.base,
        api_rate=1000,
        allowed_networks=["127.0.0.1/32"],
        timeout=2.0,
        total_timeout=6.0,
        retries=1,
        backoff=0.05,
        max_bytes=200_000,
        max_pixels=1_000_000,
        concurrency=8,
        progress=False,
    )
    values.update(extra)
    return CrawlParams(**values)


def test_fault_injection_crawl_and_resume(monkeypatch) -> None:
    contacted: list[str] = []
    original = fetch.Fetcher._get_once

    async def spy(self, url, host, port, address):
        contacted.append(address)
        return await original(self, url, host, port, address)

    monkeypatch.setattr(fetch.Fetcher, "_get_once", spy)
    with LoopbackServer() as server:
        expected = build_fault_server(server)
        result = run(fault_params(server))
        store = open_store()
        manifest = read_manifest(store, "faults")
        failures = read_parquet(store, "datasets/faults/failures.parquet")

        outcome = {url.removeprefix(server.base): "ok" for url in manifest["source_url"]}
        for row in failures.itertuples():
            path = row.url.removeprefix(server.base)
            assert path not in outcome, f"{path} both stored and failed"
            outcome[path] = row.reason
        assert outcome == expected
        assert set(failures.columns) >= {"url", "reason", "label", "query"}
        assert result.counts == {"positive": 6, "negative": 2}
        assert result.duplicates == {"exact": 1, "near": 1, "conflicts": 2}
        assert result.failures["private_address"] == 2
        # Never connected anywhere but loopback (the redirects were refused before connecting).
        assert contacted and set(contacted) == {"127.0.0.1"}
        assert server.hits["/limited"] == 2 and server.hits["/err500"] == 2

        # Every good image stored exactly once, as a clean JPEG named by its sha256.
        images = store.list("datasets/faults/images/")
        assert len(images) == len(set(images))
        assert set(manifest["key"]) <= set(images)
        for row in manifest.itertuples():
            data = store.get_bytes(row.key)
            assert data[:3] == b"\xff\xd8\xff"
            image = Image.open(io.BytesIO(data))
            assert not image.getexif() and b"PoacherCam" not in data
            assert (image.width, image.height) == (row.width, row.height)
        assert manifest["sha256"].is_unique and (manifest["licence"] != "").all()

        # Re-run: permanent failures and stored images are not fetched again,
        # transient failures (timeout, 5xx, truncated) are retried.
        before = dict(server.hits)
        again = run(fault_params(server))
        retried = {p for p, n in server.hits.items() if n != before.get(p, 0)}
        assert retried == {"/slow", "/err500", "/trunc"}  # searches came from the cache
        assert again.counts == result.counts and again.resumed == len(expected) - 3
        assert pd.read_parquet(
            io.BytesIO(store.get_bytes("datasets/faults/manifest.parquet"))
        ).equals(manifest)


def test_private_addresses_refused_without_allowance() -> None:
    with LoopbackServer() as server:
        server.route("/img", serve_bytes(jpeg_bytes(1)))
        openverse_listing(server, {"cat": [server.url("/img")], "dog": []})
        # Nothing usable is left, so the crawl is refused (the failure reason is named).
        with pytest.raises(InputError, match="failures: private_address 1"):
            run(fault_params(server, allowed_networks=[], allow_private=False))
        assert server.hits["/img"] == 0
