"""Shared route dependencies: auth, error docs, model snapshots, worker-thread helpers."""

from __future__ import annotations

import hmac
import time
from typing import Any

import anyio
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from nolabel.components.serve.decoding import decode_within_budget
from nolabel.components.serve.errors import ApiError
from nolabel.components.serve.inputs import read_uploads
from nolabel.components.serve.models import LoadedModel, ModelManager, ModelSet
from nolabel.components.serve.schemas import ModelRef


class ErrorBody(BaseModel):
    """Every error response."""

    detail: Any
    code: str
    request_id: str | None = None


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


IMAGE_ERRORS = error_responses(400, 401, 413, 415, 422, 503)
bearer = HTTPBearer(auto_error=False, description="Required when NOLABEL_API_TOKEN is set.")


def require_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> None:
    """Check ``Authorization: Bearer <token>`` in constant time when a token is configured."""
    expected = request.app.state.settings.api_token
    if expected is None:
        return
    given = credentials.credentials if credentials else ""
    if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        raise ApiError(
            401,
            "unauthorized",
            "missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


def manager_of(request: Request) -> ModelManager:
    return request.app.state.manager


def elapsed_ms(request: Request) -> float:
    started = getattr(request.state, "started", None) or time.perf_counter()
    return round((time.perf_counter() - started) * 1000, 3)


def models_or_503(request: Request, *kinds: str) -> ModelSet:
    """The snapshot this request will use to the end, or 503 if a needed model is missing."""
    models = manager_of(request).current()
    missing = [kind for kind in kinds if models.get(kind) is None]
    if missing:
        raise ApiError(503, "not_ready", f"model not loaded yet: {', '.join(missing)}")
    return models


def model_ref(loaded: LoadedModel | None) -> ModelRef:
    assert loaded is not None
    return ModelRef(name=loaded.name, version=loaded.version)


async def in_thread(request: Request, func, *args):
    """Run blocking work in the worker pool, bounded by the inference limiter."""
    return await anyio.to_thread.run_sync(func, *args, limiter=request.app.state.limiter)


async def decoded(request: Request, field: str, max_files: int, min_side: int | None = None):
    """The request's images, decoded within the per-request and in-flight pixel budgets."""

    state = request.app.state
    uploads = await read_uploads(request, field, max_files)
    return await in_thread(
        request,
        decode_within_budget,
        uploads,
        state.decode_gate,
        state.settings.max_image_pixels,
        state.serve_settings.max_request_pixels,
        min_side,
    )
