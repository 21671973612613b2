"""API errors: one JSON shape ``{"detail", "code", "request_id"}`` for every 4xx/5xx."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from nolabel.components.common.errors import InputError
from nolabel.components.common.images import ImageError

log = logging.getLogger("nolabel.serve")

CLIENT_CLOSED = 499  # nginx's code: the client went away before the response
# HTTP status of each ``ImageError.reason``.
IMAGE_ERROR_STATUS = {
    "empty": 400,
    "not_an_image": 415,
    "undecodable": 400,
    "too_many_pixels": 413,
    "unreadable": 400,
}
STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    411: "length_required",
    413: "too_large",
    415: "unsupported_media_type",
    431: "too_many_headers",
    422: "invalid_request",
    500: "internal_error",
    503: "not_ready",
}


class ApiError(Exception):
    """An error with a status, a machine-readable code and a sentence for people."""

    def __init__(self, status: int, code: str, detail: str, headers: dict | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


def error_body(request: Request, status: int, code: str, detail: Any) -> dict[str, Any]:
    """The JSON body of an error response."""
    return {
        "detail": detail,
        "code": code,
        "request_id": getattr(request.state, "request_id", None),
    }


def _respond(request: Request, status: int, code: str, detail: Any, headers=None) -> JSONResponse:
    return JSONResponse(error_body(request, status, code, detail), status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Turn every error into the common JSON shape (never an HTML page or a bare 500)."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _respond(request, exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(ImageError)
    async def _image_error(request: Request, exc: ImageError) -> JSONResponse:
        return _respond(request, IMAGE_ERROR_STATUS.get(exc.reason, 400), exc.reason, str(exc))

    @app.exception_handler(InputError)
    async def _input_error(request: Request, exc: InputError) -> JSONResponse:
        return _respond(request, 400, "bad_request", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = STATUS_CODES.get(exc.status_code, "error")
        return _respond(request, exc.status_code, code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()))
            parts.append(f"{where}: {error.get('msg')}")
        return _respond(request, 422, "invalid_request", "; ".join(parts) or "invalid request")

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> Response:
        log.info("client disconnected", extra={"path": request.url.path})
        return Response(status_code=CLIENT_CLOSED)  # never sent; logged and counted as 499

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return _respond(request, 500, "internal_error", "internal error; see the server log")
