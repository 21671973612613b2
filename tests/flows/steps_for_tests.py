"""Small step functions with the component shape (params model in, result model out).

They let the flow machinery (keys, reuse, retries, modes) be tested in seconds; the real steps
are exercised by the end-to-end test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel, Field

from nolabel.components.crawl.contract import CrawlParams, CrawlResult
from nolabel.components.detect.contract import (
    DetectEvalParams,
    DetectEvalResult,
    DetectTrainParams,
    DetectTrainResult,
)
from nolabel.components.lime.contract import ExplainParams, ExplainResult
from nolabel.components.transfer.contract import TrainParams, TrainResult
from nolabel.flows.steps import STEPS

CALLS: dict[str, int] = {}


class EchoParams(BaseModel):
    text: str
    times: int = Field(1, ge=1)


class EchoResult(BaseModel):
    text: str
    length: int


def echo(params: EchoParams) -> EchoResult:
    """Repeat the text; counts its calls in CALLS['echo']."""
    CALLS["echo"] = CALLS.get("echo", 0) + 1
    text = params.text * params.times
    return EchoResult(text=text, length=len(text))


def _count(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


# Set by a test to register real MLflow model versions with these held-out qualities.
QUALITY: dict[str, float] = {}
EVALUATION: dict[str, float] = {}  # detector model URI -> quality on the true boxes


def _register(
    name: str, step: str, metrics: dict[str, float]
) -> tuple[str, str | None, str | None]:
    """(model URI, version, run id): a registered version when QUALITY is set, else a fake."""
    if not QUALITY:
        return f"runs:/{step}-{CALLS[step]}/model", None, None
    import mlflow

    from nolabel.components.common import tracking

    tracking.configure()
    client = mlflow.MlflowClient()
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name)
    with tracking.start_run(name) as run:
        tracking.log_metrics({f"best_{k}": v for k, v in metrics.items()})
    version = client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    return f"models:/{name}/{version.version}", str(version.version), run.info.run_id


def crawl(params: CrawlParams) -> CrawlResult:
    """Writes a two-image dataset with true boxes, like the demo provider."""
    import json

    from nolabel.components.common.store import open_store

    _count("crawl")
    store = open_store()
    name = params.dataset
    for sha in ("a1", "b2"):
        store.put_bytes(f"datasets/{name}/images/{sha}.jpg", b"\xff\xd8\xff fake jpeg")
    truth = {
        "images": [{"id": 1, "file_name": "a1.jpg", "width": 8, "height": 8}],
        "annotations": [],
        "categories": [{"id": 1, "name": "object"}],
    }
    truth_uri = store.put_bytes(f"datasets/{name}/truth.coco.json", json.dumps(truth).encode())
    return CrawlResult(
        dataset=name,
        dataset_uri=store.uri(f"datasets/{name}"),
        manifest_uri=store.uri(f"datasets/{name}/manifest.parquet"),
        failures_uri=store.uri(f"datasets/{name}/failures.parquet"),
        truth_uri=truth_uri,
        counts={"positive": 1, "negative": 1},
        failures={},
        duplicates={},
        hits=2,
        downloaded=2,
        resumed=0,
        seconds=0.1,
        images_per_second=20.0,
    )


def train(params: TrainParams) -> TrainResult:
    _count("train")
    metrics = {"roc_auc": QUALITY.get("classifier", 0.75)}
    uri, version, run_id = _register("nolabel-classifier", "train", metrics)
    return TrainResult(
        parent_run_id=run_id or f"run-train-{CALLS['train']}",
        best_variant="L120",
        model_uri=uri,
        model_name="nolabel-classifier",
        model_version=version,
        metrics=metrics,
        table=[],
    )


def explain(params: ExplainParams) -> ExplainResult:
    _count("explain")
    assert params.model.startswith(("runs:/train-", "models:/nolabel-classifier/"))
    return ExplainResult(
        coco_path=params.out,
        coco_uri=f"file:///boxes-{params.lime.num_samples}-{params.model}.coco.json",
        weights_path=params.out + ".weights.json",
        overlay_paths=[],
        images_total=1,
        images_explained=1,
        images_reused=0,
        skipped={},
        boxes=1,
        metrics={"mean_iou": 0.5},
        run_id=None,
    )


def detect(params: DetectTrainParams) -> DetectTrainResult:
    _count("detect")
    assert params.boxes.startswith("file:///boxes-")
    metrics = {"val_ap50": 0.4}
    uri, version, run_id = _register("nolabel-detector", "detect", metrics)
    EVALUATION[uri] = QUALITY.get("detector", 0.3)
    return DetectTrainResult(
        run_id=run_id or f"run-detect-{CALLS['detect']}",
        model_uri=uri,
        model_name="nolabel-detector",
        model_version=version,
        metrics=metrics,
        checkpoint_uri=f"{uri}/checkpoint.pth",
        config_uri=f"{uri}/config.py",
        train_images=1,
        val_images=1,
        seconds=0.1,
    )


def evaluate(params: DetectEvalParams) -> DetectEvalResult:
    _count("evaluate")
    model = getattr(params, "detector", None) or getattr(params, "model", None)  # either name
    assert params.gt.endswith("truth.coco.json") and (params.images or "").endswith("/images")
    return DetectEvalResult(
        run_id=f"run-evaluate-{CALLS['evaluate']}",
        model_uri=model or "",
        images=1,
        metrics={"gt_ap50": EVALUATION[model or ""]},
    )


def quick(name: str) -> Callable[[Any], Any]:
    """The quick function above called ``name``, looked up when called (so a test can still
    replace it)."""
    module = sys.modules[__name__]
    return lambda params: getattr(module, name)(params)


def use_quick(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """The real steps (contract, image, name) run the quick functions for this test."""
    for name in names:
        monkeypatch.setattr(STEPS[name], "run", quick(name))
