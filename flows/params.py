"""Validated parameters of the flows (shown as forms in the Prefect UI)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from nolabel.components.common.datasets import check_name
from nolabel.components.common.errors import InputError
from nolabel.components.common.names import ProviderName
from nolabel.components.crawl.contract import MAX_PER_PAGE, PER_PAGE, Queries
from nolabel.components.transfer.contract import Backbone

DEMO_DATASET = "demo"  # dataset name of `nolabel demo`


class PipelineParams(BaseModel):
    """Everything ``build_detector`` needs: crawl, classifier, LIME and detector settings."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    dataset: str = Field(..., description="Dataset name in the store (letters, digits, ._-).")
    provider: ProviderName = Field("demo", description="Image search provider.")
    positive: Queries = Field(..., min_length=1, description="Positive-class search queries.")
    negative: Queries = Field(default_factory=list, description="Negative-class queries.")
    random_negatives: int = Field(
        0, ge=0, le=100_000, description="Number of random-word negative queries."
    )
    pages: int = Field(1, ge=1, le=1000, description="Result pages per positive query.")
    per_page: int = Field(PER_PAGE, ge=1, le=MAX_PER_PAGE, description="Images per page.")
    folder_root: str | None = Field(None, description="Root directory of the folder provider.")
    backbone: Backbone = Field("efficientnet-lite0", description="Featurizer backbone.")
    variants: list[str] | None = Field(
        None, description="Classifier variants to compare (None: the train step's default)."
    )
    lime_samples: int | None = Field(
        None, ge=10, le=100_000, description="LIME samples per image (default: the step's)."
    )
    localizer: Literal["lime", "gradcam"] = Field(
        "lime", description="Where the object is: LIME or Grad-CAM (one forward pass)."
    )
    target: str | None = Field(
        None,
        description="Folder of the user's unlabeled frames: its confident-empty frames train the "
        "detector as negatives, what moves in its positive bursts as pseudo-boxes (adaptation "
        "to the user's cameras).",
    )
    detector_negatives: bool = Field(
        False,
        description="Also train the detector on the crawl's negatives as images holding nothing "
        "(off by default: it cost AP50 on lion-test, see the detect README).",
    )
    detector_config: str | None = Field(None, description="Detector config name.")
    epochs: int = Field(12, ge=1, le=1000, description="Detector fine-tuning epochs.")
    image_size: int = Field(512, ge=64, le=4096, description="Detector input image size.")
    promote: bool = Field(False, description="Set alias 'production' on the new models.")
    run_tag: str = Field(
        "", max_length=64, description="Salt of the step result keys: a new tag redoes every step."
    )
    crawl_options: dict[str, Any] = Field(default_factory=dict, description="Extra CrawlParams.")
    train_options: dict[str, Any] = Field(default_factory=dict, description="Extra TrainParams.")
    explain_options: dict[str, Any] = Field(
        default_factory=dict, description="Extra ExplainParams."
    )
    detect_options: dict[str, Any] = Field(
        default_factory=dict, description="Extra DetectTrainParams."
    )

    @field_validator("dataset")
    @classmethod
    def _dataset_name(cls, value: str) -> str:
        try:
            return check_name(value)
        except InputError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _consistent(self) -> PipelineParams:
        if self.provider == "folder" and not self.folder_root:
            raise ValueError("provider 'folder' needs folder_root (the directory of query folders)")
        if self.provider != "demo" and not self.negative and not self.random_negatives:
            raise ValueError("give negative queries or random_negatives > 0 for the negative class")
        overlap = set(self.positive) & set(self.negative)
        if overlap:
            raise ValueError(f"queries both positive and negative: {sorted(overlap)}")
        return self


def default_tag() -> str:
    """Today's UTC date: a scheduled refresh re-crawls once per day it runs."""
    return datetime.now(UTC).strftime("%Y-%m-%d")


class RefreshParams(BaseModel):
    """``refresh``: re-crawl and retrain, promote only what beats production."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    pipeline: PipelineParams = Field(..., description="Pipeline settings (promote is ignored).")
    tag: str | None = Field(
        None, max_length=64, description="Refresh tag; default today's UTC date."
    )
    classifier_metric: str = Field("roc_auc", description="Held-out classifier metric to beat.")
    detector_metric: str = Field(
        "gt_ap50", description="Detector metric on the true boxes (when the dataset has them)."
    )
    detector_fallback_metric: str = Field(
        "val_ap50", description="Detector metric on held-out LIME boxes (no true boxes)."
    )
    min_improvement: float = Field(0.0, ge=0.0, description="Margin the new model must win by.")


class ScoreFolderParams(BaseModel):
    """``score_folder``: score a local folder or a store prefix / bucket URI of images."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    source: str = Field(
        ...,
        min_length=1,
        description="Local directory, store URI (s3://, file://) or store prefix.",
    )
    out: str | None = Field(None, description="Results file; default under NOLABEL_HOME/scores.")
    classifier: str | None = Field(None, description="Classifier URI (default: registry).")
    detector: str | None = Field(None, description="Detector URI (default: registry).")
    batch_size: int = Field(16, ge=1, le=1024, description="Images per batch.")
    options: dict[str, Any] = Field(default_factory=dict, description="Extra ScoreParams.")
