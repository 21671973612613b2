"""Operations routes at the root: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from nolabel.components.serve.deps import manager_of
from nolabel.components.serve.schemas import HealthResponse, ReadyResponse

health = APIRouter(tags=["operations"])


@health.get("/healthz", response_model=HealthResponse, summary="Liveness (no model work)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@health.get(
    "/readyz",
    response_model=ReadyResponse,
    responses={503: {"model": ReadyResponse, "description": "A required model is missing."}},
    summary="Models loaded?",
)
async def readyz(request: Request) -> Any:
    manager = manager_of(request)
    body = {"ready": manager.ready(), "models": manager.status()}
    return body if body["ready"] else JSONResponse(body, status_code=503)


@health.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
