"""Real uvicorn on 127.0.0.1 with a trained, registered classifier, called over HTTP; then a hot
swap in the MLflow registry is picked up by the running server without failing requests."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.serve.real_models import (
    Server,
    TrainedModels,
    generated_dataset,
    jpeg,
    running_server,
    train_models,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrainedModels]:
    """Train once per session in its own NOLABEL_HOME (restored afterwards)."""
    from nolabel.components.common.settings import get_settings

    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("NOLABEL_"):
                patch.delenv(name)
        patch.setenv("NOLABEL_HOME", str(tmp_path_factory.mktemp("serve-models")))
        models = train_models(Path(os.environ["NOLABEL_HOME"]))
    get_settings.cache_clear()
    yield models


@pytest.fixture(scope="module")
def server(trained: TrainedModels, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("serve-log") / "server.log"
    with running_server(trained, log, {"NOLABEL_MODEL_REFRESH_SECONDS": "0.5"}) as running:
        yield running


def classify(server: Server, image: np.ndarray) -> httpx.Response:
    return server.http.post(
        "/v1/classify", content=jpeg(image), headers={"Content-Type": "image/jpeg"}
    )


def test_real_server_serves_the_trained_classifier_over_http(server, trained):
    assert server.http.get("/healthz").json() == {"status": "ok"}
    ready = server.http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["models"]["classifier"]["version"] == trained.classifier_version
    images, labels = generated_dataset(8, seed=123)  # unseen images
    probabilities = []
    for image in images:
        response = classify(server, image)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"]["name"] == "nolabel-classifier"
        assert body["width"] == body["height"] == 64
        probabilities.append(body["probability"])
    positives = [p for p, y in zip(probabilities, labels, strict=True) if y]
    negatives = [p for p, y in zip(probabilities, labels, strict=True) if not y]
    assert min(positives) > max(negatives), (positives, negatives)
    explained = server.http.post(
        "/v1/explain?num_samples=30", files={"file": ("lion.jpg", jpeg(images[1]), "image/jpeg")}
    )
    assert explained.status_code == 200, explained.text
    assert explained.json()["boxes"] and explained.json()["heatmap_png_base64"]
    bad = server.http.post(
        "/v1/classify", content=b"\xff\xd8\xff\x00", headers={"Content-Type": "image/jpeg"}
    )
    assert bad.status_code == 400 and bad.json()["code"] == "undecodable"
    metrics = server.http.get("/metrics").text
    assert 'route="/v1/classify",status="200"' in metrics
    assert f'version="{trained.classifier_version}"' in metrics


def test_real_server_predicts_boxes_with_the_trained_detector(server, trained):
    if trained.detector_version is None:
        pytest.skip("MMDetection extra not installed: no detector to serve")
    images, labels = generated_dataset(4, seed=11)
    response = server.http.post(
        "/v1/predict", content=jpeg(images[1]), headers={"Content-Type": "image/jpeg"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["models"]["detector"] == {
        "name": "nolabel-detector",
        "version": trained.detector_version,
    }
    assert body["is_positive"] and body["latency_ms"] > 0
    for box in body["boxes"]:  # a 1-epoch detector may find nothing; what it finds is in range
        assert 0 <= box["x1"] < box["x2"] <= 64 and 0 <= box["y1"] < box["y2"] <= 64
        assert box["label"] == "object" and 0 <= box["score"] <= 1
    batch = server.http.post(
        "/v1/predict/batch",
        files=[
            ("files", (f"{i}.jpg", jpeg(image), "image/jpeg")) for i, image in enumerate(images)
        ],
    )
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert [r["filename"] for r in results] == ["0.jpg", "1.jpg", "2.jpg", "3.jpg"]
    assert [r["is_positive"] for r in results] == [bool(y) for y in labels]


def test_alias_change_is_hot_swapped_without_failed_requests(server, trained, monkeypatch):
    from nolabel.components.common import tracking
    from nolabel.components.common.settings import get_settings

    monkeypatch.setenv("NOLABEL_HOME", str(trained.home))
    get_settings.cache_clear()
    tracking.configure()
    import mlflow

    client = mlflow.MlflowClient()
    current = server.http.get("/v1/models").json()["models"]["classifier"]["version"]
    source = client.get_model_version("nolabel-classifier", current).source
    new_version = tracking.register_model(source, "nolabel-classifier", alias="staging")
    assert new_version != current
    images, _ = generated_dataset(4, seed=7)
    statuses: list[int] = []
    versions: list[str] = []
    stop = threading.Event()

    def hammer(index: int) -> None:
        while not stop.is_set():
            response = classify(server, images[index % len(images)])
            statuses.append(response.status_code)
            if response.status_code == 200:
                versions.append(response.json()["model"]["version"])

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(versions) < 3 and time.monotonic() < deadline:  # answered by the old one first
            time.sleep(0.05)
        tracking.set_alias("nolabel-classifier", "production", new_version)  # production wins
        deadline = time.monotonic() + 60
        while new_version not in versions[-3:] and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert statuses and set(statuses) == {200}, sorted(set(statuses))
    assert versions[0] == current and versions[-1] == new_version
    models = server.http.get("/v1/models").json()["models"]["classifier"]
    assert models["version"] == new_version and models["swaps"] == 2
    assert server.process.poll() is None, "the server must not restart"


def test_server_stops_cleanly_and_prints_one_json_line(server):
    server.process.send_signal(signal.SIGTERM)
    out, _ = server.process.communicate(timeout=30)
    assert server.process.returncode == 0
    last = out.decode().strip().splitlines()[-1]
    assert json.loads(last) == {
        "url": server.url,
        "host": "127.0.0.1",
        "port": server.port,
        "workers": 1,
        "stopped": True,
        "signal": "SIGTERM",
    }
    access = [
        json.loads(line) for line in server.log.read_text().splitlines() if '"request_id"' in line
    ]
    assert any(entry["route"] == "/v1/classify" and entry["status"] == 200 for entry in access)
