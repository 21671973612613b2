"""Bad configuration gives one clear ``error:`` line from the CLI, not a stack trace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.conftest import free_port, wait_for_port


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nolabel.components.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def base_env(home: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOLABEL_")}
    env["NOLABEL_HOME"] = home
    return env


@pytest.fixture(scope="module")
def authenticated_s3() -> Iterator[str]:
    """A moto S3 server that checks credentials (every request needs a real IAM key)."""
    port = free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="0")
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process=process)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def assert_one_error_line(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0]
    assert result.stdout == ""


def test_doctor_reports_the_working_local_setup(tmp_path) -> None:
    result = run_cli("doctor", env=base_env(str(tmp_path / "home")))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["store"].startswith("file://")
    assert summary["store_writable"] is True
    assert summary["tracking_uri"].startswith("sqlite:///")
    # A fresh home has no weights yet: doctor says so (score would name `nolabel weights fetch`).
    assert summary["weights_dir"] == str(tmp_path / "home" / "weights")
    assert summary["weights"] == {
        "centernet-mobilenetv3-512-coco": False,
        "nanodet-m-416-coco": False,
    }


def test_unreachable_s3(tmp_path) -> None:
    env = base_env(str(tmp_path / "home"))
    env["NOLABEL_S3_ENDPOINT"] = f"127.0.0.1:{free_port()}"
    result = run_cli("doctor", env=env)
    assert_one_error_line(result, "cannot reach S3", "NOLABEL_S3_ENDPOINT")


def test_missing_bucket(tmp_path, s3_server: str) -> None:
    env = base_env(str(tmp_path / "home"))
    env.update(
        NOLABEL_S3_ENDPOINT=s3_server,
        NOLABEL_S3_ACCESS_KEY="a",
        NOLABEL_S3_SECRET_KEY="b",
        NOLABEL_S3_BUCKET="no-such-bucket",
    )
    result = run_cli("doctor", env=env)
    assert_one_error_line(result, "bucket 'no-such-bucket' does not exist")


def test_bad_credentials(tmp_path, authenticated_s3: str) -> None:
    env = base_env(str(tmp_path / "home"))
    env.update(
        NOLABEL_S3_ENDPOINT=authenticated_s3,
        NOLABEL_S3_ACCESS_KEY="wrong",
        NOLABEL_S3_SECRET_KEY="wrong",
        NOLABEL_S3_BUCKET="nolabel",
    )
    result = run_cli("doctor", env=env)
    assert_one_error_line(result, "refused access", "NOLABEL_S3_ACCESS_KEY")


def test_invalid_setting_value(tmp_path) -> None:
    env = base_env(str(tmp_path / "home"))
    env["NOLABEL_EXECUTION"] = "mainframe"
    result = run_cli("doctor", env=env)
    assert_one_error_line(result, "execution")


def test_help_lists_subcommands(tmp_path) -> None:
    result = run_cli("--help", env=base_env(str(tmp_path / "home")))
    assert result.returncode == 0
    for command in (
        "crawl",
        "train",
        "classify",
        "explain",
        "detect",
        "score",
        "serve",
        "pipeline",
        "demo",
        "doctor",
    ):
        assert f" {command} " in result.stdout, command
    detect = run_cli("detect", "--help", env=base_env(str(tmp_path / "home")))
    assert " train " in detect.stdout and " eval " in detect.stdout
