"""``nolabel train`` and ``nolabel classify``: their options are the contracts' fields."""

from __future__ import annotations

import typer

from nolabel.components.common.cli import model_command
from nolabel.components.transfer.contract import CLASSIFY, TRAIN, ClassifyParams, TrainParams


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``classify`` to an app."""
    train_doc = "Featurize on Spark, compare classifier variants in MLflow, register the best."
    flags = {"register_model": "--register/--no-register"}
    app.command("train")(model_command(TrainParams, TRAIN, train_doc, flags))
    classify_doc = "Score a folder of images: file, probability, label."
    app.command("classify")(model_command(ClassifyParams, CLASSIFY, classify_doc))
