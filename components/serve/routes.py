"""HTTP routes: probes and metrics at the root, the versioned prediction API under ``/v1``."""

from __future__ import annotations

import hmac
import time
from typing import Any

import anyio
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from components.serve import inference
from components.serve.errors import ApiError
from components.serve.inputs import decode_upload, image_request_body, read_uploads
from components.serve.models import CLASSIFIER, DETECTOR, LoadedModel, ModelManager, ModelSet
from components.serve.schemas import (
    BatchResponse,
    ClassifyResponse,
    ExplainResponse,
    HealthResponse,
    ModelRef,
    ModelsResponse,
    Prediction,
    PredictModels,
    PredictResponse,
    ReadyResponse,
)


class ErrorBody(BaseModel):
    """Every error response."""

    detail: Any
    code: str
    request_id: str | None = None


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in codes}


IMAGE_ERRORS = _errors(400, 401, 413, 415, 422, 503)
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


health = APIRouter(tags=["operations"])
v1 = APIRouter(prefix="/v1", tags=["predictions"], dependencies=[Depends(require_token)])


def _manager(request: Request) -> ModelManager:
    return request.app.state.manager


def _elapsed_ms(request: Request) -> float:
    started = getattr(request.state, "started", None) or time.perf_counter()
    return round((time.perf_counter() - started) * 1000, 3)


def _models(request: Request, *kinds: str) -> ModelSet:
    """The snapshot this request will use to the end, or 503 if a needed model is missing."""
    models = _manager(request).current()
    missing = [kind for kind in kinds if models.get(kind) is None]
    if missing:
        raise ApiError(503, "not_ready", f"model not loaded yet: {', '.join(missing)}")
    return models


def _ref(loaded: LoadedModel | None) -> ModelRef:
    assert loaded is not None
    return ModelRef(name=loaded.name, version=loaded.version)


async def _in_thread(request: Request, func, *args):
    """Run blocking work in the worker pool, bounded by the inference limiter."""
    return await anyio.to_thread.run_sync(func, *args, limiter=request.app.state.limiter)


async def _decoded(request: Request, field: str, max_files: int):
    max_pixels = request.app.state.settings.max_image_pixels
    uploads = await read_uploads(request, field, max_files)

    def decode_all():
        return [decode_upload(data, kind, name, max_pixels) for data, kind, name in uploads]

    return await _in_thread(request, decode_all)


MinScore = Query(0.0, ge=0.0, le=1.0, description="Drop boxes scoring below this.")
MaxBoxes = Query(100, ge=0, le=1000, description="Return at most this many boxes per image.")


@health.get("/healthz", response_model=HealthResponse, summary="Liveness (no model work)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@health.get(
    "/readyz", response_model=ReadyResponse, responses=_errors(503), summary="Models loaded?"
)
async def readyz(request: Request) -> Any:
    manager = _manager(request)
    body = {"ready": manager.ready(), "models": manager.status()}
    return body if body["ready"] else JSONResponse(body, status_code=503)


@health.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


def _predictions(models: ModelSet, images, metrics, min_score: float, max_boxes: int):
    arrays = [image.array for image in images]
    probabilities = inference.classify(models.classifier, arrays, metrics)
    boxes = inference.detect(models.detector, arrays, metrics, min_score, max_boxes)
    threshold = float(models.classifier.model.threshold)
    return [
        Prediction(
            filename=image.filename,
            probability=float(p),
            is_positive=bool(p >= threshold),
            threshold=threshold,
            width=image.width,
            height=image.height,
            boxes=image_boxes,
        )
        for image, p, image_boxes in zip(images, probabilities, boxes, strict=True)
    ]


@v1.post(
    "/predict",
    response_model=PredictResponse,
    responses=IMAGE_ERRORS,
    openapi_extra=image_request_body("file", many=False),
    summary="Probability and boxes for one image",
)
async def predict(
    request: Request, min_score: float = MinScore, max_boxes: int = MaxBoxes
) -> PredictResponse:
    """One image as multipart field ``file`` or as the raw body (``Content-Type: image/...``).

    Boxes are in the original image's pixels, best first, whatever the classifier says.
    """
    models = _models(request, CLASSIFIER, DETECTOR)
    images = await _decoded(request, "file", 1)
    metrics = request.app.state.metrics
    (result,) = await _in_thread(
        request, _predictions, models, images, metrics, min_score, max_boxes
    )
    return PredictResponse(
        **result.model_dump(),
        request_id=request.state.request_id,
        models=PredictModels(classifier=_ref(models.classifier), detector=_ref(models.detector)),
        latency_ms=_elapsed_ms(request),
    )


