"""prefect.yaml: deployments load, point at real flows, and deploy to a real Prefect API."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.flows.test_end_to_end import TINY

REPO = Path(__file__).resolve().parents[2]
POOLS = {"process": "process", "docker": "docker", "kubernetes": "kubernetes"}
PARAM_MODELS = {
    "build_detector": "nolabel.flows.params:PipelineParams",
    "refresh": "nolabel.flows.params:RefreshParams",
    "score_folder": "nolabel.flows.params:ScoreFolderParams",
}


def _deployments() -> list[dict]:
    data = yaml.safe_load((REPO / "prefect.yaml").read_text())
    assert data["name"] == "nolabel"
    return data["deployments"]


def test_every_flow_is_deployed_on_every_pool() -> None:
    pairs = {(d["entrypoint"], d["work_pool"]["name"]) for d in _deployments()}
    entrypoints = {
        "flows/pipeline.py:build_detector",
        "flows/refresh.py:refresh",
        "flows/score.py:score_folder",
    }
    assert pairs == {(e, p) for e in entrypoints for p in POOLS}
    names = [d["name"] for d in _deployments()]
    assert len(names) == len(set(names)) == 9


def test_entrypoints_load_real_flows_whose_parameters_validate() -> None:
    from prefect.flows import Flow, load_flow_from_entrypoint
    from prefect.utilities.importtools import import_object

    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        for deployment in _deployments():
            flow = load_flow_from_entrypoint(deployment["entrypoint"], use_placeholder_flow=False)
            assert isinstance(flow, Flow)
            assert flow.name == deployment["entrypoint"].rsplit(":", 1)[1]
            model = import_object(PARAM_MODELS[flow.name])
            if "parameters" in deployment:
                model.model_validate(deployment["parameters"]["params"])
            env = deployment["work_pool"]["job_variables"]["env"]
            assert env["NOLABEL_EXECUTION"] == deployment["work_pool"]["name"].replace(
                "process", "local"
            )
    finally:
        os.chdir(cwd)


def test_schedules_refresh_weekly_score_nightly_off_and_build_detector_manual() -> None:
    from prefect.client.schemas.schedules import CronSchedule

    for deployment in _deployments():
        schedules = deployment.get("schedules") or []
        if deployment["entrypoint"].endswith(":refresh"):
            (schedule,) = schedules
            cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
            assert cron.cron.split()[2:] == ["*", "*", "1"]  # every Monday
            assert schedule["active"] is (deployment["work_pool"]["name"] == "process")
        elif deployment["entrypoint"].endswith(":score_folder"):
            (schedule,) = schedules
            cron = CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
            assert cron.cron.split()[2:] == ["*", "*", "*"]  # every night
            assert schedule["active"] is False  # the user names the prefix first
            params = deployment["parameters"]["params"]
            assert params["source"].startswith("s3://") and params["in_place"] is True
            assert params["shards"] > 1
        else:
            assert schedules == []


@pytest.mark.slow
def test_prefect_deploy_all_registers_the_deployments(prefect_api, tmp_path: Path) -> None:
    import httpx
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    for name, pool_type in POOLS.items():
        response = httpx.post(f"{api}/work_pools/", json={"name": name, "type": pool_type})
        assert response.status_code in (201, 409), response.text
    env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_HOME": str(tmp_path)}
    completed = subprocess.run(
        [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    found = httpx.post(f"{api}/deployments/filter", json={"limit": 50, "offset": 0}).json()
    by_name = {d["name"]: d for d in found}
    assert {d["name"] for d in _deployments()} <= set(by_name)
    refresh = by_name["refresh-process"]
    assert refresh["work_pool_name"] == "process"
    assert [s["schedule"]["cron"] for s in refresh["schedules"]] == ["0 3 * * 1"]
    assert by_name["build-detector-kubernetes"]["job_variables"]["image"] == "nolabel/spark:latest"
    assert by_name["build-detector-process"]["schedules"] == []
    # process deployments run in this checkout, whatever directory the worker's run starts in
    workdir = {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
    assert by_name["build-detector-process"]["pull_steps"] == [workdir]
    assert by_name["build-detector-docker"]["pull_steps"] != [workdir]


# --- a real server, `prefect deploy`, a worker ------------------------------------------------

# The demo deployment's run with the end-to-end test's tiny settings (a few minutes on 2 cores).
TINY_RUN = {**TINY, "dataset": "deployed-demo", "promote": False}
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the process group started for ``process``, SIGKILL what is left after 20 s."""
    import signal

    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            # the group may outlive its leader (flow run subprocesses): probe it
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


