"""``nolabel train`` and ``nolabel explain`` on a real standalone Spark cluster = ``local[2]``.

A master and one worker (1 core, 1 GiB) run on 127.0.0.1 (``tests/spark_cluster.py``); the
worker's environment has no ``NOLABEL_*`` variables, so the executors find the store and the
tracking database only through what the driver forwards. Each mode gets its own
``NOLABEL_HOME`` holding the same generated dataset, so nothing computed by one is reused by
the other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import FETCHED_WEIGHTS, REPO_ROOT
from tests.spark_cluster import Cluster, standalone_cluster
from tests.transfer.conftest import toy_images, write_toy_dataset

DATASET = "toy"
TRAIN_ARGS = ["--dataset", DATASET, "--variants", "cut2", "--input-size", "64"]
EXPLAIN_ARGS = [
    "--dataset", DATASET, "--model", "models:/nolabel-classifier/1", "--num-samples", "40",
    "--n-segments", "24", "--overlays", "0", "--partitions", "2", "--seed", "3",
]  # fmt: skip
# local[2] and a 1-core worker both give defaultParallelism 2: same partitions, same sums.
LOCAL_MASTER = "local[2]"
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    with standalone_cluster(tmp_path_factory.mktemp("spark-cluster")) as running:
        yield running


def _use_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nolabel.components.common.settings import get_settings

    monkeypatch.setenv("NOLABEL_HOME", str(home))
    get_settings.cache_clear()


def _nolabel(home: Path, *args: str) -> tuple[dict, float]:
    """Run ``nolabel ARGS`` with its own NOLABEL_HOME; (last JSON line, wall seconds)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOLABEL_")}
    env |= {"NOLABEL_HOME": str(home), "NOLABEL_SPARK_DRIVER_MEMORY": "1g",
            "NOLABEL_WEIGHTS_DIR": str(FETCHED_WEIGHTS)}  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "nolabel.components.cli", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    assert done.returncode == 0, f"nolabel {' '.join(args)}:\n{done.stderr[-6000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def _run_both(home: Path, master: str, out: Path) -> dict:
    train, train_wall = _nolabel(home, "train", *TRAIN_ARGS, "--spark-master", master)
    explain, explain_wall = _nolabel(
        home, "explain", *EXPLAIN_ARGS, "--out", str(out), "--spark-master", master
    )
    return {"train": train, "train_wall": train_wall, "explain": explain,
            "explain_wall": explain_wall, "coco": json.loads(out.read_text())}  # fmt: skip


def _model_outputs(home: Path, monkeypatch: pytest.MonkeyPatch, model_uri: str):
    """(coefficients, intercept, threshold, probabilities on fresh images, cut2 features)."""
    from nolabel.components.common.store import open_store
    from nolabel.components.transfer.classifier import load_classifier
    from nolabel.components.transfer.featurize import features_key, load_features

    _use_home(home, monkeypatch)
    classifier = load_classifier(model_uri)
    images, _ = toy_images(6, seed=11)
    features = load_features(open_store(), features_key(DATASET, "efficientnet-lite0", 2, 64))
    features = features.sort_values("id").reset_index(drop=True)
    return (
        np.asarray(classifier.coefficients, dtype=np.float64),
        classifier.intercept,
        classifier.threshold,
        np.asarray(classifier.predict_proba(images), dtype=np.float64),
        features,
    )


DIFFERENCES: list[float] = []  # largest relative differences seen (printed: exact or not)


def _close(a, b) -> bool:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape == b.shape and a.size:
        DIFFERENCES.append(float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12))))
    return a.shape == b.shape and np.allclose(a, b, rtol=TOLERANCE, atol=1e-9)


def _assert_tables_match(local: list[dict], remote: list[dict]) -> None:
    assert [row["variant"] for row in local] == [row["variant"] for row in remote]
    for left, right in zip(local, remote, strict=True):
        assert left.keys() == right.keys()
        for key, value in left.items():
            if isinstance(value, float):
                assert _close(value, right[key]), (left["variant"], key, value, right[key])
            else:
                assert value == right[key], (left["variant"], key, value, right[key])


def _assert_coco_match(local: dict, remote: dict) -> None:
    assert local["images"] == remote["images"]
    assert len(local["annotations"]) == len(remote["annotations"]) > 0
    for left, right in zip(local["annotations"], remote["annotations"], strict=True):
        assert left["image_id"] == right["image_id"]
        assert _close(left["bbox"], right["bbox"]), (left, right)
        assert _close(left["score"], right["score"]), (left, right)


