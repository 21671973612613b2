"""Train and evaluate one variant: fit, calibrate the threshold on a validation split, score."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nolabel.components.common.datasets import POSITIVE
from nolabel.components.transfer.augment import ORIGINAL
from nolabel.components.transfer.metrics import binary_metrics, calibrate_threshold
from nolabel.components.transfer.sparkml import (
    ensemble_by_key,
    fit_pipeline,
    positive_probability,
    split_ids,
    to_spark,
)
from nolabel.components.transfer.variants import Variant


@dataclass
class FitSettings:
    """Logistic-regression and evaluation knobs shared by every variant."""

    reg_param: float = 0.01
    elastic_net: float = 0.0
    max_iter: int = 100
    class_weights: bool = True
    threshold_method: str = "f1"
    validation_fraction: float = 0.2
    seed: int = 42


@dataclass
class VariantOutcome:
    """A fitted variant: metrics on the held-out split, its model and calibrated threshold."""

    variant: Variant
    metrics: dict[str, Any]
    threshold: float
    model: Any  # pyspark PipelineModel
    test: pd.DataFrame  # id, group, label, probability (ensembled when the variant is)
    extra: dict[str, Any] = field(default_factory=dict)


def training_rows(
    originals: pd.DataFrame, augmented: pd.DataFrame | None, ids: set[str], augs: tuple[str, ...]
) -> pd.DataFrame:
    """Originals of ``ids`` ∪ their augmented copies named in ``augs``."""
    parts = [originals[originals["id"].isin(ids)]]
    if augs and augmented is not None:
        parts.append(augmented[augmented["id"].isin(ids) & augmented["augmentation"].isin(augs)])
    return pd.concat(parts, ignore_index=True)


def _ensemble(spark, scored: pd.DataFrame) -> pd.DataFrame:
    sdf = spark.createDataFrame(scored[["id", "group", "label", "probability"]])
    joined = ensemble_by_key(sdf, "group", "probability").toPandas()
    joined["probability"] = joined.pop("ensemble_probability")
    return joined.set_index("id").loc[scored["id"]].reset_index()


def fit_variant(
    spark,
    variant: Variant,
    originals: pd.DataFrame,
    augmented: pd.DataFrame | None,
    train_ids: set[str],
    test_ids: set[str],
    settings: FitSettings,
    cache: dict | None = None,
) -> VariantOutcome:
    """Fit ``variant`` on ``train_ids`` and evaluate it on the originals of ``test_ids``.

    The decision threshold is calibrated on a stratified validation split of the training
    images (model fitted without them), then the model is refitted on every training image.
    """
    cache = {} if cache is None else cache
    cache_key = (variant.cut, variant.augmentations)
    if cache_key not in cache:
        train_rows = originals[originals["id"].isin(train_ids)]
        inner_ids, val_ids = split_ids(train_rows, settings.validation_fraction, settings.seed + 1)
        inner = training_rows(originals, augmented, inner_ids, variant.augmentations)
        model = fit_pipeline(
            to_spark(spark, inner, settings.class_weights),
            settings.reg_param,
            settings.elastic_net,
            settings.max_iter,
        )
        val = positive_probability(model, to_spark(spark, originals[originals["id"].isin(val_ids)]))
        threshold = calibrate_threshold(val["label"], val["probability"], settings.threshold_method)
        full = training_rows(originals, augmented, train_ids, variant.augmentations)
        model = fit_pipeline(
            to_spark(spark, full, settings.class_weights),
            settings.reg_param,
            settings.elastic_net,
            settings.max_iter,
        )
        scored = positive_probability(
            model, to_spark(spark, originals[originals["id"].isin(test_ids)])
        )
        cache[cache_key] = (model, threshold, scored, len(full))
    model, threshold, scored, n_train = cache[cache_key]
    if variant.ensemble:
        scored = _ensemble(spark, scored)
    metrics = binary_metrics(
        scored["label"].to_numpy(), scored["probability"].to_numpy(), threshold
    )
    metrics["train_rows"] = n_train
    return VariantOutcome(variant, metrics, threshold, model, scored)


def table_row(outcome: VariantOutcome) -> dict[str, Any]:
    """One row of the comparison table."""
    m = outcome.metrics
    return {
        "variant": outcome.variant.name,
        "accuracy": round(m["accuracy"], 4),
        "roc_auc": round(m["roc_auc"], 4) if np.isfinite(m["roc_auc"]) else None,
        "precision": round(m["precision"], 4),
        "recall": round(m["recall"], 4),
        "f1": round(m["f1"], 4),
        "threshold": round(outcome.threshold, 4),
        "train_rows": m["train_rows"],
        "test_images": m["n"],
    }


def best_outcome(outcomes: list[VariantOutcome]) -> VariantOutcome:
    """Highest accuracy, then ROC AUC, then deep features over pixels, then the earlier one."""

    def score(item: tuple[int, VariantOutcome]) -> tuple[float, float, bool, int]:
        index, outcome = item
        auc = outcome.metrics["roc_auc"]
        finite_auc = auc if np.isfinite(auc) else 0.0
        return (outcome.metrics["accuracy"], finite_auc, not outcome.variant.pixels, -index)

    return max(enumerate(outcomes), key=score)[1]


def original_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows that are not augmented copies."""
    if "augmentation" not in frame:
        return frame
    return frame[frame["augmentation"] == ORIGINAL].reset_index(drop=True)


def label_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Images per label."""
    positives = int((frame["label"] == POSITIVE).sum())
    return {"positive": positives, "negative": int(len(frame) - positives)}
