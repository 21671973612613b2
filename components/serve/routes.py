"""The versioned prediction API under ``/v1`` (bearer token when one is configured)."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Depends, Query, Request

from nolabel.components.common.defaults import DEFAULT_API_MIN_SCORE, DEFAULT_FRAME_GATE
from nolabel.components.common.images import models_side
from nolabel.components.serve import inference
from nolabel.components.serve.deps import (
    IMAGE_ERRORS,
    decoded,
    elapsed_ms,
    error_responses,
    in_thread,
    manager_of,
    model_ref,
    models_or_503,
    require_token,
)
from nolabel.components.serve.errors import ApiError
from nolabel.components.serve.inputs import image_request_body
from nolabel.components.serve.models import CLASSIFIER, DETECTOR, PROPOSER, ModelSet
from nolabel.components.serve.schemas import (
    BatchResponse,
    ClassifyResponse,
    ExplainResponse,
    ModelsResponse,
    Prediction,
    PredictModels,
    PredictResponse,
)

v1 = APIRouter(prefix="/v1", tags=["predictions"], dependencies=[Depends(require_token)])

MinScore = Query(
    DEFAULT_API_MIN_SCORE, ge=0.0, le=1.0, description="Drop fused boxes scoring below this."
)
FrameGate = Query(
    DEFAULT_FRAME_GATE,
    ge=0.0,
    le=1.0,
    description="An image is an animal image (and gets boxes) when its best box reaches this.",
)
BoxesOnEmpty = Query(
    False, description="Also return the fused boxes of images that are not animal images."
)
MaxBoxes = Query(100, ge=0, le=1000, description="Return at most this many boxes per image.")


def needed_side(models: ModelSet, with_detector: bool) -> int | None:
    """Pixels a side the models look at (a larger JPEG is decoded reduced); None: unknown."""
    detector = models.detector.model if with_detector and models.detector else None
    proposer = models.proposer.model if with_detector and models.proposer else None
    return models_side(models.classifier.model, detector, proposer)


def _needed_kinds(request: Request) -> tuple[str, ...]:
    """The models /v1/predict waits for: the proposer too when the service uses proposals."""
    return (CLASSIFIER, DETECTOR, PROPOSER) if PROPOSER in manager_of(request).kinds else (
        CLASSIFIER, DETECTOR)  # fmt: skip


async def _predictions(
    request: Request,
    field: str,
    limit: int,
    *,
    min_score: float,
    max_boxes: int,
    boxes_on_empty: bool,
    frame_gate: float,
) -> tuple[list[Prediction], PredictModels]:
    """The images of multipart ``field`` (at most ``limit``) judged, and the models that did:
    detect, then classify (``nolabel.components.detect.evidence``) in a worker thread, then the
    policy of ``nolabel.components.detect.policy``: one box per animal, none on an image that
    is not an animal image."""
    models = models_or_503(request, *_needed_kinds(request))
    images = await decoded(request, field, limit, needed_side(models, with_detector=True))
    records = await in_thread(
        request, inference.judge_images, models, images, request.app.state.metrics,
        request.app.state.serve_settings.equalize_infrared,
    )  # fmt: skip
    threshold = float(models.classifier.model.threshold)
    label = inference.box_label(models.detector.model)
    predictions = [
        inference.prediction(
            image, record, threshold, label, min_score=min_score, max_boxes=max_boxes,
            keep_negative=boxes_on_empty, frame_gate=frame_gate,
        )
        for image, record in zip(images, records, strict=True)
    ]  # fmt: skip
    used = PredictModels(
        classifier=model_ref(models.classifier), detector=model_ref(models.detector)
    )
    return predictions, used


@v1.post(
    "/predict",
    response_model=PredictResponse,
    responses=IMAGE_ERRORS,
    openapi_extra=image_request_body("file", many=False),
    summary="Probability and boxes for one image",
)
async def predict(
    request: Request,
    min_score: float = MinScore,
    frame_gate: float = FrameGate,
    max_boxes: int = MaxBoxes,
    boxes_on_empty: bool = BoxesOnEmpty,
) -> PredictResponse:
    """One image as multipart field ``file`` or as the raw body (``Content-Type: image/...``).

    Boxes are in the original image's pixels, best first, one per animal: the detector's boxes
    and the animal proposals, each judged by the classifier on its crop, fused. An image whose
    best box scores under ``frame_gate`` is not an animal image (verdict ``candidate`` or
    ``empty``) and gets no boxes unless ``boxes_on_empty``.
    """
    (result,), used = await _predictions(
        request, "file", 1, min_score=min_score, max_boxes=max_boxes,
        boxes_on_empty=boxes_on_empty, frame_gate=frame_gate,
    )  # fmt: skip
    return PredictResponse(
        **result.model_dump(),
        request_id=request.state.request_id,
        models=used,
        latency_ms=elapsed_ms(request),
    )


@v1.post(
    "/predict/batch",
    response_model=BatchResponse,
    responses=IMAGE_ERRORS,
    openapi_extra=image_request_body("files", many=True),
    summary="Probability and boxes for several images",
)
async def predict_batch(
    request: Request,
    min_score: float = MinScore,
    frame_gate: float = FrameGate,
    max_boxes: int = MaxBoxes,
    boxes_on_empty: bool = BoxesOnEmpty,
) -> BatchResponse:
    """Several images as repeated multipart fields ``files``; one bad image fails the request."""
    results, used = await _predictions(
        request, "files", request.app.state.serve_settings.max_batch_images,
        min_score=min_score, max_boxes=max_boxes, boxes_on_empty=boxes_on_empty,
        frame_gate=frame_gate,
    )  # fmt: skip
    return BatchResponse(
        request_id=request.state.request_id,
        results=results,
        models=used,
        latency_ms=elapsed_ms(request),
    )


@v1.post(
    "/classify",
    response_model=ClassifyResponse,
    responses=IMAGE_ERRORS,
    openapi_extra=image_request_body("file", many=False),
    summary="Positive probability only (fast path, no detector)",
)
async def classify(request: Request) -> ClassifyResponse:
    models = models_or_503(request, CLASSIFIER)
    (image,) = await decoded(request, "file", 1, needed_side(models, with_detector=False))
    metrics = request.app.state.metrics
    (probability,) = await in_thread(
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
        model=model_ref(models.classifier),
        latency_ms=elapsed_ms(request),
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
    models = models_or_503(request, CLASSIFIER)
    (image,) = await decoded(request, "file", 1)
    metrics = request.app.state.metrics
    (probability,) = await in_thread(
        request, inference.classify, models.classifier, [image.array], metrics
    )
    found = await in_thread(
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
        model=model_ref(models.classifier),
        latency_ms=elapsed_ms(request),
    )


@v1.get("/models", response_model=ModelsResponse, responses=error_responses(401), summary="Models")
async def list_models(request: Request) -> ModelsResponse:
    """The models in service, where they came from and the last registry check."""
    return _models_response(request)


@v1.post(
    "/models/refresh",
    response_model=ModelsResponse,
    responses=error_responses(401),
    summary="Check the registry aliases now (hot swap without waiting for the poll)",
)
async def refresh_models(request: Request) -> ModelsResponse:
    await anyio.to_thread.run_sync(manager_of(request).refresh)
    return _models_response(request)


def _models_response(request: Request) -> ModelsResponse:
    settings = request.app.state.settings
    return ModelsResponse(
        models=manager_of(request).status(),
        alias=settings.model_alias,
        refresh_seconds=settings.model_refresh_seconds,
    )
