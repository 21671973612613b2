"""ModelManager: URI resolution, alias fallback, failures, and hot swap under load."""

from __future__ import annotations

import threading
import time

from nolabel.components.common.settings import Settings
from nolabel.components.serve.models import CLASSIFIER, DETECTOR, PROPOSER, ModelManager
from nolabel.components.serve.settings import ServeSettings
from tests.serve.conftest import RednessClassifier, fake_loaders, image_bytes


def manager_for(registry, created=None, **overrides) -> ModelManager:
    settings = Settings(model_refresh_seconds=0, **overrides)
    return ModelManager(settings, ServeSettings(), fake_loaders(created), alias_lookup=registry)


def test_registry_alias_prefers_production_then_candidate(registry):
    manager = manager_for(registry)
    assert manager.resolve(CLASSIFIER).uri == "models:/nolabel-classifier/3"  # production
    assert manager.resolve(DETECTOR).uri == "models:/nolabel-detector/7"  # candidate fallback
    registry.aliases[("nolabel-detector", "production")] = "8"
    assert manager.resolve(DETECTOR).version == "8"
    staging = manager_for(registry, model_alias="staging")
    registry.aliases[("nolabel-classifier", "staging")] = "5"
    assert staging.resolve(CLASSIFIER).version == "5"


def test_configured_uris_win_over_the_registry(registry, tmp_path):
    local = tmp_path / "my-model"
    local.mkdir()
    registry.aliases[("other", "blue")] = "11"
    manager = manager_for(
        registry, classifier_model=str(local), detector_model="models:/other@blue"
    )
    assert manager.resolve(CLASSIFIER).uri == str(local)
    assert manager.resolve(DETECTOR).uri == "models:/other/11"
    pinned = manager_for(registry, classifier_model="models:/nolabel-classifier/2")
    assert pinned.resolve(CLASSIFIER).version == "2"
    created: list = []
    fixed = manager_for(registry, created, classifier_model=str(local))
    fixed.refresh()
    fixed.refresh()
    assert [uri for kind, uri in created if kind == CLASSIFIER] == [str(local)]  # loaded once
    assert fixed.current().classifier.version == "my-model"


def test_nothing_registered_is_not_ready_but_keeps_checking(registry):
    registry.aliases.clear()
    manager = manager_for(registry)
    assert manager.refresh() == [PROPOSER]  # the fetched weights need no registry
    assert not manager.ready()
    status = manager.status()
    assert (
        "no registered model 'nolabel-classifier' with alias production or candidate"
        in (status["classifier"]["last_error"])
    )
    registry.aliases[("nolabel-classifier", "candidate")] = "1"
    registry.aliases[("nolabel-detector", "candidate")] = "1"
    assert manager.refresh() == [CLASSIFIER, DETECTOR]
    assert manager.ready()


def test_a_failing_load_keeps_the_old_model(registry):
    created: list = []
    manager = manager_for(registry, created)
    manager.refresh()
    old = manager.current()

    def broken(uri: str):
        raise OSError("artifact store unreachable")

    manager.loaders[CLASSIFIER] = broken
    registry.aliases[("nolabel-classifier", "production")] = "4"
    assert manager.refresh() == []
    assert manager.current() is old
    assert manager.current().classifier.version == "3"
    assert "artifact store unreachable" in manager.status()["classifier"]["last_error"]
    assert manager.state[CLASSIFIER].failures == 1


def test_unchanged_alias_loads_nothing(registry):
    created: list = []
    manager = manager_for(registry, created)
    manager.refresh()
    before = list(created)
    for _ in range(3):
        assert manager.refresh() == []
    assert created == before


def test_in_flight_request_finishes_on_the_old_model(make_client, registry):
    slow_old = RednessClassifier("3", delay=1.0)
    loaders = fake_loaders()
    loaders[CLASSIFIER] = lambda uri: slow_old if uri.endswith("/3") else RednessClassifier("4")
    client = make_client(loaders=loaders)
    answers: dict = {}

    def slow_request():
        answers["old"] = client.post(
            "/v1/classify", content=image_bytes(), headers={"Content-Type": "image/jpeg"}
        )

    worker = threading.Thread(target=slow_request)
    worker.start()
    while slow_old.calls == 0:
        time.sleep(0.01)
    registry.aliases[("nolabel-classifier", "production")] = "4"
    assert client.post("/v1/models/refresh").json()["models"]["classifier"]["version"] == "4"
    fresh = client.post(
        "/v1/classify", content=image_bytes(), headers={"Content-Type": "image/jpeg"}
    )
    worker.join()
    assert answers["old"].status_code == 200
    assert answers["old"].json()["model"]["version"] == "3"
    assert fresh.json()["model"]["version"] == "4"


def test_poller_hot_swaps_while_requests_keep_succeeding(make_client, registry):
    created: list = []
    client = make_client(loaders=fake_loaders(created), model_refresh_seconds=0.05)
    statuses: list[int] = []
    versions: list[str] = []
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            response = client.post(
                "/v1/predict", content=image_bytes(), headers={"Content-Type": "image/jpeg"}
            )
            statuses.append(response.status_code)
            if response.status_code == 200:
                versions.append(response.json()["models"]["classifier"]["version"])

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(versions) < 3 and time.monotonic() < deadline:  # requests on version 3 first
        time.sleep(0.02)
    registry.aliases[("nolabel-classifier", "production")] = "4"
    deadline = time.monotonic() + 30
    while "4" not in versions[-3:] and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join()
    assert statuses and set(statuses) == {200}
    assert versions[0] == "3" and versions[-1] == "4"
    assert "3" in versions and "4" in versions
    metrics = client.get("/metrics").text
    assert 'nolabel_model_swaps_total{kind="classifier"} 2.0' in metrics
    assert [uri for kind, uri in created if kind == CLASSIFIER] == [
        "models:/nolabel-classifier/3",
        "models:/nolabel-classifier/4",
    ]


def test_polling_can_be_switched_off(make_client, registry):
    client = make_client(model_refresh_seconds=0)
    registry.aliases[("nolabel-classifier", "production")] = "4"
    time.sleep(0.2)
    assert client.get("/v1/models").json()["models"]["classifier"]["version"] == "3"
