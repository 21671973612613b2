"""Shared fixtures: an isolated NOLABEL_HOME per test and a real S3 server on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data" / "webimages"
FETCHED_WEIGHTS = REPO_ROOT / ".nolabel" / "weights"  # `make weights` (`nolabel weights fetch`)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int, timeout: float = 60.0, process: subprocess.Popen | None = None
) -> None:
    """Block until something listens on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@pytest.fixture(autouse=True)
def nolabel_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own NOLABEL_HOME and a local store unless it asks for S3; the
    animal proposers come from the checkout's fetched weights."""
    from nolabel.components.common.settings import get_settings

    home = tmp_path / "nolabel-home"
    monkeypatch.setenv("NOLABEL_HOME", str(home))
    for name in list(os.environ):
        if name.startswith("NOLABEL_") and name != "NOLABEL_HOME":
            monkeypatch.delenv(name)
    monkeypatch.setenv("NOLABEL_WEIGHTS_DIR", str(FETCHED_WEIGHTS))  # the proposers, read only
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


def start_moto(port: int) -> subprocess.Popen:
    """A moto S3 server process on 127.0.0.1:``port`` (wait for the port before using it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3 HTTP server (moto_server) on a free loopback port, for the whole session."""
    port = free_port()
    process = start_moto(port)
    try:
        wait_for_port(port, process=process)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


S3_ACCESS_KEY, S3_SECRET_KEY = "testing-access", "testing-secret"


@pytest.fixture
def s3_bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket on the loopback S3 server, with NOLABEL_S3_* pointing at it."""
    from minio import Minio

    from nolabel.components.common.settings import get_settings

    bucket = f"nolabel-{uuid.uuid4().hex[:12]}"
    Minio(s3_server, S3_ACCESS_KEY, S3_SECRET_KEY, secure=False).make_bucket(bucket)
    monkeypatch.setenv("NOLABEL_S3_ENDPOINT", s3_server)
    monkeypatch.setenv("NOLABEL_S3_ACCESS_KEY", S3_ACCESS_KEY)
    monkeypatch.setenv("NOLABEL_S3_SECRET_KEY", S3_SECRET_KEY)
    monkeypatch.setenv("NOLABEL_S3_BUCKET", bucket)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    get_settings.cache_clear()
    return bucket
