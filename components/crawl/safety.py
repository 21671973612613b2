"""SSRF guard: resolve a URL's host and refuse private, loopback, link-local or reserved
addresses unless allowed, before any connection is made."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

DNS_TTL = 60.0  # seconds a resolution is reused (checked again on every use)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(Exception):
    """A URL the crawler must not fetch; ``reason`` is a failure code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def is_public(address: IPAddress) -> bool:
    """True for globally routable unicast addresses."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        or not address.is_global
    )


class HostGuard:
    """Decides whether an address may be contacted and resolves hosts to pinned addresses."""

    def __init__(self, allow_private: bool = False, allowed_networks: Iterable[str] = ()) -> None:
        self.allow_private = allow_private
        self.allowed = [ipaddress.ip_network(n, strict=False) for n in allowed_networks]
        self._resolved: dict[tuple[str, int], tuple[float, list[str]]] = {}

    def permits(self, address: IPAddress) -> bool:
        """Whether ``address`` may be contacted."""
        return self.allow_private or is_public(address) or any(address in n for n in self.allowed)

    def check_addresses(self, host: str, addresses: list[str]) -> str:
        """The first address to connect to; ``UnsafeURL`` if any address is refused."""
        if not addresses:
            raise UnsafeURL("dns_error", f"{host} does not resolve")
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if not self.permits(address):
                raise UnsafeURL(
                    "private_address", f"{host} resolves to non-public address {address}"
                )
        return addresses[0]

    async def resolve(self, url: str) -> tuple[str, int, str]:
        """``(host, port, address)`` for an http(s) URL, refusing unsafe targets."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise UnsafeURL("bad_url", f"unsupported URL scheme in {url!r}")
        host = parts.hostname
        if not host:
            raise UnsafeURL("bad_url", f"no host in {url!r}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise UnsafeURL("bad_url", f"bad port in {url!r}") from None
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            return host, port, self.check_addresses(host, [str(literal)])
        cached = self._resolved.get((host, port))
        if cached is not None and cached[0] > time.monotonic():
            return host, port, self.check_addresses(host, cached[1])
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise UnsafeURL("dns_error", f"cannot resolve {host}: {exc}") from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        self._resolved[(host, port)] = (time.monotonic() + DNS_TTL, addresses)
        return host, port, self.check_addresses(host, addresses)
