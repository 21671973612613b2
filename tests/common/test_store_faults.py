"""S3 faults mid-run: one ``error:`` line and exit 2, in bounded time; a rerun resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from nolabel.components.common.errors import ConfigurationError
from nolabel.components.common.s3_store import S3Store
from nolabel.components.common.settings import get_settings
from tests.conftest import (
    REPO_ROOT,
    S3_ACCESS_KEY,
    S3_SECRET_KEY,
    free_port,
    start_moto,
    wait_for_port,
)

# Small timeouts for the faulty-server tests, and the bound they imply for one request.
CONNECT, READ, RETRIES = 2.0, 4.0, 1  # roomy enough for a loaded machine
REQUEST_BOUND = (CONNECT + READ) * (RETRIES + 1)
GENEROUS = 4 * REQUEST_BOUND + 20  # a behaviour bound (no hang), not a speed benchmark


@dataclass
class OwnS3:
    """A moto S3 server of this test alone (so it can be stopped, frozen or killed)."""

    process: subprocess.Popen
    endpoint: str
    bucket: str


@pytest.fixture
def own_s3() -> Iterator[OwnS3]:
    from minio import Minio

    port = free_port()
    process = start_moto(port)
    try:
        wait_for_port(port, process=process)
        endpoint, bucket = f"127.0.0.1:{port}", f"faults-{uuid.uuid4().hex[:10]}"
        Minio(endpoint, S3_ACCESS_KEY, S3_SECRET_KEY, secure=False).make_bucket(bucket)
        yield OwnS3(process, endpoint, bucket)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def s3_env(home: str, endpoint: str, bucket: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOLABEL_")}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        AWS_DEFAULT_REGION="us-east-1",
        NOLABEL_HOME=home,
        NOLABEL_S3_ENDPOINT=endpoint,
        NOLABEL_S3_ACCESS_KEY=S3_ACCESS_KEY,
        NOLABEL_S3_SECRET_KEY=S3_SECRET_KEY,
        NOLABEL_S3_BUCKET=bucket,
        NOLABEL_S3_CONNECT_TIMEOUT=str(CONNECT),
        NOLABEL_S3_READ_TIMEOUT=str(READ),
        NOLABEL_S3_RETRIES=str(RETRIES),
    )
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "nolabel.components.cli", *args]


CRAWL = ("crawl", "--dataset", "s3c", "--positive", "leopard", "--pages", "4", "--per-page")
CRAWL_ARGS = (*CRAWL, "40", "--processes", "1", "--concurrency", "4", "--no-progress")


def start_crawl(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        cli(*CRAWL_ARGS), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for_progress(server: OwnS3, crawl: subprocess.Popen) -> None:
    """Block until the crawl has recorded finished images (it is mid-run)."""
    from minio import Minio

    client = Minio(server.endpoint, S3_ACCESS_KEY, S3_SECRET_KEY, secure=False)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert crawl.poll() is None, crawl.communicate()
        if any(client.list_objects(server.bucket, prefix="datasets/s3c/.progress/part-")):
            return
        time.sleep(0.1)
    raise TimeoutError("the crawl recorded no progress")


def assert_one_error_line(rc: int, stdout: str, stderr: str, *needles: str) -> str:
    assert rc == 2, stderr
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    assert stdout == ""
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def test_crawl_stops_with_one_line_when_s3_dies(own_s3: OwnS3, tmp_path) -> None:
    crawl = start_crawl(s3_env(str(tmp_path / "home"), own_s3.endpoint, own_s3.bucket))
    try:
        wait_for_progress(own_s3, crawl)
        own_s3.process.terminate()
        own_s3.process.wait(timeout=10)
        stdout, stderr = crawl.communicate(timeout=GENEROUS)
    finally:
        if crawl.poll() is None:
            crawl.kill()
    assert_one_error_line(
        crawl.returncode, stdout, stderr, "cannot reach S3", own_s3.endpoint, "NOLABEL_S3_ENDPOINT"
    )


def test_frozen_s3_mid_crawl_fails_in_bounded_time_then_resumes(
    own_s3: OwnS3, tmp_path, monkeypatch
) -> None:
    env = s3_env(str(tmp_path / "home"), own_s3.endpoint, own_s3.bucket)
    crawl = start_crawl(env)
    try:
        wait_for_progress(own_s3, crawl)
        own_s3.process.send_signal(signal.SIGSTOP)
        frozen = time.monotonic()
        stdout, stderr = crawl.communicate(timeout=GENEROUS + 30)
        elapsed = time.monotonic() - frozen
    finally:
        own_s3.process.send_signal(signal.SIGCONT)
        if crawl.poll() is None:
            crawl.kill()
    assert_one_error_line(crawl.returncode, stdout, stderr, "cannot reach S3", own_s3.endpoint)
    assert elapsed < GENEROUS, elapsed

    # S3 is back: the same command finishes, without fetching what was stored again.
    again = subprocess.run(cli(*CRAWL_ARGS), env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout.strip().splitlines()[-1])
    assert result["resumed"] >= 1, result
    assert result["downloaded"] + result["resumed"] == result["hits"], result
    assert result["counts"]["positive"] > 0, result


def test_doctor_on_a_frozen_s3_returns_in_bounded_time(own_s3: OwnS3, tmp_path) -> None:
    env = s3_env(str(tmp_path / "home"), own_s3.endpoint, own_s3.bucket)
    own_s3.process.send_signal(signal.SIGSTOP)
    started = time.monotonic()
    result = subprocess.run(
        cli("doctor"), env=env, capture_output=True, text=True, timeout=GENEROUS + 30
    )
    elapsed = time.monotonic() - started
    line = assert_one_error_line(result.returncode, result.stdout, result.stderr, own_s3.endpoint)
    assert "timed out" in line or "Timeout" in line, line
    assert elapsed < GENEROUS, elapsed


@pytest.mark.parametrize("command", [("doctor",), CRAWL_ARGS, ("train", "--dataset", "d")])
def test_malformed_endpoint_is_one_line(command: tuple[str, ...], tmp_path) -> None:
    env = s3_env(str(tmp_path / "home"), "::::", "nolabel")
    result = subprocess.run(cli(*command), env=env, capture_output=True, text=True, timeout=120)
    assert_one_error_line(
        result.returncode, result.stdout, result.stderr, "invalid S3 endpoint", "'::::'"
    )


@pytest.mark.parametrize("endpoint", ["::::", "host:99999", "[::1", "http://"])
def test_malformed_endpoints_are_configuration_errors(endpoint: str) -> None:
    with pytest.raises(ConfigurationError, match="NOLABEL_S3_ENDPOINT"):
        S3Store(endpoint, "a", "b", "nolabel")


def test_invalid_bucket_name_is_named(s3_server: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid S3 bucket name 'nb'"):
        S3Store(s3_server, S3_ACCESS_KEY, S3_SECRET_KEY, "nb")


def test_every_store_call_maps_a_dead_server(own_s3: OwnS3, tmp_path, monkeypatch) -> None:
    """After the server dies, each operation is a one-line ConfigurationError naming it."""
    store = S3Store(
        own_s3.endpoint,
        S3_ACCESS_KEY,
        S3_SECRET_KEY,
        own_s3.bucket,
        connect_timeout=CONNECT,
        read_timeout=READ,
        retries=0,
    )
    store.put_bytes("a/b", b"x")
    own_s3.process.terminate()
    own_s3.process.wait(timeout=10)
    source = tmp_path / "f"
    source.write_bytes(b"y")
    calls = {
        "writing a/c": lambda: store.put_bytes("a/c", b"x"),
        "reading a/b": lambda: store.get_bytes("a/b"),
        "writing a/f": lambda: store.put_file("a/f", source),
        "listing a/": lambda: store.list("a/"),
        "checking a/b": lambda: store.exists("a/b"),
        "deleting a/b": lambda: store.delete("a/b"),
    }
    for action, call in calls.items():
        with pytest.raises(ConfigurationError) as caught:
            call()
        message = str(caught.value)
        assert f"while {action}" in message and own_s3.endpoint in message
        assert "\n" not in message
    with pytest.raises(ConfigurationError, match="while reading a/b"):
        store.get_file("a/b", tmp_path / "out" / "b")
    assert list((tmp_path / "out").iterdir()) == []  # no partial download left


def test_timeouts_and_retries_are_settings(monkeypatch) -> None:
    monkeypatch.setenv("NOLABEL_S3_READ_TIMEOUT", "7.5")
    monkeypatch.setenv("NOLABEL_S3_RETRIES", "0")
    get_settings.cache_clear()
    settings = get_settings()
    assert (settings.s3_connect_timeout, settings.s3_read_timeout) == (5.0, 7.5)
    assert settings.s3_retries == 0
    monkeypatch.setenv("NOLABEL_S3_RETRIES", "99")
    get_settings.cache_clear()
    with pytest.raises(ValueError, match="s3_retries"):
        get_settings()
