"""End to end: ``run`` on a generated separable dataset, MLflow runs, registry, classify."""

from __future__ import annotations

import json
import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from nolabel.components.common.errors import InputError
from nolabel.components.transfer.classifier import load_classifier
from nolabel.components.transfer.classify import ClassifyParams, run_classify
from nolabel.components.transfer.step import TrainParams, run
from nolabel.components.transfer.variants import select_variants
from tests.transfer.conftest import toy_images, write_toy_dataset


@pytest.mark.slow
def test_train_compares_variants_registers_best_and_classifies(spark, tmp_path) -> None:
    write_toy_dataset("toy", 20, groups=4, corrupt=1)
    variants = "cut2,cut2+flip,cut2+flip+ens"
    result = run(TrainParams(dataset="toy", variants=variants, input_size=64, max_iter=30))
    assert [row["variant"] for row in result.table] == variants.split(",")
    assert result.metrics["accuracy"] > 0.9
    assert result.image_errors == {"not_an_image": 1}
    assert result.model_version == "1" and result.model_name == "nolabel-classifier"
    best = next(row for row in result.table if row["variant"] == result.best_variant)
    assert best["accuracy"] == result.metrics["accuracy"]
    flip_rows = {row["variant"]: row["train_rows"] for row in result.table}
    assert flip_rows["cut2+flip"] == 2 * flip_rows["cut2"]

    client = mlflow.MlflowClient()
    parent = client.get_run(result.parent_run_id)
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{result.parent_run_id}'"
    )
    assert sorted(c.info.run_name for c in children) == sorted(variants.split(","))
    for child in children:
        assert {"accuracy", "roc_auc", "precision", "recall"} <= set(child.data.metrics)
        names = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"roc_curve.png", "confusion.json"} <= names
    assert {"comparison.json", "comparison.csv"} <= {
        a.path for a in client.list_artifacts(result.parent_run_id)
    }

    classifier = load_classifier("models:/nolabel-classifier@candidate")
    assert classifier.variant == result.best_variant
    images, labels = toy_images(10, seed=7)
    predicted = classifier.predict(images)
    assert np.mean(predicted == np.asarray(labels)) > 0.9

    folder = tmp_path / "images"
    folder.mkdir()
    for index, image in enumerate(images[:3] + images[-3:]):
        Image.fromarray(image).save(folder / f"{index}.png")
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    out = run_classify(ClassifyParams(images=str(folder), out=str(tmp_path / "scores.csv")))
    assert (out.images, out.classified, out.failures) == (7, 6, {"not_an_image": 1})
    table = pd.read_csv(tmp_path / "scores.csv").set_index("file")
    assert table.loc["0.png", "label"] == "positive" and table.loc["5.png", "label"] == "negative"

    cli = subprocess.run(
        [sys.executable, "-m", "nolabel.components.transfer", "classify", "--images", str(folder),
         "--out", str(tmp_path / "scores.json"), "--model", "models:/nolabel-classifier/1"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout.strip().splitlines()[-1])["classified"] == 6
    rows = json.loads((tmp_path / "scores.json").read_text())
    assert {r["file"] for r in rows} == {"0.png", "1.png", "2.png", "3.png", "4.png", "5.png",
                                         "broken.jpg"}  # fmt: skip


def test_variant_selection_and_bad_input() -> None:
    assert [v.name for v in select_variants("all", has_groups=False)][-1] == "cut2+flip+blur"
    assert "cut2+flip+ens" in [v.name for v in select_variants("seeds", has_groups=True)]
    with pytest.raises(InputError, match="unknown variant"):
        select_variants("cut9", has_groups=False)
    with pytest.raises(InputError, match="group key"):
        select_variants("cut2+flip+ens", has_groups=False)
    with pytest.raises(InputError, match="no manifest"):
        run(TrainParams(dataset="never-crawled"))
    with pytest.raises(InputError, match="invalid dataset name"):
        run(TrainParams(dataset="../etc"))
