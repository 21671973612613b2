"""A user's error is one console line; a killed flow's run is marked Crashed at the next start."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from nolabel.components.common.errors import ConfigurationError
from nolabel.components.common.settings import get_settings
from tests.conftest import REPO_ROOT, free_port

VICTIM = """
import time
from prefect import flow, task
from prefect.runtime import flow_run
from nolabel.flows.crashes import claim_flow_run

@task
def stall():
    print(flow_run.id, flush=True)
    time.sleep(600)

@flow
def victim():
    claim_flow_run()
    stall()

victim()
"""


def _child_env(home: Path, **extra: str) -> dict[str, str]:
    """This environment for a child process on the test's Prefect API (analytics off)."""
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        NOLABEL_HOME=str(home),
        PREFECT_API_URL=str(PREFECT_API_URL.value()),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        **extra,
    )
    return env


def _wait_for_running_task(flow_run_id: uuid.UUID, timeout: float = 60.0) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    only = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            tasks = client.read_task_runs(flow_run_filter=only)
            if tasks and tasks[0].state is not None and tasks[0].state.is_running():
                return
            time.sleep(0.5)
    raise TimeoutError(f"no running task run of flow run {flow_run_id} after {timeout} s")


def _record(exc: BaseException, message: str = "failed", name: str = "prefect.flow_runs"):
    try:
        raise exc
    except BaseException:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, message, (), sys.exc_info())


def test_only_user_errors_lose_their_console_traceback() -> None:
    from nolabel.flows.console import HideUserErrors

    hide = HideUserErrors()
    bad = ConfigurationError("cannot reach S3 at 127.0.0.1:1")
    assert not hide.filter(_record(bad))
    assert not hide.filter(_record(ConnectionRefusedError(111, "refused")))
    quoting = logging.LogRecord("prefect", logging.INFO, "", 1, f"Failed({bad})", (), None)
    assert not hide.filter(quoting)
    assert hide.filter(_record(RuntimeError("a bug")))
    other = logging.LogRecord(
        "prefect", logging.INFO, "", 1, "Finished in state Completed", (), None
    )
    assert hide.filter(other)


def test_a_network_error_the_steps_left_raw_becomes_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nolabel.flows import console

    def refused(params: object) -> dict:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(console, "run_build_detector", refused)
    monkeypatch.setattr(console, "hide_user_errors_on_console", lambda: None)
    with pytest.raises(ConfigurationError, match="cannot reach a configured service"):
        console.run_pipeline({})

    def bug(params: object) -> dict:
        raise KeyError("a bug")

    monkeypatch.setattr(console, "run_build_detector", bug)
    with pytest.raises(KeyError):
        console.run_pipeline({})


def test_a_bad_s3_endpoint_prints_one_error_line_and_no_traceback(
    prefect_api: None, nolabel_home: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import FlowRunSort

    dataset = f"unreachable-{uuid.uuid4().hex[:8]}"
    env = _child_env(nolabel_home, NOLABEL_S3_ENDPOINT=f"127.0.0.1:{free_port()}")
    args = ["pipeline", "--dataset", dataset, "--provider", "demo", "--positive", "lion"]
    done = subprocess.run(
        [sys.executable, "-m", "nolabel.components.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    console = done.stdout + done.stderr
    assert done.returncode == 2, console
    assert "error: cannot reach S3 at 127.0.0.1:" in console
    assert "Traceback" not in console and console.count("cannot reach S3") == 1, console

    with get_client(sync_client=True) as client:  # the UI keeps the traceback
        runs = client.read_flow_runs(sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=20)
        run = next(r for r in runs if r.parameters["params"]["dataset"] == dataset)
        assert run.state is not None and run.state.is_failed()
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
    assert any("Traceback" in log.message for log in logs)


def test_a_killed_flow_run_is_marked_crashed_at_the_next_start(
    prefect_api: None, nolabel_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.states import Running

    from nolabel.components.common import owners
    from nolabel.flows.crashes import OWNER_LABEL
    from nolabel.flows.pipeline import build_detector

    process = subprocess.Popen(
        [sys.executable, "-c", VICTIM],
        cwd=REPO_ROOT,
        env=_child_env(nolabel_home),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        killed = uuid.UUID(process.stdout.readline().strip())
        _wait_for_running_task(killed)  # task runs are recorded from events, a little later
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    @flow
    def bystander() -> None:
        """Never run: its runs are created by hand."""

    keep = {"live": owners.current_owner(), "other host": "1-1-1-some-other-host", "bare": None}
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(killed).state.is_running()
        kept = []
        for name, owner in keep.items():
            run = client.create_flow_run(bystander, name=name, state=Running())
            if owner:
                client.update_flow_run_labels(run.id, {OWNER_LABEL: owner})
            kept.append(run.id)

    monkeypatch.setenv("NOLABEL_S3_ENDPOINT", f"127.0.0.1:{free_port()}")
    get_settings.cache_clear()
    with pytest.raises(ConfigurationError):  # the real flow starts, then fails on the store
        build_detector(params={"dataset": "rerun", "provider": "demo", "positive": ["lion"]})

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(killed).state
        assert state.is_crashed() and "marked crashed on the next start" in state.message
        tasks = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[killed]))
        )
        assert tasks and all(task.state.is_crashed() for task in tasks)
        assert [client.read_flow_run(run).state.is_running() for run in kept] == [True] * 3
        with_rerun = client.read_flow_runs(limit=200)
    rerun = [r for r in with_rerun if r.parameters.get("params", {}).get("dataset") == "rerun"]
    assert rerun and rerun[0].labels[OWNER_LABEL] == owners.current_owner()