class PrefectServer:
    """A real ``prefect server start`` on a loopback port, its database under a tmp dir."""

    def __init__(self, root: Path) -> None:
        from tests.conftest import free_port

        root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.env = {
            **os.environ,
            "PREFECT_HOME": str(root / "prefect-home"),
            "PREFECT_API_URL": self.api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{root / 'prefect.db'}",
            "PREFECT_LOGGING_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
        self.logs = root
        self.processes: list[subprocess.Popen] = []

    def spawn(self, name: str, *args: str) -> subprocess.Popen:
        """``python -m prefect ARGS`` in the repository root, in its own process group."""
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", *args],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def prefect(self, *args: str, timeout: float = 300) -> str:
        """Run a prefect CLI command to its end; its output (fails the test on an error)."""
        completed = subprocess.run(
            [sys.executable, "-m", "prefect", "--no-prompt", *args],
            cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        output = completed.stdout + completed.stderr
        assert completed.returncode == 0, f"prefect {' '.join(args)}:\n{output[-4000:]}"
        return output

    def start(self, timeout: float = 240) -> None:
        import time

        import httpx

        server = self.spawn("server", "server", "start", "--host", "127.0.0.1", "--port",
                            str(self.port))  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert server.poll() is None, f"prefect server exited:\n{self.log('server')}"
            try:
                if httpx.get(f"{self.api}/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise TimeoutError(f"prefect server not healthy after {timeout}s:\n{self.log('server')}")

    def stop(self) -> None:
        for process in reversed(self.processes):
            _stop_group(process)

    def create_run(self, deployment: str, parameters: dict, job_variables: dict | None = None):
        """A scheduled flow run of ``flow/deployment``, as the scheduler creates them."""
        import httpx

        flow, name = deployment.split("/")
        found = httpx.get(f"{self.api}/deployments/name/{flow}/{name}", timeout=30)
        assert found.status_code == 200, found.text
        body: dict = {"parameters": parameters, "state": {"type": "SCHEDULED"}}
        if job_variables:
            body["job_variables"] = job_variables
        created = httpx.post(
            f"{self.api}/deployments/{found.json()['id']}/create_flow_run", json=body, timeout=30
        )
        assert created.status_code == 201, created.text
        return created.json()["id"]

    def wait_for_run(self, run_id: str, worker: subprocess.Popen, timeout: float) -> dict:
        """The flow run once it reached a terminal state."""
        import time

        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = httpx.get(f"{self.api}/flow_runs/{run_id}", timeout=30).json()
            if (run.get("state") or {}).get("type") in TERMINAL:
                return run
            if worker.poll() is not None and run["state"]["type"] == "SCHEDULED":
                pytest.fail(f"the worker exited without picking the run:\n{self.log('worker')}")
            time.sleep(3)
        pytest.fail(f"flow run {run_id} not finished after {timeout}s:\n{self.log('worker')}")


@pytest.fixture
def prefect_server(tmp_path: Path):
    server = PrefectServer(tmp_path / "prefect")
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _assert_models_registered(run: dict, worker_log: str) -> None:
    from nolabel.components.common import tracking
    from nolabel.components.common.settings import get_settings

    assert run["state"]["type"] == "COMPLETED", f"{run['state']}\n{worker_log}"
    get_settings.cache_clear()
    tracking.configure()  # the MLflow database under this test's NOLABEL_HOME, as the worker's
    assert tracking.alias_version("nolabel-classifier", "candidate") is not None
    assert tracking.alias_version("nolabel-detector", "candidate") is not None


@pytest.mark.slow
def test_a_process_worker_runs_the_deployed_build_detector(
    prefect_server: PrefectServer, nolabel_home: Path
) -> None:
    """`prefect deploy` → a scheduled run of the deployment → `prefect worker start --pool
    process` runs it from the repository root → models registered in NOLABEL_HOME's MLflow."""
    server = prefect_server
    server.prefect("work-pool", "create", "process", "--type", "process")
    output = server.prefect("deploy", "--name", "build-detector-process")
    assert "build-detector-process" in output
    run_id = server.create_run("build_detector/build-detector-process", {"params": TINY_RUN})
    worker = server.spawn("worker", "worker", "start", "--pool", "process", "--run-once")
    run = server.wait_for_run(run_id, worker, timeout=1200)
    _assert_models_registered(run, server.log("worker"))
    assert (nolabel_home / "mlflow.db").exists()  # the worker used the test's NOLABEL_HOME


FLOW_IMAGES = ("nolabel/spark:latest", "nolabel/crawl:latest", "nolabel/detect:latest")
DOCKER_SOCKET = Path("/var/run/docker.sock")


def _docker_unavailable() -> str | None:
    """Why the docker work pool cannot be tried here, or None."""
    import shutil

    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    try:
        info = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "`docker info` timed out: no Docker engine reachable"
    if info.returncode != 0:
        return f"`docker info` failed, no Docker engine reachable: {info.stderr.strip()[:200]}"
    missing = [
        image
        for image in FLOW_IMAGES
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode
    ]
    if missing:
        return f"step images not built (`make images`): {', '.join(missing)}"
    return None


@pytest.mark.slow
def test_a_docker_worker_runs_the_deployed_build_detector_in_the_images(
    request: pytest.FixtureRequest, nolabel_home: Path
) -> None:
    """The same through the `docker` pool: the flow in nolabel/spark, each step in its image."""
    reason = _docker_unavailable()
    if reason:
        pytest.skip(reason)
    server: PrefectServer = request.getfixturevalue("prefect_server")
    server.prefect("work-pool", "create", "docker", "--type", "docker")
    server.prefect("deploy", "--name", "build-detector-docker")
    nolabel_home.mkdir(parents=True, exist_ok=True)
    volumes = [f"{DOCKER_SOCKET}:{DOCKER_SOCKET}", f"{nolabel_home}:{nolabel_home}"]
    # The flow container runs as this user (it owns NOLABEL_HOME; step containers get the same
    # user) and in the socket's group so it can start the step containers.
    create_kwargs: dict = {"user": f"{os.getuid()}:{os.getgid()}"}
    if DOCKER_SOCKET.exists():
        create_kwargs["group_add"] = [str(DOCKER_SOCKET.stat().st_gid)]
    job_variables = {
        "env": {
            "NOLABEL_EXECUTION": "docker",
            "NOLABEL_HOME": str(nolabel_home),  # bind-mounted at the same path
            "NOLABEL_DEVICE": "cpu",
            "HOME": "/tmp",
            "PREFECT_HOME": "/tmp/prefect-home",
        },
        "volumes": volumes,
        "container_create_kwargs": create_kwargs,
    }
    run_id = server.create_run(
        "build_detector/build-detector-docker", {"params": TINY_RUN}, job_variables
    )
    try:
        worker = server.spawn("worker", "worker", "start", "--pool", "docker", "--run-once")
        run = server.wait_for_run(run_id, worker, timeout=1800)
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=120)  # --run-once: it exits once the container has
    finally:  # the flow's container (step containers remove themselves)
        found = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=io.prefect.flow-run-id={run_id}"],
            capture_output=True, text=True,
        )  # fmt: skip
        if found.stdout.split():
            subprocess.run(["docker", "rm", "-f", *found.stdout.split()], capture_output=True)
    _assert_models_registered(run, server.log("worker"))
    assert "crawl: running (docker execution)" in (server.logs / "worker.log").read_text()
