"""MLflow tracking into the S3 store, model registration and loading by alias."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nolabel.components.common import tracking
from nolabel.components.common.errors import InputError
from nolabel.components.common.settings import get_settings
from nolabel.components.common.store import open_store


class AddOne:
    """A tiny pyfunc model: adds one to a column."""

    def __new__(cls):
        import mlflow.pyfunc

        class _Model(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):
                return model_input["x"] + 1

        return _Model()


def test_run_logs_to_s3_and_registers_with_alias(s3_bucket: str, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mlflow
    import pandas as pd

    with tracking.start_run("tracking-test") as run:
        tracking.log_params({"backbone": "efficientnet-lite0", "sizes": [1, 2]})
        tracking.log_metrics({"accuracy": 0.9, "nan_is_skipped": float("nan")})
        figure = plt.figure()
        plt.plot([0, 1], [0, 1])
        tracking.log_figure(figure, "plots/roc.png")
        tracking.log_json({"hello": "world"}, "summary.json")
        info = mlflow.pyfunc.log_model(name="model", python_model=AddOne())
    assert run.info.artifact_uri.startswith(f"s3://{s3_bucket}/mlflow")

    version = tracking.register_model(info.model_uri, "tracking-test-model", "candidate")
    assert tracking.alias_version("tracking-test-model", "candidate") == version
    uri = tracking.resolve_model_uri(None, "tracking-test-model")
    assert uri == "models:/tracking-test-model@candidate"
    model = mlflow.pyfunc.load_model(uri)
    assert list(model.predict(pd.DataFrame({"x": [1, 2]}))) == [2, 3]

    # The artifacts really live in the S3 bucket.
    keys = open_store(get_settings()).list("mlflow/")
    assert any(k.endswith("plots/roc.png") for k in keys)
    assert any(k.endswith("summary.json") for k in keys)
    stored = run_data = mlflow.get_run(run.info.run_id).data
    assert stored.metrics["accuracy"] == 0.9
    assert "nan_is_skipped" not in run_data.metrics
    assert json.loads(stored.params["sizes"]) == [1, 2]


def test_production_alias_wins_over_candidate() -> None:
    import mlflow

    with tracking.start_run("alias-test"):
        info = mlflow.pyfunc.log_model(name="model", python_model=AddOne())
    first = tracking.register_model(info.model_uri, "alias-model", "candidate")
    assert tracking.resolve_model_uri(None, "alias-model").endswith("@candidate")
    tracking.set_alias("alias-model", "production", first)
    assert tracking.resolve_model_uri(None, "alias-model").endswith("@production")


def test_missing_model_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="no registered model 'absent'"):
        tracking.resolve_model_uri(None, "absent")
    with pytest.raises(InputError, match="does not exist"):
        tracking.resolve_model_uri("/no/such/model/dir", "absent")


def test_a_train_run_logs_the_crawl_it_was_trained_on_as_its_input() -> None:
    import mlflow

    from nolabel.components.common.datasets import manifest_key

    store = open_store()
    store.put_bytes(manifest_key("lineage"), b"parquet bytes of the crawl")
    with tracking.start_run("train-lineage") as run:
        tracking.log_manifest_input(store, "lineage")
    (logged,) = mlflow.MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    assert logged.dataset.name == "lineage" and len(logged.dataset.digest) == 16
    assert store.uri(manifest_key("lineage")) in logged.dataset.source
    assert [tag.value for tag in logged.tags] == ["training"]
