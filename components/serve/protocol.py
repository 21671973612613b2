"""uvicorn's h11 protocol with the client timeouts it lacks (slow or idle clients hold nothing).

uvicorn closes an idle kept-alive connection (``timeout_keep_alive``) and h11 caps the bytes of
a request head (``h11_max_incomplete_event_size``), but a client that opens a connection and
sends nothing, dribbles its headers or declares a body it never sends is held forever. Here:

- ``header_timeout``: from the connection's start (or the end of the previous response) to the
  end of the next request's headers; a partial head gets a 408, silence just a close;
- ``body_timeout`` + the declared size at ``body_min_rate`` bytes/s (a chunked body: the upload
  cap's size): from the end of the headers to the end of the body; then a 408 and close (the
  app sees a disconnect). A 30-byte body dribbled over 30 s is cut at ~10 s; 20 MB may take 7 min.

Settings come from :class:`nolabel.components.serve.settings.ServeSettings` (``NOLABEL_SERVE_*``).
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from nolabel.components.common.settings import get_settings
from nolabel.components.serve.settings import ServeSettings

log = logging.getLogger("nolabel.serve")
TIMEOUT_BODY = b'{"detail":"request not received in time","code":"request_timeout"}'


@lru_cache(maxsize=1)
def _limits() -> tuple[float, float, int, int]:

    settings = ServeSettings()
    return (
        settings.header_timeout,
        settings.body_timeout,
        settings.body_min_rate,
        get_settings().max_upload_bytes,
    )


def _declared_length(headers: list[tuple[bytes, bytes]], default: int) -> int:
    for name, value in headers:
        if name == b"content-length" and value.strip().isdigit():
            return int(value)
    return default


class GuardedH11Protocol(H11Protocol):
    """:class:`H11Protocol` plus header and body deadlines (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout, self.body_timeout, self.body_min_rate, self.max_body = _limits()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._seen_cycle: Any = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm("header", self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        for name in list(self._timers):
            self._cancel(name)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._track()

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._arm("header", self.header_timeout)
        super().on_response_complete()
        self._track()

    def _track(self) -> None:
        """Move from the header deadline to the body deadline as the request arrives."""
        cycle = self.cycle
        if cycle is None:
            return
        if cycle is not self._seen_cycle:
            self._seen_cycle = cycle
            self._cancel("header")
            if cycle.more_body:
                length = _declared_length(self.headers, self.max_body)
                self._arm("body", self.body_timeout + length / self.body_min_rate)
        if not cycle.more_body:
            self._cancel("body")

    def _arm(self, name: str, seconds: float) -> None:
        self._cancel(name)
        self._timers[name] = self.loop.call_later(seconds, self._expire, name)

    def _cancel(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()

    def _expire(self, name: str) -> None:
        self._timers.pop(name, None)
        if self.transport.is_closing():
            return
        cycle = self.cycle if name == "body" else None
        started = cycle is not None and cycle.response_started
        partial = name == "body" or bool(self.conn.trailing_data[0])
        log.info("client too slow; closing", extra={"phase": name, "client": self.client})
        if partial and not started:
            self._send_408()
        if cycle is not None:
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    def _send_408(self) -> None:
        """Written raw: before a complete request head h11 has no state to answer from."""
        head = (
            b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n" % len(TIMEOUT_BODY)
        )
        self.transport.write(head + TIMEOUT_BODY)
