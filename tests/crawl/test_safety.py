"""SSRF guard: address classification, pinned connections and hostname checks."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from nolabel.components.crawl.fetch import Fetcher, FetchOptions
from nolabel.components.crawl.normalize import FetchFailure
from nolabel.components.crawl.safety import HostGuard, UnsafeURL, is_public
from tests.crawl.servers import LoopbackServer, jpeg_bytes, serve_bytes


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


def test_guard_refuses_any_private_resolution() -> None:
    guard = HostGuard()
    assert guard.check_addresses("ok.example", ["93.184.216.34"]) == "93.184.216.34"
    with pytest.raises(UnsafeURL) as caught:
        guard.check_addresses("rebind.example", ["93.184.216.34", "10.0.0.1"])
    assert caught.value.reason == "private_address"
    allowed = HostGuard(allowed_networks=["127.0.0.0/8"])
    assert allowed.check_addresses("localhost", ["127.0.0.1"]) == "127.0.0.1"
    with pytest.raises(UnsafeURL):
        allowed.check_addresses("metadata", ["169.254.169.254"])
    assert HostGuard(allow_private=True).check_addresses("x", ["10.1.2.3"]) == "10.1.2.3"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.org/x.jpg", "bad_url"),
        ("http:///nohost", "bad_url"),
        ("http://[::1]:8080/x", "private_address"),
        ("http://169.254.169.254/latest/meta-data/", "private_address"),
        ("http://2130706433/", "private_address"),  # 127.0.0.1 as a decimal integer
    ],
)
def test_unsafe_urls_refused_before_connecting(url: str, reason: str) -> None:
    async def attempt() -> None:
        async with Fetcher(FetchOptions(retries=0)) as fetcher:
            await fetcher.fetch(url)

    with pytest.raises(FetchFailure) as caught:
        asyncio.run(attempt())
    assert caught.value.reason == reason and caught.value.permanent


def test_hostname_is_resolved_checked_and_pinned() -> None:
    """``localhost`` resolves to loopback: refused by default, fetched when allowed, with the
    original Host header on the pinned connection."""
    with LoopbackServer() as server:
        server.route("/a.jpg", serve_bytes(jpeg_bytes(3)))
        url = f"http://localhost:{server.port}/a.jpg"

        async def get(options: FetchOptions) -> bytes:
            async with Fetcher(options) as fetcher:
                return (await fetcher.fetch(url))[0]

        with pytest.raises(FetchFailure, match="non-public"):
            asyncio.run(get(FetchOptions()))
        assert server.hits["/a.jpg"] == 0
        options = FetchOptions(allowed_networks=["127.0.0.0/8", "::1/128"])
        assert asyncio.run(get(options)) == jpeg_bytes(3)
        assert server.requests[-1][2]["Host"] == f"localhost:{server.port}"
        assert "nolabel-crawl" in server.requests[-1][2]["User-Agent"]


def test_file_urls_limited_to_folder_roots(tmp_path) -> None:
    inside = tmp_path / "root" / "a.jpg"
    inside.parent.mkdir()
    inside.write_bytes(jpeg_bytes(1))
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(jpeg_bytes(2))

    async def read(url: str) -> bytes:
        options = FetchOptions(file_roots=[str(inside.parent)])
        async with Fetcher(options) as fetcher:
            return (await fetcher.fetch(url))[0]

    assert asyncio.run(read(inside.as_uri())) == jpeg_bytes(1)
    with pytest.raises(FetchFailure, match="outside"):
        asyncio.run(read(outside.as_uri()))
    with pytest.raises(FetchFailure, match="outside"):
        asyncio.run(read(inside.parent.as_uri() + "/../secret.jpg"))


def test_clients_are_kept_per_host_name() -> None:
    """Two names on one address never share a (pinned) connection."""
    with LoopbackServer() as server:
        server.route("/a.jpg", serve_bytes(jpeg_bytes(4)))
        names = ["localhost", "127.0.0.1", "localhost"]

        async def get_all() -> int:
            options = FetchOptions(allowed_networks=["127.0.0.0/8", "::1/128"])
            async with Fetcher(options) as fetcher:
                for name in names:
                    assert (await fetcher.fetch(f"http://{name}:{server.port}/a.jpg"))[0]
                return len(fetcher._clients)

        assert asyncio.run(get_all()) == 2
        hosts = [headers["Host"] for _, _, headers in server.requests]
        assert hosts == [f"{name}:{server.port}" for name in names]
