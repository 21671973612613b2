"""The versioned prediction API under ``/v1`` (bearer token when one is configured)."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Depends, Query, Request

from nolabel.components.common.images import models_side
from nolabel.components.detect.policy import DETECTOR_GATE, apply_policy
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
from nolabel.components.serve.models import CLASSIFIER, DETECTOR, ModelSet
from nolabel.components.serve.schemas import (
    BatchResponse,
    Box,
    ClassifyResponse,
    ExplainResponse,
    ModelsResponse,
    Prediction,
    PredictModels,
    PredictResponse,
)

v1 = APIRouter(prefix="/v1", tags=["predictions"], dependencies=[Depends(require_token)])

MinScore = Query(
    0.0, ge=0.0, le=1.0, description="Drop boxes scoring (detector x classifier) below this."
)
DetectorGate = Query(
    DETECTOR_GATE,
    ge=0.0,
    le=1.0,
    description="An image gets boxes only if its best detector box reaches this.",
)
BoxesOnEmpty = Query(
    False, description="Also return the detector's boxes on images the classifier calls empty."
)
MaxBoxes = Query(100, ge=0, le=1000, description="Return at most this many boxes per image.")


def needed_side(models: ModelSet, with_detector: bool) -> int | None:
    """Pixels a side the models look at (a larger JPEG is decoded reduced); None: unknown."""
    detector = models.detector.model if with_detector else None
    return models_side(models.classifier.model, detector)


async def _predictions(
    request: Request,
    models: ModelSet,
    images,
    min_score: float,
    max_boxes: int,
    boxes_on_empty: bool = False,
    detector_gate: float = DETECTOR_GATE,
) -> list[Prediction]:
    """Classifier and detector side by side in two worker threads, then the verdict policy of
    ``nolabel.components.detect.policy`` (no box on an image the classifier calls empty)."""
    arrays = [image.array for image in images]
    sizes = [(image.width, image.height) for image in images]
    metrics = request.app.state.metrics
    found: dict = {}

    async def run_classifier() -> None:
        found["p"] = await in_thread(
            request, inference.classify, models.classifier, arrays, metrics
        )

    async def run_detector() -> None:
        found["boxes"] = await in_thread(
            request, inference.detect, models.detector, arrays, metrics, 0.0, max_boxes, sizes
        )

    async with anyio.create_task_group() as group:
        group.start_soon(run_classifier)
        group.start_soon(run_detector)
    threshold = float(models.classifier.model.threshold)
    predictions = []
    for image, p, raw in zip(images, found["p"], found["boxes"], strict=True):
        policy = apply_policy(
            [((b.x1, b.y1, b.x2, b.y2), b.score) for b in raw],
            float(p),
            threshold,
            min_score=min_score,
            keep_negative=boxes_on_empty,
            detector_gate=detector_gate,
        )
        label = raw[0].label if raw else "object"
        boxes = [
            Box(
                **dict(zip(("x1", "y1", "x2", "y2"), box["bbox"], strict=True)),
                score=box["score"],
                detector_score=box["detector_score"],
                label=label,
            )
            for box in policy.boxes
        ]
        predictions.append(
            Prediction(
                filename=image.filename,
                probability=float(p),
                is_positive=bool(p >= threshold),
                threshold=threshold,
                verdict=policy.verdict,
                width=image.width,
                height=image.height,
                boxes=boxes,
            )
        )
    return predictions


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
    detector_gate: float = DetectorGate,
    max_boxes: int = MaxBoxes,
    boxes_on_empty: bool = BoxesOnEmpty,
) -> PredictResponse:
    """One image as multipart field ``file`` or as the raw body (``Content-Type: image/...``).

    Boxes are in the original image's pixels, best first. An image the classifier calls
    negative has verdict ``empty`` and no boxes (unless ``boxes_on_empty``), and so has one
    whose best detector box scores under ``detector_gate``; a box's ``score`` is the geometric
    mean of the detector's score and the probability.
    """
    models = models_or_503(request, CLASSIFIER, DETECTOR)
    images = await decoded(request, "file", 1, needed_side(models, with_detector=True))
    (result,) = await _predictions(
        request, models, images, min_score, max_boxes, boxes_on_empty, detector_gate
    )
    return PredictResponse(
        **result.model_dump(),
        request_id=request.state.request_id,
        models=PredictModels(
            classifier=model_ref(models.classifier), detector=model_ref(models.detector)
        ),
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
    detector_gate: float = DetectorGate,
    max_boxes: int = MaxBoxes,
    boxes_on_empty: bool = BoxesOnEmpty,
) -> BatchResponse:
    """Several images as repeated multipart fields ``files``; one bad image fails the request."""
    models = models_or_503(request, CLASSIFIER, DETECTOR)
    limit = request.app.state.serve_settings.max_batch_images
    images = await decoded(request, "files", limit, needed_side(models, with_detector=True))
    results = await _predictions(
        request, models, images, min_score, max_boxes, boxes_on_empty, detector_gate
    )
    return BatchResponse(
        request_id=request.state.request_id,
        results=results,
        models=PredictModels(
            classifier=model_ref(models.classifier), detector=model_ref(models.detector)
        ),
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
