"""Pacing, User-Agent and retries of the search API client."""

from __future__ import annotations

import time

import pytest

from nolabel.components.common.errors import ConfigurationError, InputError
from nolabel.components.crawl.api_client import ApiClient, TokenBucket, retry_after_seconds
from tests.crawl.servers import LoopbackServer, fail_then, serve_json


def test_token_bucket_paces_to_rate() -> None:
    clock = {"t": 0.0}
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock["t"] += seconds

    bucket = TokenBucket(rate=2.0, burst=2, clock=lambda: clock["t"], sleep=sleep)
    for _ in range(6):
        bucket.acquire()
    # Two immediate (burst), then one every 0.5 s: 4 more tokens take 2 s.
    assert clock["t"] == pytest.approx(2.0)
    assert len(slept) == 4
    with pytest.raises(ValueError):
        TokenBucket(0)


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("3", 1.0) == 3.0
    assert retry_after_seconds(None, 1.5) == 1.5
    assert retry_after_seconds("garbage", 2.0) == 2.0
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 20 < retry_after_seconds(future, 0) <= 31


def test_retries_429_with_retry_after_and_5xx() -> None:
    with LoopbackServer() as server:
        ok = serve_json(lambda q: {"ok": True})
        server.route("/limited", fail_then(1, 429, ok, retry_after="1"))
        server.route("/flaky", fail_then(2, 503, ok))
        server.route("/down", fail_then(100, 500, ok))
        server.route("/missing", lambda h, q: h.send_error(404))
        client = ApiClient("test", "me@example.org", rate_per_second=1000, backoff=0.01)
        started = time.monotonic()
        assert client.request_json("GET", server.url("/limited")) == {"ok": True}
        assert time.monotonic() - started >= 0.9  # honoured Retry-After: 1
        assert client.request_json("GET", server.url("/flaky")) == {"ok": True}
        assert server.hits["/flaky"] == 3
        with pytest.raises(InputError, match="HTTP 500"):
            client.request_json("GET", server.url("/down"))
        assert server.hits["/down"] == 5  # first try + 4 retries
        with pytest.raises(InputError, match="404"):
            client.request_json("GET", server.url("/missing"))
        assert server.requests[0][2]["User-Agent"] == "nolabel-crawl/0.1 (+me@example.org)"
        client.close()
    unreachable = ApiClient("test", "", rate_per_second=1000, retries=1, backoff=0.01)
    with pytest.raises(ConfigurationError, match="cannot reach"):
        unreachable.request_json("GET", server.url("/gone"))
