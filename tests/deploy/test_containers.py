"""The built images, run for real on a Docker engine (skipped with the reason when none is
reachable or an image is not built; `.ci/run` starts dockerd and runs `make images`).

- serve answers /healthz, /readyz and /v1/predict with models from a store and an MLflow
  database mounted in, as the chart runs it: read-only root FS, non-root, no capabilities;
- ``NOLABEL_EXECUTION=docker`` runs the demo flow's steps (crawl, the Spark image's train and
  explain, detect) as containers, and a rerun resumes from the saved results (no container).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO_ROOT, free_port
from tests.serve.real_models import TrainedModels, generated_dataset, jpeg
from tests.serve.test_real_server import trained  # noqa: F401  (session fixture)

pytestmark = pytest.mark.slow
PREFIX, TAG = os.environ.get("NOLABEL_IMAGE_REGISTRY", "nolabel"), "latest"
BUILD_HINT = "make images BASE=offline DETECT_VARIANT=cpu"


@pytest.fixture(scope="module")
def engine():
    """A docker-py client to a reachable engine, or a skip saying why there is none."""
    docker = pytest.importorskip("docker")
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:
        pytest.skip(f"no Docker engine reachable ({type(exc).__name__}); .ci/run starts dockerd")
    yield client
    client.close()


def require_image(client, name: str) -> str:
    from docker.errors import ImageNotFound

    ref = f"{PREFIX}/{name}:{TAG}"
    try:
        client.images.get(ref)
    except ImageNotFound:
        pytest.skip(f"image {ref} is not built: run `{BUILD_HINT}`")
    return ref


def _open_to_all(path: Path) -> None:
    """Let the image's user (10001) read and write a tree this test's user created."""
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.chmod(Path(root) / name, 0o777 if name in dirs else 0o666)
    path.chmod(0o777)


def _wait_for(url: str, status: int, timeout: float, container) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container.reload()
        if container.status == "exited":
            break
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == status:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(1)
    logs = container.logs().decode(errors="replace")[-3000:]
    raise AssertionError(f"{url} never gave {status}; container {container.status}:\n{logs}")


def test_serve_container_runs_as_the_chart_runs_it(engine, trained: TrainedModels) -> None:  # noqa: F811
    image = require_image(engine, "serve")
    if trained.detector_version is None:
        pytest.skip("MMDetection extra not installed: no detector to serve")
    home = trained.home
    _open_to_all(home)
    port = free_port()
    container = engine.containers.run(
        image,
        ["--host", "127.0.0.1", "--port", str(port)],
        detach=True,
        network_mode="host",
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        user="10001:10001",
        tmpfs={"/tmp": "rw,size=512m"},
        environment={
            "NOLABEL_HOME": str(home),
            "HOME": "/tmp",
            "XDG_CACHE_HOME": "/tmp/.cache",
            "NOLABEL_MODEL_REFRESH_SECONDS": "0",
        },
        volumes={str(home): {"bind": str(home), "mode": "rw"}},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(f"{base}/healthz", 200, 180, container)
        ready = _wait_for(f"{base}/readyz", 200, 180, container).json()
        assert ready["models"]["detector"]["version"] == trained.detector_version
        images, labels = generated_dataset(4, seed=31)
        response = httpx.post(
            f"{base}/v1/predict",
            content=jpeg(images[1]),
            headers={"Content-Type": "image/jpeg"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["is_positive"] == bool(labels[1])
        assert body["models"]["classifier"]["name"] == "nolabel-classifier"
        container.reload()
        config = container.attrs
        assert config["Config"]["User"] == "10001:10001"
        assert config["HostConfig"]["ReadonlyRootfs"] is True
        top = container.top(ps_args="-o pid,uid,comm")["Processes"]
        assert top and all(row[1] == "10001" for row in top), top
    finally:
        container.remove(force=True)


def _step_containers(client, since: datetime) -> list[str]:
    """Steps whose containers started since ``since`` (from the engine's event log)."""
    events = client.events(
        since=since,
        until=datetime.now(UTC),
        filters={"event": "start", "label": "org.nolabel.step"},
        decode=True,
    )
    return sorted(e["Actor"]["Attributes"]["org.nolabel.step"] for e in events)


def _run_demo_flow(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOLABEL_", "PREFECT_"))}
    env.update(
        NOLABEL_HOME=str(home),
        NOLABEL_EXECUTION="docker",
        PREFECT_HOME=str(home / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONUNBUFFERED="1",
    )
    script = (
        "import json; from nolabel.flows.server import run_build_detector; "
        "from nolabel.flows.demo import demo_params; "
        "small = {'per_page': 24, 'epochs': 2, 'crawl_options': {'negative_per_query': 12}}; "
        "result = run_build_detector({**demo_params(promote=False), **small}); "
        "print(json.dumps({'steps': sorted(result['steps']), 'models': result['models']}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_flow_steps_run_as_containers_and_a_rerun_resumes(engine, tmp_path: Path) -> None:
    for name in ("crawl", "spark", "detect"):
        require_image(engine, name)
    home = tmp_path / "home"
    (home / "prefect").mkdir(parents=True)
    started = datetime.now(UTC)
    first = _run_demo_flow(home)
    ran = _step_containers(engine, started)
    assert {"crawl", "train", "explain", "detect"} <= set(ran), ran
    assert first["models"]["detector"]["version"]
    again_started = datetime.now(UTC)
    second = _run_demo_flow(home)
    assert _step_containers(engine, again_started) == []  # every step's result was reused
    assert second["models"] == first["models"]
