"""``nolabel train``: featurize on Spark, compare variants in MLflow, register the best."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from nolabel.components.common import tracking
from nolabel.components.common.datasets import check_name, read_manifest
from nolabel.components.common.errors import InputError
from nolabel.components.common.store import open_store
from nolabel.components.transfer.classifier import save_classifier
from nolabel.components.transfer.contract import TrainParams, TrainResult
from nolabel.components.transfer.featurize import featurize_dataset, load_features, spark_session
from nolabel.components.transfer.fit_variant import (
    FitSettings,
    best_outcome,
    fit_variant,
    label_counts,
    original_rows,
    table_row,
)
from nolabel.components.transfer.metrics import close_figure, roc_figure
from nolabel.components.transfer.runtime import cached_onnx
from nolabel.components.transfer.sparkml import linear_coefficients, split_ids
from nolabel.components.transfer.variants import PIXEL_SIZE, select_variants

TRAIN_TAGS = {"step": "transfer"}


def _say(message: str, started: float) -> None:
    sys.stderr.write(f"train: [{time.perf_counter() - started:7.1f}s] {message}\n")
    sys.stderr.flush()


def _log_variant(outcome, params: TrainParams) -> None:

    variant = outcome.variant
    tracking.log_params(
        {
            "variant": variant.name,
            "backbone": "pixels" if variant.pixels else params.backbone,
            "cut_layers": variant.cut,
            "augmentations": ",".join(variant.augmentations) or "none",
            "ensemble": variant.ensemble,
            "reg_param": params.reg_param,
            "elastic_net": params.elastic_net,
            "class_weights": params.class_weights,
        }
    )
    metrics = outcome.metrics
    tracking.log_metrics({k: v for k, v in metrics.items() if isinstance(v, int | float)})
    matrix = metrics["confusion_matrix"]
    tracking.log_json({"labels": ["negative", "positive"], "matrix": matrix}, "confusion.json")
    figure = roc_figure(outcome.test["label"], outcome.test["probability"], variant.name)
    tracking.log_figure(figure, "roc_curve.png")
    close_figure(figure)


def _save_best(outcome, params: TrainParams, cuts: tuple[int, ...], target: Path) -> Path:

    variant = outcome.variant
    coefficients, intercept = linear_coefficients(outcome.model)
    backbone = "pixels" if variant.pixels else params.backbone
    onnx = (
        None if variant.pixels else cached_onnx(backbone, cuts, params.input_size, params.weights)
    )
    config = {
        "backbone": backbone,
        "cut_layers": 1 if variant.pixels else variant.cut,
        "onnx_cuts": list(cuts),
        "input_size": PIXEL_SIZE if variant.pixels else params.input_size,
        "coefficients": coefficients,
        "intercept": intercept,
        "threshold": outcome.threshold,
        "threshold_method": params.threshold_method,
        "variant": variant.name,
        "augmentations": list(variant.augmentations),
        "ensemble_key": "group" if variant.ensemble else None,
        "dataset": params.dataset,
        "metrics": {k: v for k, v in outcome.metrics.items() if k != "confusion_matrix"},
        "spark_pipeline": "spark_pipeline",
    }
    save_classifier(target, config, onnx_path=onnx)
    outcome.model.write().overwrite().save(str(target / "spark_pipeline"))
    return target


def _check_manifest(dataset: str, manifest: pd.DataFrame) -> None:
    """``InputError`` before Spark starts when the manifest cannot train anything."""
    labels = manifest["label"] if "label" in manifest else pd.Series([], dtype=str)
    counts = {label: int((labels == label).sum()) for label in ("positive", "negative")}
    if min(counts.values()) < 4:
        raise InputError(
            f"dataset {dataset!r} has {counts} images in its manifest; need at least 4 of "
            "each label: crawl it again"
        )


def run(params: TrainParams) -> TrainResult:
    """Featurize the dataset, fit every variant as a child MLflow run, register the best."""
    from nolabel.components.transfer.pyfunc import log_classifier

    started = time.perf_counter()
    check_name(params.dataset)
    store = open_store()
    manifest = read_manifest(store, params.dataset)
    _check_manifest(params.dataset, manifest)
    has_groups = "group" in manifest and bool((manifest["group"].fillna("") != "").any())
    variants = select_variants(params.variants, has_groups)
    cuts = tuple(sorted({v.cut for v in variants if not v.pixels})) or ()
    augs = tuple(dict.fromkeys(a for v in variants for a in v.augmentations))
    spark = spark_session(params.spark_master)
    _say(f"spark ready; variants {', '.join(v.name for v in variants)}", started)
    tables: dict[int, tuple[pd.DataFrame, pd.DataFrame | None]] = {}
    keys: dict[str, str] = {}
    errors: dict[str, int] = {}
    if cuts:
        result = featurize_dataset(
            params.dataset, params.backbone, cuts, params.input_size, params.weights, augs,
            params.batch_size, spark=spark, refresh=params.refresh_features,
        )  # fmt: skip
        keys |= result.feature_keys
        errors = result.errors
        for cut in cuts:
            aug_key = result.feature_keys.get(f"cut{cut}-aug")
            augmented = load_features(store, aug_key) if aug_key else None
            tables[cut] = (load_features(store, result.feature_keys[f"cut{cut}"]), augmented)
        _say(f"features {params.backbone} cuts {cuts} augmentations {augs}: {result}", started)
    if any(v.pixels for v in variants):
        pixels = featurize_dataset(
            params.dataset, "pixels", (1,), PIXEL_SIZE, spark=spark,
            refresh=params.refresh_features,
        )  # fmt: skip
        keys["pixels"] = pixels.feature_keys["cut1"]
        errors = errors or pixels.errors
        tables[0] = (load_features(store, pixels.feature_keys["cut1"]), None)
        _say("pixel features ready", started)
    reference = original_rows(next(iter(tables.values()))[0])
    counts = label_counts(reference)
    if min(counts.values()) < 4:
        raise InputError(
            f"dataset {params.dataset!r} has {counts} usable images; need at least 4 of each label"
        )
    train_ids, test_ids = split_ids(reference, params.test_fraction, params.seed)
    fit = FitSettings(
        params.reg_param, params.elastic_net, params.max_iter, params.class_weights,
        params.threshold_method, seed=params.seed,
    )  # fmt: skip
    outcomes, cache = [], {}
    with tracking.start_run(f"train-{params.dataset}", tags=TRAIN_TAGS) as parent:
        tracking.log_manifest_input(store, params.dataset)  # lineage: which crawl
        tracking.log_params(
            {**params.model_dump(exclude={"weights"}), "train_images": len(train_ids),
             "test_images": len(test_ids), "image_errors": errors, **counts}
        )  # fmt: skip
        for variant in variants:
            originals, augmented = tables[variant.cut]
            outcome = fit_variant(
                spark, variant, originals, augmented, train_ids, test_ids, fit, cache
            )
            with tracking.start_run(variant.name, nested=True, tags=TRAIN_TAGS):
                _log_variant(outcome, params)
            outcomes.append(outcome)
            _say(f"{variant.name}: {table_row(outcome)}", started)
        table = [table_row(o) for o in outcomes]
        best = best_outcome(outcomes)
        tracking.log_json({"variants": table, "best": best.variant.name}, "comparison.json")
        with tempfile.TemporaryDirectory() as tmp:
            csv = Path(tmp) / "comparison.csv"
            pd.DataFrame(table).to_csv(csv, index=False)
            tracking.log_file(csv)
            model_dir = _save_best(best, params, cuts, Path(tmp) / "classifier")
            tracking.log_metrics({f"best_{k}": v for k, v in best.metrics.items()
                                  if isinstance(v, int | float)})  # fmt: skip
            tracking.log_params({"best_variant": best.variant.name})
            model_uri, version = log_classifier(model_dir, params.register_model, params.alias)
            _say(f"best {best.variant.name} saved as {model_uri}", started)
    metrics = {k: v for k, v in best.metrics.items()}
    return TrainResult(
        parent_run_id=parent.info.run_id,
        best_variant=best.variant.name,
        metrics=json.loads(json.dumps(metrics, default=float)),
        model_uri=model_uri,
        model_version=version,
        table=table,
        features=keys,
        image_errors=errors,
        images=counts,
        seconds=round(time.perf_counter() - started, 2),
    )
