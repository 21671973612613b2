"""``nolabel detect train|eval`` and ``nolabel score``: their options are the contracts' fields."""

from __future__ import annotations

import typer

from nolabel.components.common.cli import model_command, new_app
from nolabel.components.detect.contract import (
    DETECT,
    EVALUATE,
    SCORE,
    DetectEvalParams,
    DetectTrainParams,
    ScoreParams,
)

# Flags whose names differ from the field's (kept from earlier releases).
TRAIN_FLAGS = {"register_model": "--register/--no-register"}
EVAL_FLAGS = {"detector": ("--detector", "--model")}  # --model: the detector's earlier name
SCORE_FLAGS = {
    "use_classifier": "--classify/--no-classify",
    "use_detector": "--detect/--no-detect",
    "resume": "--resume/--restart",
}


def train_command():
    """``detect train``."""
    doc = "Fine-tune Faster R-CNN on LIME boxes; store, evaluate and register it."
    return model_command(DetectTrainParams, DETECT, doc, TRAIN_FLAGS)


def eval_command():
    """``detect eval``."""
    doc = "Score a detector against human boxes: COCO mAP, AP50, mean IoU, CorLoc."
    return model_command(DetectEvalParams, EVALUATE, doc, EVAL_FLAGS)


def score_command():
    """``score``."""
    doc = "Classifier probability and detector boxes for every image under a folder (resumable)."
    return model_command(ScoreParams, SCORE, doc, SCORE_FLAGS)


def build_detect_app() -> typer.Typer:
    """The ``detect`` sub-app: train and eval."""
    app = new_app("Faster R-CNN (MMDetection) fine-tuned on LIME boxes.")
    app.command("train")(train_command())
    app.command("eval")(eval_command())
    return app


def register(app: typer.Typer) -> None:
    """Add ``detect train|eval`` and ``score`` to the top-level app."""
    app.add_typer(build_detect_app(), name="detect")
    app.command("score")(score_command())
