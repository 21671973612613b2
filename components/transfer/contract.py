"""The train and classify steps' contracts (light: no heavy import)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from nolabel.components.common.contracts import Contract, Step
from nolabel.components.common.names import CANDIDATE, CLASSIFIER_MODEL

Backbone = Literal["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2", "resnet50"]


class TrainParams(Contract):
    """Settings of ``nolabel train``."""

    dataset: str = Field(description="Dataset name (crawled first).")
    backbone: Backbone = Field("efficientnet-lite0", description="Featurizer backbone.")
    weights: str | None = Field(None, description="resnet50: torchvision state dict, path or URL.")
    variants: str = Field(
        "all", description="all, seeds, or comma-separated variants (e.g. L120,cut2+flip)."
    )
    input_size: int = Field(224, ge=32, le=1024, description="Backbone input side in pixels.")
    spark_master: str | None = Field(None, description="Spark master URL (default local[*]).")
    batch_size: int = Field(32, ge=1, le=1024, description="Images per inference batch.")
    reg_param: float = Field(0.01, ge=0, description="LogisticRegression regParam.")
    elastic_net: float = Field(0.0, ge=0, le=1, description="LogisticRegression elasticNetParam.")
    max_iter: int = Field(100, ge=1, description="LogisticRegression iterations.")
    class_weights: bool = Field(True, description="Weight classes to balance them.")
    test_fraction: float = Field(0.25, gt=0, lt=1, description="Held-out share (stratified).")
    threshold_method: Literal["f1", "youden"] = Field("f1", description="Threshold calibration.")
    seed: int = Field(42, description="Split seed.")
    register_model: bool = Field(True, description=f"Register the best as {CLASSIFIER_MODEL}.")
    alias: str = Field(CANDIDATE, description="Alias of the registered version.")
    refresh_features: bool = Field(False, description="Recompute cached features.")


class TrainResult(Contract):
    """What ``nolabel train`` produced."""

    parent_run_id: str
    best_variant: str
    metrics: dict[str, Any]
    model_uri: str
    model_name: str = CLASSIFIER_MODEL
    model_version: str | None
    table: list[dict[str, Any]]
    features: dict[str, str] = {}
    image_errors: dict[str, int] = {}
    images: dict[str, int] = {}
    seconds: float = 0.0


class ClassifyParams(Contract):
    """Settings of ``nolabel classify``."""

    images: str = Field(..., description="Directory of images (searched recursively).")
    out: str = Field(..., description="Output file: .csv or .json.")
    model: str | None = Field(None, description="Model URI (default: the registry's).")
    batch_size: int = Field(32, ge=1, le=1024, description="Images per batch.")


class ClassifyResult(Contract):
    """What ``nolabel classify`` wrote."""

    out: str
    images: int
    classified: int
    positives: int
    failures: dict[str, int]
    model_name: str | None
    model_version: str | None
    threshold: float


def train(params: TrainParams) -> TrainResult:
    """Run the train step (:func:`nolabel.components.transfer.step.run`, imported now)."""
    from nolabel.components.transfer.step import run

    return run(params)


def classify(params: ClassifyParams) -> ClassifyResult:
    """Run the classify step (:func:`nolabel.components.transfer.classify.run_classify`)."""
    from nolabel.components.transfer.classify import run_classify

    return run_classify(params)


TRAIN = Step(train, image="spark")
CLASSIFY = Step(classify, image="spark", json_command="classify-json")
