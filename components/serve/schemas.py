"""Response models of the API (they make the OpenAPI schema)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ModelRef(BaseModel):
    """Which model answered."""

    name: str
    version: str


class Box(BaseModel):
    """A box in the ORIGINAL image's pixels (x1, y1 top-left; x2, y2 bottom-right)."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    label: str
    crop_probability: float | None = Field(
        None, description="The classifier's probability on the box's crop."
    )
    sources: dict[str, float] | None = Field(
        None, description="Evidence of each source that found it (detector, proposal)."
    )


class ClassifyResponse(BaseModel):
    """Positive probability of one image."""

    request_id: str | None = None
    probability: float = Field(description="P(positive) from the classifier.")
    is_positive: bool = Field(description="probability >= the model's threshold.")
    threshold: float
    width: int
    height: int
    model: ModelRef
    latency_ms: float = Field(description="Server-side time from request start to response.")


class PredictModels(BaseModel):
    classifier: ModelRef
    detector: ModelRef


class Prediction(BaseModel):
    """Probability and boxes of one image."""

    filename: str | None = None
    probability: float
    is_positive: bool
    threshold: float
    verdict: Literal["animal", "candidate", "empty"] = "animal"
    animal_score: float | None = Field(
        None, description="The image's best fused box score (what the verdict is gated on)."
    )
    width: int
    height: int
    boxes: list[Box]
    others: list[Box] = Field(
        [], description="People and vehicles the COCO detector saw (label person / vehicle)."
    )


class PredictResponse(Prediction):
    """``POST /v1/predict``: one image."""

    request_id: str | None = None
    models: PredictModels
    latency_ms: float


class BatchResponse(BaseModel):
    """``POST /v1/predict/batch``: one prediction per uploaded file, in upload order."""

    request_id: str | None = None
    results: list[Prediction]
    models: PredictModels
    latency_ms: float


class ExplainResponse(BaseModel):
    """LIME explanation of the classifier's score on one image."""

    request_id: str | None = None
    probability: float
    is_positive: bool
    threshold: float
    width: int
    height: int
    boxes: list[Box] = Field(description="Boxes around the most positive superpixels.")
    heatmap_png_base64: str = Field(description="PNG heat map (base64) of superpixel weights.")
    heatmap_width: int
    heatmap_height: int
    num_samples: int
    r2: float | None = None
    model: ModelRef
    latency_ms: float


class HealthResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    ready: bool
    models: dict[str, dict]


class ModelsResponse(BaseModel):
    """The models in service and the last registry check of each."""

    models: dict[str, dict]
    alias: str
    refresh_seconds: float
