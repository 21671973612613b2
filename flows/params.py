"""Validated parameters of the flows (shown as forms in the Prefect UI)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from nolabel.components.common.contracts import Contract, Options, options_model
from nolabel.components.common.datasets import check_name
from nolabel.components.common.errors import InputError
from nolabel.components.common.names import ProviderName
from nolabel.components.crawl.contract import CrawlParams, Queries
from nolabel.components.detect.contract import DetectTrainParams, ScoreParams
from nolabel.components.lime.contract import ExplainParams, LimeParams
from nolabel.components.transfer.contract import Backbone, TrainParams

Localizer = Literal["lime", "gradcam"]

DEMO_DATASET = "demo"  # dataset name of `nolabel demo`


def step_field(params: type[Contract], name: str) -> Any:
    """A step's field as a field of the pipeline's: the same default, bounds and description."""
    return FieldInfo.merge_field_infos(params.model_fields[name])


# The step fields the pipeline declares at top level (the ones most runs give) ...
TOP_LEVEL: dict[type[Contract], tuple[str, ...]] = {
    CrawlParams: (
        "dataset", "provider", "positive", "negative", "random_negatives", "pages", "per_page",
        "folder_root",
    ),
    TrainParams: ("dataset", "backbone"),
    ExplainParams: ("dataset", "localizer"),
    DetectTrainParams: ("target", "epochs", "image_size"),
}  # fmt: skip
# ... and those it fills in: from an earlier step's result, or from its own settings.
FILLED_IN: dict[type[Contract], tuple[str, ...]] = {
    CrawlParams: (),
    TrainParams: ("variants",),  # the top-level list, comma-joined
    ExplainParams: ("model", "out", "gt"),  # train's model; the flow's folder; crawl's truth
    DetectTrainParams: ("boxes", "negatives", "classifier"),  # explain's boxes; the crawl's
}


def step_options(params: type[Contract], name: str) -> type[Options]:
    """The ``*_options`` of one step: its Params less the pipeline's top-level and filled-in
    fields (each default, bound and help is the step's own)."""
    return options_model(params, (*TOP_LEVEL[params], *FILLED_IN[params]), name, __name__)


CrawlOptions = step_options(CrawlParams, "CrawlOptions")
TrainOptions = step_options(TrainParams, "TrainOptions")
ExplainOptions = step_options(ExplainParams, "ExplainOptions")
DetectOptions = step_options(DetectTrainParams, "DetectOptions")
# score_folder's: ScoreParams less the folder's own settings.
SCORE_FOLDER_FIELDS = ("images", "out", "classifier", "detector", "batch_size")
SHARD_FIELDS = ("shard_count", "shard_index", "merge")  # score_folder's `shards` sets them
ScoreOptions = options_model(
    ScoreParams, SCORE_FOLDER_FIELDS + SHARD_FIELDS, "ScoreOptions", __name__
)


class PipelineParams(Contract):
    """Everything ``build_detector`` needs: the steps' own params, less what earlier steps fill in.

    Top level: the settings most runs give, each the step's own field (default, bounds and help);
    ``*_options``: any other field of that step's params, typed as the step declares it.
    """

    dataset: str = step_field(CrawlParams, "dataset")
    provider: ProviderName = step_field(CrawlParams, "provider")
    positive: Queries = step_field(CrawlParams, "positive")
    negative: Queries = step_field(CrawlParams, "negative")
    random_negatives: int = step_field(CrawlParams, "random_negatives")
    pages: int = step_field(CrawlParams, "pages")
    per_page: int = step_field(CrawlParams, "per_page")
    folder_root: str | None = step_field(CrawlParams, "folder_root")
    backbone: Backbone = step_field(TrainParams, "backbone")
    # A list (one --variant flag each) for the step's comma-separated string; None: its default.
    variants: list[str] | None = Field(None, description="Classifier variants to compare.")
    # The LIME knob most runs change, without writing explain_options.lime (which wins).
    lime_samples: int = step_field(LimeParams, "num_samples")
    localizer: Localizer = step_field(ExplainParams, "localizer")
    target: str | None = step_field(DetectTrainParams, "target")
    detector_negatives: bool = Field(
        False,
        description="Also train the detector on the crawl's negatives as images holding nothing "
        "(off by default: it cost AP50 on lion-test, see the detect README).",
    )
    epochs: int = step_field(DetectTrainParams, "epochs")
    image_size: int = step_field(DetectTrainParams, "image_size")
    promote: bool = Field(False, description="Set alias 'production' on the new models.")
    run_tag: str = Field(
        "", max_length=64, description="Salt of the step result keys: a new tag redoes every step."
    )
    crawl_options: CrawlOptions = Field(
        default_factory=CrawlOptions, description="Any other CrawlParams field."
    )
    train_options: TrainOptions = Field(
        default_factory=TrainOptions, description="Any other TrainParams field."
    )
    explain_options: ExplainOptions = Field(
        default_factory=ExplainOptions, description="Any other ExplainParams field."
    )
    detect_options: DetectOptions = Field(
        default_factory=DetectOptions, description="Any other DetectTrainParams field."
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

    def step_values(self, params: type[Contract]) -> dict[str, Any]:
        """This run's values of ``params``' fields: its top-level ones and the options given
        (what the pipeline fills in is the caller's)."""
        options = {
            CrawlParams: self.crawl_options,
            TrainParams: self.train_options,
            ExplainParams: self.explain_options,
            DetectTrainParams: self.detect_options,
        }[params]
        given = options.model_dump(exclude_unset=True)
        return {**{name: getattr(self, name) for name in TOP_LEVEL[params]}, **given}


def default_tag() -> str:
    """Today's UTC date: a scheduled refresh re-crawls once per day it runs."""
    return datetime.now(UTC).strftime("%Y-%m-%d")


class RefreshParams(Contract):
    """``refresh``: re-crawl and retrain, promote only what beats production."""

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


class ScoreFolderParams(Contract):
    """``score_folder``: score a local folder or a store prefix / bucket URI of images."""

    source: str = Field(
        ...,
        min_length=1,
        description="Local directory, store URI (s3://, file://) or store prefix.",
    )
    out: str | None = Field(None, description="Results file; default under NOLABEL_HOME/scores.")
    classifier: str | None = step_field(ScoreParams, "classifier")
    detector: str | None = step_field(ScoreParams, "detector")
    batch_size: int = step_field(ScoreParams, "batch_size")
    shards: int = Field(
        1,
        ge=1,
        le=10_000,
        description="Score the card as this many shards of whole bursts, one task each (a "
        "container or Job with docker/kubernetes execution), then merge them; with "
        "options.spark_master, Spark runs the shards instead. 1: one task.",
    )
    in_place: bool = Field(
        False,
        description="Read a store source's frames from the store itself instead of a local copy "
        "first (what shards in other containers or pods need).",
    )
    options: ScoreOptions = Field(
        default_factory=ScoreOptions, description="Any other ScoreParams field."
    )
