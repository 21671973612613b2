"""A SIGKILLed pipeline leaves nothing running, no run RUNNING and no work directory behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from nolabel.components.common import owners, tracking
from tests.conftest import REPO_ROOT, wait_for_port

VICTIM = """
import sys, time
from nolabel.components.common import tracking
from nolabel.components.detect.step import _work_dir
with _work_dir() as work, tracking.start_run("victim") as run:
    (work / "checkpoint.pth").write_bytes(b"x" * 100_000)
    print(run.info.run_id, work, flush=True)
    time.sleep(600)
"""


def _marked(mark: str) -> dict[int, str]:
    """pid → command line of the live processes whose environment holds ``mark``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark.encode() not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if "State:\tZ" in (entry / "status").read_text():
                continue
            found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
    return found


def _environ(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(p.decode(errors="replace").split("=", 1) for p in pairs if b"=" in p)


def test_a_killed_step_s_run_and_work_dir_are_closed_at_the_next_start(
    nolabel_home: Path,
) -> None:
    import mlflow

    process = subprocess.Popen(
        [sys.executable, "-c", VICTIM],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        text=True,
    )
    try:
        run_id, work = process.stdout.readline().split()
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    experiment = tracking.configure()
    client = mlflow.MlflowClient()
    assert client.get_run(run_id).info.status == "RUNNING" and Path(work).is_dir()

    # Runs of a live process, of another host and from before owner tags stay RUNNING.
    keep = {
        "live": {tracking.OWNER_TAG: owners.current_owner()},
        "other host": {tracking.OWNER_TAG: "1-1-1-some-other-host"},
        "untagged": {},
    }
    kept = [client.create_run(experiment, tags=tags, run_name=n) for n, tags in keep.items()]
    root = Path(work).parent
    live_dir = owners.new_owned_dir(root, "detect-")
    fresh_legacy, old_legacy = root / "detect-fresh1", root / "detect-old2"
    fresh_legacy.mkdir(), old_legacy.mkdir()
    os.utime(old_legacy, (time.time() - 2 * 86400,) * 2)

    with tracking.start_run("rerun"):
        pass
    assert client.get_run(run_id).info.status == "KILLED"
    assert [client.get_run(r.info.run_id).info.status for r in kept] == ["RUNNING"] * 3
    from nolabel.components.detect.step import _work_dir

    with _work_dir() as again:
        assert again.is_dir() and again.parent == root
    assert not again.exists() and not Path(work).exists() and not old_legacy.exists()
    assert live_dir.is_dir() and fresh_legacy.is_dir()


def test_prefect_defaults_keep_what_the_user_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from nolabel.flows.server import set_prefect_defaults

    monkeypatch.delenv("PREFECT_SERVER_ANALYTICS_ENABLED", raising=False)
    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "30")
    set_prefect_defaults()
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] == "30"
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "true")
    set_prefect_defaults()
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "true"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_the_temporary_prefect_server_dies_with_a_killed_demo(nolabel_home: Path) -> None:
    """`nolabel demo` killed once its temporary Prefect server answers: nothing it started
    outlives it, and that server ran with analytics off without being told."""
    mark = f"NOLABEL_KILL_TEST={uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(dict([mark.split("=", 1)]), PYTHONPATH=str(REPO_ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", "nolabel.components.cli", "demo"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline, server = time.monotonic() + 240, None
        while server is None and time.monotonic() < deadline:
            assert process.poll() is None, "the demo ended before its server started"
            server = next((p for p, c in _marked(mark).items() if "uvicorn" in c), None)
            time.sleep(0.2)
        assert server is not None, "no temporary Prefect server started"
        command = Path(f"/proc/{server}/cmdline").read_bytes().split(b"\0")
        wait_for_port(int(command[command.index(b"--port") + 1]), timeout=200)
        assert _environ(server)["PREFECT_SERVER_ANALYTICS_ENABLED"].lower() == "false"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    deadline = time.monotonic() + 15
    while _marked(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _marked(mark)
    for pid in left:  # do not leave them to other tests
        os.kill(pid, signal.SIGKILL)
    assert not left, f"still running after the kill: {left}"
