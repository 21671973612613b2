"""The detect, evaluate and score steps' contracts (light: no heavy import)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field

from nolabel.components.common.contracts import Contract, Step
from nolabel.components.common.defaults import (
    DEFAULT_BURST_GAP,
    DEFAULT_BURST_GATE,
    DEFAULT_BURST_VIEWS,
    DEFAULT_EQUALIZE_INFRARED,
    DEFAULT_FRAME_GATE,
    DEFAULT_LABEL,
    DEFAULT_MIN_SCORE,
    DEFAULT_PROPOSER,
    DEFAULT_PROPOSER_SIDE,
    DEFAULT_REFINE_ROUNDS,
    DEFAULT_REFINE_SCORE,
    DEFAULT_TARGET_ROUNDS,
    DEFAULT_TILES,
)
from nolabel.components.common.names import DETECTOR_MODEL
from nolabel.components.detect.config import DEFAULT_CONFIG

BurstMode = Literal["auto", "exif", "name", "folder", "none"]


class DetectTrainParams(Contract):
    """What `nolabel detect train` needs."""

    boxes: str = Field(..., description="COCO JSON from `nolabel explain`: path or store URI.")
    config: str = Field(DEFAULT_CONFIG, description="Bundled config name or config file path.")
    epochs: int = Field(8, ge=1, le=1000, description="Training epochs.")
    image_size: int = Field(
        256, ge=32, le=2048, description="Test-time long side; training varies it -12%..+25%."
    )
    batch_size: int = Field(4, ge=1, le=512, description="Images per iteration.")
    lr: float | None = Field(None, gt=0, description="SGD learning rate; None: the config's.")
    frozen_stages: int | None = Field(None, ge=-1, le=7, description="None: the config's.")
    load_from: str | None = Field(None, description="Detector checkpoint (path/URL) to start from.")
    val_fraction: float = Field(0.2, gt=0, lt=1, description="Share of images held out.")
    negatives: list[str] = Field(
        [],
        description="Images holding no object, trained on as such: directories or dataset "
        "names (their negative images).",
    )
    max_negatives: int | None = Field(
        None, ge=0, description="At most this many negatives (default: as many as boxed images)."
    )
    target: str | None = Field(
        None,
        description="The user's unlabeled frames: confident-empty ones become negatives, "
        "moving things in positive bursts pseudo-boxes.",
    )
    classifier: str | None = Field(None, description="Classifier ranking --target frames.")
    target_empty_share: float = Field(
        0.3, ge=0, le=1, description="Lowest-probability share of --target used as negatives."
    )
    target_boxes: Literal["both", "fused", "change", "none"] = Field(
        "both",
        description="Pseudo-boxes on --target frames: 'change', what moves within bursts the "
        "classifier calls positive; 'fused', the animals `score` (without a detector) is sure "
        "of, single photos too; 'both', change where it boxes a frame, else fused; 'none', "
        "negatives only.",
    )
    target_min_change: float = Field(
        3.0, ge=0, description="Least change score (deviations × √area) of a pseudo-boxed frame."
    )
    bursts: BurstMode = Field("auto", description="How --target frames are grouped into bursts.")
    burst_gap: float = Field(
        DEFAULT_BURST_GAP, ge=0, description="EXIF seconds between frames of a burst."
    )
    pastes: int = Field(
        0,
        ge=0,
        le=100_000,
        description="Composites: boxed objects pasted onto the negatives (and target frames).",
    )
    refine_rounds: int = Field(
        DEFAULT_REFINE_ROUNDS,
        ge=0,
        le=10,
        description="Self-training rounds: the detector re-boxes the images it learned from "
        "(its boxes scoring ≥ refine_score; none found: the image keeps its boxes), then is "
        "fine-tuned on them from its weights (0: off).",
    )
    refine_epochs: int | None = Field(
        None, ge=1, le=1000, description="Fine-tuning epochs of a round (None: half of epochs)."
    )
    refine_score: float = Field(
        DEFAULT_REFINE_SCORE, gt=0, le=1, description="Least score of a detector box kept."
    )
    target_rounds: int = Field(
        DEFAULT_TARGET_ROUNDS,
        ge=0,
        le=10,
        description="Self-training on --target: the trained detector scores the frames as "
        "`score` does; the frames it calls 'animal' become pseudo-boxes (negatives no more) and "
        "it is fine-tuned on them from its weights for refine_epochs (0: off).",
    )
    seed: int = Field(0, description="Split/training seed.")
    gt: str | None = Field(None, description="Human COCO boxes to score the detector against.")
    images: str | None = Field(None, description="Directory of the --gt images.")
    overlays: int = Field(8, ge=0, le=64, description="Images in the overlay sample.")
    register_model: bool = Field(True, description="Register as nolabel-detector@candidate.")


class DetectTrainResult(Contract):
    run_id: str
    negative_images: int = 0
    pseudo_boxed_images: int = 0
    model_uri: str
    model_name: str = DETECTOR_MODEL
    model_version: str | None = None
    metrics: dict[str, float]
    checkpoint_uri: str
    config_uri: str
    train_images: int
    val_images: int
    seconds: float


class DetectEvalParams(Contract):
    """What `nolabel detect eval` needs."""

    detector: str | None = Field(
        None,
        validation_alias=AliasChoices("detector", "model"),  # "model": its name before 0.x
        description="Detector URI; None: the registry's.",
    )
    gt: str = Field(..., description="Human COCO boxes (path or store URI).")
    images: str | None = Field(None, description="Directory of the images (default: from --gt).")


class DetectEvalResult(Contract):
    run_id: str
    model_uri: str
    images: int
    metrics: dict[str, float]


class ScoreParams(Contract):
    """What `nolabel score` needs."""

    images: str = Field(
        ..., description="Folder scanned recursively, or a store URI prefix (s3://bucket/cards/)."
    )
    out: str = Field(..., description="Results JSON path or store URI.")
    classifier: str | None = Field(None, description="Classifier URI; None: the registry's.")
    detector: str | None = Field(None, description="Detector URI; None: the registry's.")
    batch_size: int = Field(16, ge=1, le=1024, description="Images per batch.")
    min_score: float = Field(
        DEFAULT_MIN_SCORE, ge=0, le=1, description="Drop fused boxes scoring lower."
    )
    frame_gate: float = Field(
        DEFAULT_FRAME_GATE,
        ge=0,
        le=1,
        description="A frame is an animal frame (and gets boxes) when its best box reaches this.",
    )
    burst_gate: float = Field(
        DEFAULT_BURST_GATE,
        ge=0,
        le=1,
        description="The same for a frame of an animal burst: one of its frames reaches the "
        "frame gate, or `burst_views` of them reach this gate.",
    )
    burst_views: int = Field(
        DEFAULT_BURST_VIEWS,
        ge=0,
        le=1000,
        description="Frames of a burst whose best box reaches the burst gate (its crop called "
        "positive) that make it an animal burst with no frame at the frame gate (0: never).",
    )
    proposals: bool = Field(
        True,
        description="Propose animals with a COCO-pretrained detector and judge their crops "
        "(`nolabel weights fetch` first).",
    )
    proposer: str = Field(DEFAULT_PROPOSER, description="Which COCO detector proposes animals.")
    proposer_side: int = Field(
        DEFAULT_PROPOSER_SIDE, ge=64, le=4096, description="Its input's long side, pixels."
    )
    tiles: int = Field(
        DEFAULT_TILES,
        ge=0,
        le=6,
        description="Also propose on N×N overlapping tiles (small, far animals; N ≥ 2).",
    )
    equalize_infrared: bool = Field(
        DEFAULT_EQUALIZE_INFRARED,
        description="Equalize the local contrast (CLAHE) of a grey, infrared frame that stands "
        "alone (a burst of one) before the detector and the proposer see it.",
    )
    burst_change: bool = Field(
        True, description="Candidates from what changes within each burst (3+ frames)."
    )
    bursts: BurstMode = Field("auto", description="How frames are grouped into bursts.")
    burst_gap: float = Field(
        DEFAULT_BURST_GAP, ge=0, description="EXIF seconds between frames of a burst."
    )
    boxes_on_empty: bool = Field(False, description="Keep boxes on frames called empty.")
    use_classifier: bool = Field(True, description="Run the classifier.")
    use_detector: bool = Field(True, description="Run the detector.")
    resume: bool = Field(True, description="Skip files already scored in the partial results.")
    label: str = Field(
        DEFAULT_LABEL,
        min_length=1,
        max_length=100,
        description="What the models find (in exports).",
    )
    crops: str | None = Field(None, description="Folder for crops of the kept boxes.")
    crop_padding: float = Field(0.1, ge=0, le=1, description="Crop padding × box size.")
    shard_count: int = Field(
        1,
        ge=1,
        le=100_000,
        description="Split the card into this many shards of whole bursts (with --spark-master: "
        "one Spark task each; default there 2 × the cluster's cores).",
    )
    shard_index: int | None = Field(
        None,
        ge=0,
        description="Score only this shard (0-based) into OUT.shard-I-of-N.partial.jsonl; "
        "default $JOB_COMPLETION_INDEX when --shard-count > 1.",
    )
    merge: bool = Field(
        False, description="Score nothing: merge the --shard-count shard logs into --out."
    )
    spark_master: str | None = Field(
        None,
        description="Score the shards on this Spark master (NOLABEL_SPARK_MASTER too); "
        "default: one local process.",
    )


class ScoreResult(Contract):
    out: str
    partial: str
    files: int
    scored: int
    resumed: int
    failed: int
    positives: int
    verdicts: dict[str, int] = {}
    bursts: int = 0
    boxes: int
    suppressed_boxes: int = 0
    seconds: float
    images_per_second: float
    classifier: str | None
    detector: str | None
    proposer: str | None = None
    exports: dict[str, str] = {}
    crops: int | None = None
    written: bool = Field(True, description="False for a shard: --out is written by --merge.")
    shard_index: int | None = None
    shard_count: int = 1
    model_loads: dict[str, int] | None = Field(
        None, description="Spark: model loads per executor process (host:pid)."
    )


def detect(params: DetectTrainParams) -> DetectTrainResult:
    """Run the detect step (:func:`nolabel.components.detect.step.run`, imported now)."""
    from nolabel.components.detect.step import run

    return run(params)


def evaluate(params: DetectEvalParams) -> DetectEvalResult:
    """Run the evaluate step (:func:`nolabel.components.detect.step.run_eval`, imported now)."""
    from nolabel.components.detect.step import run_eval

    return run_eval(params)


def score(params: ScoreParams) -> ScoreResult:
    """Run the score step (:func:`nolabel.components.detect.score.run_score`, imported now)."""
    from nolabel.components.detect.score import run_score

    return run_score(params)


DETECT = Step(detect, image="detect", gpu=True)
EVALUATE = Step(evaluate, image="detect", json_command="eval-json", gpu=True)
SCORE = Step(score, image="detect", json_command="score-json", gpu=True)
