"""Loopback HTTP servers for crawl tests: scripted routes, hit counting, fault injection."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image

Route = Callable[[BaseHTTPRequestHandler, dict[str, list[str]]], None]


def jpeg_bytes(seed: int, size: tuple[int, int] = (64, 48), exif: bool = False) -> bytes:
    """A small distinct JPEG (random blocks; optionally with EXIF GPS metadata)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    image = Image.fromarray(blocks).resize(size, Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    if exif:
        data = Image.Exif()
        data[0x010F] = "PoacherCam"  # Make
        data[0x8825] = {1: "N", 2: (1.0, 2.0, 3.0)}  # GPS IFD
        image.save(buffer, format="JPEG", exif=data.tobytes())
    else:
        image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def png_bomb(side: int = 3000) -> bytes:
    """A tiny PNG that decodes to ``side``×``side`` pixels."""
    buffer = io.BytesIO()
    Image.new("L", (side, side)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 serving scripted routes; counts hits per path."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                if self.command == "POST":
                    length = int(self.headers.get("Content-Length") or 0)
                    query.update(parse_qs(self.rfile.read(length).decode()))
                with server._lock:
                    server.hits[parts.path] += 1
                    server.requests.append((parts.path, query, dict(self.headers)))
                route = server.routes.get(parts.path)
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    route(self, query)

            do_GET = do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, route: Route) -> str:
        self.routes[path] = route
        return self.url(path)


def send(
    handler,
    status: int,
    body: bytes = b"",
    content_type: str = "application/octet-stream",
    headers: dict[str, str] | None = None,
) -> None:
    """Send a complete response."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def serve_bytes(body: bytes, content_type: str = "image/jpeg", delay: float = 0.0) -> Route:
    def route(handler, query) -> None:
        if delay:
            time.sleep(delay)
        send(handler, 200, body, content_type)

    return route


def serve_json(make: Callable[[dict[str, list[str]]], object], status: int = 200) -> Route:
    def route(handler, query) -> None:
        send(handler, status, json.dumps(make(query)).encode(), "application/json")

    return route


def fail_then(times: int, status: int, then: Route, retry_after: str | None = None) -> Route:
    """Answer ``status`` for the first ``times`` requests, then behave like ``then``."""
    calls = Counter()

    def route(handler, query) -> None:
        calls["n"] += 1
        if calls["n"] <= times:
            headers = {"Retry-After": retry_after} if retry_after else {}
            send(handler, status, b"busy", "text/plain", headers)
        else:
            then(handler, query)

    return route


def truncated(body: bytes) -> Route:
    """Promise the whole body, send half, close the connection."""

    def route(handler, query) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body[: len(body) // 2])
        handler.wfile.flush()
        handler.close_connection = True

    return route


def huge_length() -> Route:
    """Claim a 10 TB body."""

    def route(handler, query) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Content-Length", str(10**13))
        handler.end_headers()
        handler.wfile.write(b"\xff\xd8\xff" + b"\0" * 1000)
        handler.close_connection = True

    return route


def endless() -> Route:
    """Stream without Content-Length until the client gives up."""

    def route(handler, query) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        chunk = b"\xff\xd8\xff" + b"\0" * 65533
        for _ in range(1000):
            handler.wfile.write(chunk)

    return route


def redirect(location: str) -> Route:
    def route(handler, query) -> None:
        send(handler, 302, b"", "text/plain", {"Location": location})

    return route


def stall(seconds: float) -> Route:
    """Send headers, then nothing for ``seconds`` (a read timeout)."""

    def route(handler, query) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "image/jpeg")
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        handler.wfile.flush()
        time.sleep(seconds)

    return route