def test_executor_env_forwards_home_and_given_settings(tmp_path: Path, monkeypatch) -> None:
    from nolabel.components.common.settings import Settings
    from nolabel.components.common.spark import executor_env

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NOLABEL_WEIGHTS_DIR")  # the test session's own, forwarded like the rest
    settings = Settings(
        home=Path("rel-home"), s3_endpoint="minio:9000", s3_secret_key="s3-secret",
        api_token="serve-token", s3_retries=4,
    )  # fmt: skip
    assert executor_env(settings) == {
        "NOLABEL_HOME": str(tmp_path / "rel-home"),
        "NOLABEL_S3_ENDPOINT": "minio:9000",
        "NOLABEL_S3_RETRIES": "4",
        "NOLABEL_S3_SECRET_KEY": "s3-secret",
    }


@pytest.mark.slow
def test_train_and_explain_on_a_standalone_cluster_match_local(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    homes = {"local": tmp_path / "home-local", "cluster": tmp_path / "home-cluster"}
    for home in homes.values():
        _use_home(home, monkeypatch)
        write_toy_dataset(DATASET, 16)

    runs = {
        "local": _run_both(homes["local"], LOCAL_MASTER, tmp_path / "local.coco.json"),
        "cluster": _run_both(homes["cluster"], cluster.master_url, tmp_path / "cluster.coco.json"),
    }
    print("\nspark cluster vs local timings (s):", json.dumps(
        {mode: {"train_wall": round(r["train_wall"], 1), "train_seconds": r["train"]["seconds"],
                "explain_wall": round(r["explain_wall"], 1)} for mode, r in runs.items()}
    ))  # fmt: skip

    # The work really ran on the cluster: both applications finished there, on the worker.
    apps = {app["name"]: app for app in cluster.state().get("completedapps", [])}
    assert {"nolabel-transfer", "nolabel-explain"} <= set(apps), cluster.state()
    assert all(
        apps[name]["state"] == "FINISHED" for name in ("nolabel-transfer", "nolabel-explain")
    )
    executor_dirs = [p for p in (cluster.log_dir / "worker").glob("app-*/*") if p.is_dir()]
    assert len(executor_dirs) >= 2, cluster.logs()
    # Executors wrote into the driver's store (forwarded NOLABEL_HOME), never a default one.
    assert not list((cluster.log_dir / "worker").rglob(".nolabel")), cluster.logs()

    local, remote = runs["local"], runs["cluster"]
    assert local["train"]["best_variant"] == remote["train"]["best_variant"]
    assert local["train"]["images"] == remote["train"]["images"]
    assert local["train"]["image_errors"] == remote["train"]["image_errors"] == {}
    assert local["train"]["metrics"]["accuracy"] > 0.9
    _assert_tables_match(local["train"]["table"], remote["train"]["table"])
    for key, value in local["train"]["metrics"].items():
        assert _close(value, remote["train"]["metrics"][key]), key

    left = _model_outputs(homes["local"], monkeypatch, local["train"]["model_uri"])
    right = _model_outputs(homes["cluster"], monkeypatch, remote["train"]["model_uri"])
    for name, a, b in zip(("coefficients", "intercept", "threshold", "probabilities"), left, right,
                          strict=False):  # fmt: skip
        assert _close(a, b), (name, a, b)
    features_local, features_cluster = left[4], right[4]
    assert list(features_local["id"]) == list(features_cluster["id"])
    assert _close(np.stack(features_local["features"]), np.stack(features_cluster["features"]))

    for key in ("images_total", "images_explained", "images_reused", "skipped", "boxes"):
        assert local["explain"][key] == remote["explain"][key], key
    assert local["explain"]["images_explained"] >= 8 and local["explain"]["images_reused"] == 0
    _assert_coco_match(local["coco"], remote["coco"])
    weights = [pd.read_parquet(r["explain"]["weights_path"]) for r in (local, remote)]
    for frame in weights:
        frame.sort_values("sha256", inplace=True, ignore_index=True)
    for column in ("file_name", "status", "reason", "seed", "num_segments"):
        assert weights[0][column].tolist() == weights[1][column].tolist(), column
    for column in ("probability", "r2", "base_score"):
        assert _close(weights[0][column].fillna(0), weights[1][column].fillna(0)), column
    for a, b in zip(weights[0]["weights"], weights[1]["weights"], strict=True):
        assert (a is None) == (b is None) and (a is None or _close(a, b))
    print(f"largest relative difference local vs cluster: {max(DIFFERENCES):.3g}")
