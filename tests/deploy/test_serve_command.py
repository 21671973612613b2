"""The serve image's command line and HEALTHCHECK run for real here; the chart's args match it.

No Docker engine: the exact ENTRYPOINT + CMD of serve.Dockerfile are started with this venv's
Python, with cwd, HOME and NOLABEL_HOME in a temp dir. With no models registered the process
must be alive (/healthz 200, used by the startup and liveness probes and the HEALTHCHECK) but
not ready (/readyz 503, the readiness probe), and stop gracefully on SIGTERM.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port, wait_for_port
from tests.deploy.chart import render, serve_container
from tests.deploy.dockerfile_rules import exec_form, parse

REPO = Path(__file__).resolve().parents[2]


def _status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _with_port(args: list[str], port: int) -> list[str]:
    args = list(args)
    args[args.index("--port") + 1] = str(port)
    return args


def _serve_final_stage():
    _, stages = parse((REPO / "docker" / "serve.Dockerfile").read_text(encoding="utf-8"))
    return stages[-1]


def test_chart_args_are_the_image_cmd_on_the_container_port() -> None:
    image_cmd = exec_form(_serve_final_stage().all("CMD")[-1])
    for values in ({}, {"containerPort": 9090}):
        container = serve_container(render(values))
        port = container["ports"][0]["containerPort"]
        assert container["args"] == _with_port(image_cmd, port)
        assert "command" not in container  # the image's ENTRYPOINT stays


@pytest.mark.slow
def test_serve_command_starts_and_answers_the_probes(tmp_path: Path) -> None:
    final = _serve_final_stage()
    entrypoint = exec_form(final.all("ENTRYPOINT")[-1])
    args = exec_form(final.all("CMD")[-1])
    port = free_port()
    command = [sys.executable, *entrypoint[1:], *_with_port(args, port)]
    command[command.index("0.0.0.0")] = "127.0.0.1"  # loopback only in tests
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "XDG_CACHE_HOME": str(tmp_path / ".cache"),
        "MPLCONFIGDIR": str(tmp_path / "mpl"),
        "NOLABEL_MODEL_REFRESH_SECONDS": "0",
        "PYTHONPATH": str(REPO),
    }
    log_path = tmp_path / "serve.log"
    log = log_path.open("wb")
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=log)
    try:
        wait_for_port(port, timeout=120, process=process)
        deadline = time.monotonic() + 30
        while _status(port, "/healthz") != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _status(port, "/healthz") == 200
        assert _status(port, "/readyz") == 503
        healthcheck = final.all("HEALTHCHECK")[-1]
        probe = exec_form(healthcheck[healthcheck.index("CMD") + 3 :].strip())
        assert probe[:2] == ["python", "-c"]
        code = probe[-1].replace(":8000/", f":{port}/")
        assert subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 0
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    # SIGTERM (what Kubernetes sends) ends in a graceful shutdown; uvicorn re-raises the signal.
    output = log_path.read_text(errors="replace")
    assert process.returncode in (0, -15), output[-2000:]
    assert "Application shutdown complete" in output, output[-2000:]