@v1.post(
    "/predict/batch",
    response_model=BatchResponse,
    responses=IMAGE_ERRORS,
    openapi_extra=image_request_body("files", many=True),
    summary="Probability and boxes for several images",
)
async def predict_batch(
    request: Request, min_score: float = MinScore, max_boxes: int = MaxBoxes
) -> BatchResponse:
    """Several images as repeated multipart fields ``files``; one bad image fails the request."""
    models = _models(request, CLASSIFIER, DETECTOR)
    images = await _decoded(request, "files", request.app.state.serve_settings.max_batch_images)
    metrics = request.app.state.metrics
    results = await _in_thread(request, _predictions, models, images, metrics, min_score, max_boxes)
    return BatchResponse(
        request_id=request.state.request_id,
        results=results,
        models=PredictModels(classifier=_ref(models.classifier), detector=_ref(models.detector)),
        latency_ms=_elapsed_ms(request),
    )


@v1.post(
    "/classify",
    response_model=ClassifyResponse,
    responses=IMAGE_ERRORS,
    openapi_extra=image_request_body("file", many=False),
    summary="Positive probability only (fast path, no detector)",
)
async def classify(request: Request) -> ClassifyResponse:
    models = _models(request, CLASSIFIER)
    (image,) = await _decoded(request, "file", 1)
    metrics = request.app.state.metrics
    (probability,) = await _in_thread(
        request, inference.classify, models.classifier, [image.array], metrics
    )
    threshold = float(models.classifier.model.threshold)
    return ClassifyResponse(
        request_id=request.state.request_id,
        probability=float(probability),
        is_positive=bool(probability >= threshold),
        threshold=threshold,
        width=image.width,
        height=image.height,
        model=_ref(models.classifier),
        latency_ms=_elapsed_ms(request),
    )


@v1.post(
    "/explain",
    response_model=ExplainResponse,
    responses=IMAGE_ERRORS,
    openapi_extra=image_request_body("file", many=False),
    summary="LIME explanation of the classifier on one image (slow path)",
)
async def explain(
    request: Request,
    num_samples: int | None = Query(
        None, ge=10, le=10_000, description="LIME samples (default and upper bound: settings)."
    ),
    seed: int = Query(0, ge=0, le=2**31 - 1, description="Random seed of the LIME samples."),
) -> ExplainResponse:
    """Boxes around the superpixels that raise P(positive) most, and a heat-map PNG."""
    serve_settings = request.app.state.serve_settings
    limit = serve_settings.explain_max_samples
    samples = num_samples or min(serve_settings.explain_default_samples, limit)
    if samples > limit:
        raise ApiError(
            422,
            "invalid_request",
            f"num_samples must be at most {limit}",
        )
    models = _models(request, CLASSIFIER)
    (image,) = await _decoded(request, "file", 1)
    metrics = request.app.state.metrics
    (probability,) = await _in_thread(
        request, inference.classify, models.classifier, [image.array], metrics
    )
    found = await _in_thread(
        request,
        inference.explain,
        models.classifier,
        image.array,
        metrics,
        samples,
        serve_settings.explain_max_side,
        seed,
    )
    threshold = float(models.classifier.model.threshold)
    return ExplainResponse(
        **found,
        request_id=request.state.request_id,
        probability=float(probability),
        is_positive=bool(probability >= threshold),
        threshold=threshold,
        width=image.width,
        height=image.height,
        model=_ref(models.classifier),
        latency_ms=_elapsed_ms(request),
    )


@v1.get("/models", response_model=ModelsResponse, responses=_errors(401), summary="Models")
async def list_models(request: Request) -> ModelsResponse:
    """The models in service, where they came from and the last registry check."""
    return _models_response(request)


@v1.post(
    "/models/refresh",
    response_model=ModelsResponse,
    responses=_errors(401),
    summary="Check the registry aliases now (hot swap without waiting for the poll)",
)
async def refresh_models(request: Request) -> ModelsResponse:
    await anyio.to_thread.run_sync(_manager(request).refresh)
    return _models_response(request)


def _models_response(request: Request) -> ModelsResponse:
    settings = request.app.state.settings
    return ModelsResponse(
        models=_manager(request).status(),
        alias=settings.model_alias,
        refresh_seconds=settings.model_refresh_seconds,
    )
