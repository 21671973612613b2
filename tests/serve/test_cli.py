"""``nolabel serve`` and ``python -m nolabel.components.serve`` wiring (the server itself runs in
test_real_server.py)."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from nolabel.components.cli import build_app
from tests.conftest import REPO_ROOT


def test_nolabel_serve_has_host_port_workers_and_model_options():
    result = CliRunner().invoke(build_app(), ["serve", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--host", "--port", "--workers", "--model", "--detector"):
        assert option in result.output


def _serve_entrypoint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nolabel.components.serve", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bad_parameters_are_one_error_line_and_exit_2():
    done = _serve_entrypoint("run-json", '{"port": 70000}')
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: invalid parameters: port")
    workers = _serve_entrypoint("--workers", "0")
    assert workers.returncode == 2 and "--workers" in workers.stderr
