"""The explain step's contract: ``ExplainParams`` (with every LIME knob) in, ``ExplainResult``
out (light: no heavy import)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from nolabel.components.common.contracts import Contract, Step
from nolabel.components.common.defaults import DEFAULT_LIME_SAMPLES, DEFAULT_PROPOSER


class LimeParams(Contract):
    """Every knob of one explanation (defaults chosen from the lion-test sweep in README)."""

    segmenter: Literal["slic", "quickshift"] = Field("slic", description="Superpixel method.")
    n_segments: int = Field(40, ge=2, le=5000, description="SLIC: approximate superpixel count.")
    compactness: float = Field(10.0, gt=0, description="SLIC: colour vs space trade-off.")
    sigma: float = Field(1.0, ge=0, description="SLIC: Gaussian smoothing before segmenting.")
    kernel_size: float = Field(4.0, gt=0, description="quickshift: Gaussian kernel width.")
    max_dist: float = Field(200.0, gt=0, description="quickshift: cut-off distance.")
    ratio: float = Field(0.2, ge=0, le=1, description="quickshift: colour vs space trade-off.")
    num_samples: int = Field(
        DEFAULT_LIME_SAMPLES, ge=2, le=100_000, description="Perturbed images per image."
    )
    keep_probability: float = Field(0.7, gt=0, lt=1, description="P(superpixel stays on).")
    fill: Literal["black", "mean", "blur"] = Field("blur", description="Off-superpixel fill.")
    seed: int = Field(0, description="Base random seed (combined with a per-image seed).")
    batch_size: int = Field(50, ge=1, le=4096, description="Perturbed images per score_fn call.")
    score_size: int | None = Field(
        224, ge=16, description="Long side the image is segmented/scored at (None: original)."
    )
    square: bool = Field(
        True, description="Squash to score_size × score_size (the classifier's input shape)."
    )
    target: Literal["probability", "logit"] = Field("probability", description="Fit target.")
    regressor: Literal["ridge", "lasso"] = Field("ridge", description="Local linear model.")
    alpha: float | None = Field(None, gt=0, description="Regularisation (ridge 1, lasso 0.001).")
    kernel_width: float = Field(0.25, gt=0, description="Width of the exponential kernel.")
    box_rule: Literal["coverage", "relative", "percentile"] = Field(
        "coverage", description="Which superpixels form the object (see lime/boxes.py)."
    )
    box_cut: float = Field(
        0.5, ge=0, le=1, description="relative: share of the top weight; percentile: quantile."
    )
    cam_cut: float = Field(
        0.3, ge=0, lt=1, description="gradcam: keep the map above this share of its range."
    )
    coverage: float = Field(0.75, gt=0, le=1, description="Share of positive weight boxed.")
    weight_floor: float = Field(
        0.0, ge=0, lt=1, description="Weights under this × the largest count as noise."
    )
    split: bool = Field(True, description="Split the mask into separate objects.")
    merge_distance: float = Field(0.12, ge=0, description="Merge parts closer (× diagonal).")
    min_box_area: float = Field(0.01, ge=0, lt=1, description="Drop parts under this area share.")
    min_box_score: float = Field(0.05, ge=0, le=1, description="Drop parts under this score.")
    dedupe: bool = Field(True, description="Score identical samples once.")


class ExplainParams(Contract):
    """Parameters of ``nolabel explain``."""

    dataset: str | None = Field(None, description="Explain this dataset's positive images.")
    images: str | None = Field(None, description="…or every image under this directory.")
    model: str | None = Field(None, description="Classifier URI (default: the registry's).")
    out: str = Field("boxes.coco.json", description="Local path of the COCO JSON written.")
    gt: str | None = Field(None, description="Human COCO boxes to score against.")
    threshold: float | None = Field(None, ge=0, le=1, description="Default: classifier's.")
    explain_all: bool = Field(False, description="Explain images the classifier calls negative.")
    overlays: int = Field(8, ge=0, description="Overlay PNGs to draw (a sample of images).")
    spark: bool = Field(True, description="Spread images over Spark executors.")
    spark_master: str | None = Field(None, description="Spark master URL (default settings).")
    partitions: int | None = Field(None, ge=1, description="Spark partitions.")
    localizer: Literal["lime", "gradcam"] = Field(
        "lime", description="lime (perturbations) or gradcam (one forward pass, ~100× faster)."
    )
    proposals: bool = Field(
        True,
        description="The localizer's heat map chooses among a COCO detector's animal proposals "
        "(`nolabel weights fetch` first); its own box where none holds its evidence.",
    )
    proposer: str = Field(DEFAULT_PROPOSER, description="Which COCO detector proposes animals.")
    lime: LimeParams = Field(default_factory=LimeParams, description="Every LIME knob.")


class ExplainResult(Contract):
    """What ``nolabel explain`` produced."""

    coco_path: str
    coco_uri: str
    weights_path: str
    overlay_paths: list[str]
    images_total: int
    images_explained: int
    images_reused: int
    skipped: dict[str, int]
    boxes: int
    metrics: dict[str, float]
    run_id: str | None


def explain(params: ExplainParams) -> ExplainResult:
    """Run the explain step (:func:`nolabel.components.lime.step.run`, imported now)."""
    from nolabel.components.lime.step import run

    return run(params)


EXPLAIN = Step(explain, image="spark")
