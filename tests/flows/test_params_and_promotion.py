"""Flow parameters, promotion decisions, registry aliases and run summaries."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pydantic import ValidationError

from nolabel.flows.params import PipelineParams, RefreshParams, ScoreFolderParams
from nolabel.flows.promotion import (
    decide,
    find_metric,
    production_version,
    promote,
    version_metrics,
)
from nolabel.flows.report import metric_rows, mlflow_runs, summary_markdown

GOOD = {"dataset": "lions", "provider": "demo", "positive": ["lion"]}


def _error(values: dict) -> str:
    with pytest.raises(ValidationError) as caught:
        PipelineParams.model_validate(values)
    return str(caught.value)


def test_pipeline_params_defaults_and_clear_errors() -> None:
    params = PipelineParams.model_validate(GOOD)
    assert params.promote is False and params.pages == 1 and params.epochs >= 1
    assert "invalid dataset name" in _error({**GOOD, "dataset": "../etc"})
    assert "at least 1 item" in _error({**GOOD, "positive": []})
    assert "queries must not be empty" in _error({**GOOD, "positive": [" "]})
    assert "folder_root" in _error({**GOOD, "provider": "folder", "negative": ["x"]})
    assert "random_negatives" in _error({**GOOD, "provider": "openverse"})
    assert "both positive and negative" in _error({**GOOD, "negative": ["lion"]})
    assert "provider" in _error({**GOOD, "provider": "google"})
    assert "Extra inputs are not permitted" in _error({**GOOD, "epoch": 3})
    assert "lime_samples" in _error({**GOOD, "lime_samples": 1})
    with pytest.raises(ValidationError, match="min_improvement"):
        RefreshParams.model_validate({"pipeline": GOOD, "min_improvement": -1})
    with pytest.raises(ValidationError, match="source"):
        ScoreFolderParams.model_validate({"source": ""})


def test_cli_reports_bad_parameters_on_one_line() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "nolabel.components.cli", "pipeline", "--dataset", "bad name",
         "--positive", "lion", "--epochs", "0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 2
    lines = completed.stderr.strip().splitlines()
    assert lines[-1].startswith("error: invalid parameters:")
    assert "dataset" in lines[-1] and "epochs" in lines[-1]
    assert completed.stdout == ""


def test_find_metric_in_flat_nested_and_prefixed_metrics() -> None:
    assert find_metric({"roc_auc": 0.9}, "roc_auc") == 0.9
    assert find_metric({"best_roc_auc": 0.8}, "roc_auc") == 0.8
    assert find_metric({"gt": {"ap50": 0.4}}, "ap50") == 0.4
    assert find_metric({"val/ap50": 0.3}, "ap50") == 0.3
    assert find_metric({"roc_auc": float("nan")}, "roc_auc") is None
    assert find_metric({"accuracy": 1.0}, "roc_auc") is None


def test_promotion_decisions() -> None:
    def go(new, cur, new_value, cur_value, margin=0.0):
        return decide("m", new, new_value, cur, cur_value, "ap50", margin)

    assert go("2", None, 0.1, None)["promote"] is True  # first model
    assert go("2", "1", 0.6, 0.5)["promote"] is True
    assert go("2", "1", 0.5, 0.5)["promote"] is False  # a tie keeps production
    assert go("2", "1", 0.55, 0.5, margin=0.1)["promote"] is False
    assert go("2", "1", None, 0.5)["promote"] is False
    assert go("1", "1", 0.9, 0.5)["promote"] is False
    assert go(None, "1", 0.9, 0.5)["promote"] is False
    assert "beats" in go("2", "1", 0.6, 0.5)["reason"]


def test_promote_moves_the_production_alias_and_reads_run_metrics() -> None:
    import mlflow

    from nolabel.components.common import tracking

    tracking.configure()
    client = mlflow.MlflowClient()
    client.create_registered_model("flows-test")
    versions = []
    for value in (0.5, 0.7):
        with tracking.start_run("train") as run:
            tracking.log_metrics({"best_roc_auc": value})
        source = f"runs:/{run.info.run_id}/model"
        version = client.create_model_version("flows-test", source, run_id=run.info.run_id)
        versions.append(str(version.version))
    assert production_version("flows-test") is None
    first = promote("flows-test", versions[0])
    assert first["promoted"] and first["previous_production"] is None
    second = promote("flows-test", versions[1])
    assert second["previous_production"] == versions[0]
    assert production_version("flows-test") == versions[1]
    assert find_metric(version_metrics("flows-test", versions[1]), "roc_auc") == 0.7
    assert str(client.get_model_version_by_alias("flows-test", "production").version) == versions[1]
    assert promote("flows-test", None)["promoted"] is False


def test_summary_has_metrics_table_models_and_run_links() -> None:
    steps = {
        "crawl": {"counts": {"positive": 3, "negative": 2}, "failures": {}},
        "train": {"parent_run_id": "abc123", "metrics": {"roc_auc": 0.91234, "cm": [[1]]}},
        "detect": {"run_id": "def456", "metrics": {"gt": {"ap50": 0.5}, "flag": True}},
    }
    rows = metric_rows(steps)
    assert {"step": "train", "metric": "roc_auc", "value": 0.9123} in rows
    assert {"step": "detect", "metric": "gt.ap50", "value": 0.5} in rows
    assert {"step": "crawl", "metric": "counts.positive", "value": 3.0} in rows
    assert not any(r["metric"] in ("cm", "flag") for r in rows)
    assert mlflow_runs(steps) == {"train": "abc123", "detect": "def456"}
    models = {"detector": {"version": "4", "alias": "production", "uri": "models:/d@production"}}
    text = summary_markdown("t", steps, models, ["a note"])
    assert "| train | roc_auc | 0.9123 |" in text
    assert "/runs/abc123)" in text and "| detector | 4 | production |" in text
    assert "- a note" in text


def test_detector_negatives_and_target_frames_reach_the_detect_step() -> None:
    from types import SimpleNamespace

    from nolabel.flows import pipeline

    def detect_params(params, explain, train=None):  # the values given, as a dict
        explained = SimpleNamespace(**explain)
        trained = SimpleNamespace(**train) if train else None
        given = pipeline.detect_params(params, explained, trained)
        return given.model_dump(exclude_defaults=True)

    params = PipelineParams(dataset="deer", positive=["deer"])
    explain = {"coco_uri": "file:///boxes.coco.json", "coco_path": "b.json"}
    values = detect_params(params, explain, {"model_uri": "models:/nolabel-classifier/3"})
    assert "negatives" not in values and "target" not in values
    with_negatives = params.model_copy(update={"detector_negatives": True})
    assert detect_params(with_negatives, explain)["negatives"] == ["deer"]
    targeted = params.model_copy(update={"target": "/cards/sd1"})
    values = detect_params(targeted, explain, {"model_uri": "models:/nolabel-classifier/3"})
    assert values["target"] == "/cards/sd1"
    assert values["classifier"] == "models:/nolabel-classifier/3"
