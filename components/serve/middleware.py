"""Pure-ASGI middleware: request IDs, security headers, body size cap, metrics and structured
JSON access logs."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nolabel.components.serve.metrics import ServeMetrics
from nolabel.components.serve.security import with_security_headers

access_log = logging.getLogger("nolabel.serve.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and every ``extra`` field."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, separators=(",", ":"))


def configure_logging(level: str = "info") -> None:
    """Send ``nolabel.serve`` logs to stderr as JSON lines (idempotent)."""
    logger = logging.getLogger("nolabel.serve")
    logger.setLevel(level.upper())
    if not any(getattr(h, "_nolabel_json", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._nolabel_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False


class BodyTooLarge(HTTPException):
    """The request body passed the size cap while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds the limit of {limit} bytes")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class RequestContextMiddleware:
    """Give each request an ID, cap its body, time it, count it and log it as one JSON line;
    every response gets the security headers (:mod:`nolabel.components.serve.security`)."""

    def __init__(
        self, app: ASGIApp, *, metrics: ServeMetrics, max_body_bytes: int, max_headers: int = 100
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.max_headers = max_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"], state["started"] = request_id, started
        status = 500
        response_started = False
        received = 0
        limit = self.max_body_bytes

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = with_security_headers(list(message.get("headers", [])))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        self.metrics.in_flight.inc()
        try:
            declared = _header(scope, b"content-length")
            too_large = declared is not None and declared.isdigit() and int(declared) > limit
            if len(scope.get("headers", ())) > self.max_headers:
                detail = f"more than {self.max_headers} header fields"
                await self._reject(send_with_id, 431, "too_many_headers", detail, request_id)
            elif too_large:
                detail = BodyTooLarge(limit).detail
                await self._reject(send_with_id, 413, "too_large", detail, request_id)
            else:
                try:
                    await self.app(scope, capped_receive, send_with_id)
                except BodyTooLarge as exc:
                    if response_started:
                        raise
                    await self._reject(send_with_id, 413, "too_large", exc.detail, request_id)
        finally:
            self.metrics.in_flight.dec()
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], route, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                access_log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                        "bytes_in": received,
                        "client": client[0] if client else None,
                    },
                )

    @staticmethod
    async def _reject(send: Send, status: int, code: str, detail: str, request_id: str) -> None:
        body = json.dumps({"detail": detail, "code": code, "request_id": request_id}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
