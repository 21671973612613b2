"""Execution modes: the container and Job specs docker/kubernetes modes would submit."""

from __future__ import annotations

import json
import os
import re

import pytest

from nolabel.components.common.contracts import Step
from nolabel.components.common.errors import ConfigurationError
from nolabel.components.common.settings import Settings
from nolabel.flows.execution import (
    SECRET_ENV,
    StepFailed,
    docker_container_spec,
    execute_step,
    kubernetes_job_manifest,
    params_json,
    parse_result,
    run_local,
)
from nolabel.flows.steps import STEPS, get_step
from tests.flows import steps_for_tests

EXPLAIN = {"dataset": "lions", "model": "models:/nolabel-classifier/3", "lime": {"num_samples": 50}}
S3_ENV = {
    "NOLABEL_S3_ENDPOINT": "minio.nolabel:9000",
    "NOLABEL_S3_BUCKET": "nolabel",
    "NOLABEL_MLFLOW_TRACKING_URI": "http://mlflow.nolabel:5000",
}


def _s3_settings(monkeypatch: pytest.MonkeyPatch, **extra: str) -> Settings:
    for name, value in {**S3_ENV, **extra}.items():
        monkeypatch.setenv(name, value)
    return Settings()


def test_every_step_names_an_image_and_a_module() -> None:
    assert {t.image for t in STEPS.values()} == {"crawl", "spark", "detect"}
    assert get_step("train").image == get_step("explain").image == "spark"
    assert get_step("detect").package == "nolabel.components.detect"
    with pytest.raises(ConfigurationError, match="unknown step"):
        get_step("nope")


def test_docker_spec_runs_the_step_module_on_its_params(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NOLABEL_IMAGE_REGISTRY", "registry.example.org/team")
    monkeypatch.setenv("NOLABEL_IMAGE_TAG", "1.2.3")
    monkeypatch.setenv("NOLABEL_SPARK_MASTER", "local[2]")
    settings = Settings()
    spec = docker_container_spec(get_step("explain"), EXPLAIN, settings)
    assert spec["image"] == "registry.example.org/team/spark:1.2.3"
    assert spec["entrypoint"] == ["python", "-m", "nolabel.components.lime"]
    assert spec["command"][0] == "run-json"
    assert json.loads(spec["command"][1]) == EXPLAIN
    env = spec["environment"]
    assert env["NOLABEL_SPARK_MASTER"] == "local[2]"
    assert env["NOLABEL_EXECUTION"] == "local"  # inside the container the step runs in-process
    assert env["NOLABEL_HOME"] == str(settings.home)
    # NOLABEL_HOME (local store, MLflow DB, downloads) is shared at the same path
    assert spec["volumes"] == {str(settings.home): {"bind": str(settings.home), "mode": "rw"}}
    assert "device_requests" not in spec


def test_docker_spec_is_accepted_by_the_docker_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    from docker.models.containers import _create_container_args

    settings = _s3_settings(monkeypatch)
    spec = docker_container_spec(get_step("detect"), {"boxes": "s3://nolabel/x.json"}, settings)
    assert spec["volumes"][str(settings.home)]["bind"] == str(settings.home)
    assert spec["device_requests"][0]["Capabilities"] == [["gpu"]]
    args = _create_container_args({"version": "1.44", **spec})
    assert args["host_config"]["NetworkMode"] == "host"
    assert args["entrypoint"] == ["python", "-m", "nolabel.components.detect"]
    assert args["labels"] == {"org.nolabel.step": "detect"}
    assert args["user"] == f"{os.getuid()}:{os.getgid()}"
    cpu_spec = docker_container_spec(
        get_step("detect"), {}, Settings(device="cpu", s3_endpoint="minio:9000")
    )
    assert "device_requests" not in cpu_spec


def test_kubernetes_job_has_image_resources_env_and_secret_refs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _s3_settings(
        monkeypatch,
        NOLABEL_S3_SECRET_KEY="very-secret-value",
        NOLABEL_K8S_CPU="3",
        NOLABEL_K8S_MEMORY="12Gi",
        NOLABEL_K8S_GPU="1",
        NOLABEL_K8S_NAMESPACE="vision",
        NOLABEL_IMAGE_TAG="2.0",
    )
    job = kubernetes_job_manifest(
        get_step("detect"), {"boxes": "s3://nolabel/b.json"}, settings, suffix="x1"
    )
    assert job["kind"] == "Job" and job["apiVersion"] == "batch/v1"
    assert job["metadata"]["namespace"] == "vision"
    name = job["metadata"]["name"]
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 63
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] == 0
    (container,) = pod["containers"]
    assert container["image"] == "nolabel/detect:2.0"
    assert container["command"] == ["python", "-m", "nolabel.components.detect"]
    assert container["args"][0] == "run-json"
    assert json.loads(container["args"][1]) == {"boxes": "s3://nolabel/b.json"}
    resources = container["resources"]
    assert resources["requests"] == {"cpu": "3", "memory": "12Gi"}
    assert resources["limits"]["nvidia.com/gpu"] == "1"
    env = {e["name"]: e for e in container["env"]}
    assert env["NOLABEL_S3_ENDPOINT"]["value"] == "minio.nolabel:9000"
    assert env["NOLABEL_EXECUTION"]["value"] == "local"
    for name in SECRET_ENV:
        assert env[name]["valueFrom"]["secretKeyRef"]["key"] == name
        assert "value" not in env[name]
    assert "very-secret-value" not in json.dumps(job)
    # CPU steps get no GPU even when the detect step would
    crawl = kubernetes_job_manifest(get_step("crawl"), {"dataset": "x"}, settings)
    assert (
        "nvidia.com/gpu"
        not in crawl["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    )


def test_kubernetes_job_validates_against_the_kubernetes_schema(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import kubernetes_validate

    settings = _s3_settings(monkeypatch, NOLABEL_K8S_GPU="1")
    for step in STEPS:
        job = kubernetes_job_manifest(STEPS[step], {"dataset": "lions"}, settings)
        kubernetes_validate.validate(job, "1.30", strict=True)


def test_kubernetes_needs_a_shared_store_and_tracking_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigurationError, match="NOLABEL_S3_ENDPOINT"):
        kubernetes_job_manifest(get_step("crawl"), {}, Settings())
    monkeypatch.setenv("NOLABEL_S3_ENDPOINT", "minio:9000")
    with pytest.raises(ConfigurationError, match="NOLABEL_MLFLOW_TRACKING_URI"):
        kubernetes_job_manifest(get_step("crawl"), {}, Settings())
    monkeypatch.setenv("NOLABEL_EXECUTION", "kubernetes")
    from nolabel.components.common.settings import get_settings

    get_settings.cache_clear()
    with pytest.raises(ConfigurationError, match="NOLABEL_MLFLOW_TRACKING_URI"):
        execute_step(get_step("crawl"), {"dataset": "x"})


def test_result_is_the_last_json_line_of_the_output() -> None:
    out = b'progress 1/2\n{"partial": true} not json\n{"a": 1, "b": [2]}\n\n'
    assert parse_result(out) == {"a": 1, "b": [2]}
    # a pod log interleaves stderr: a stray line after the result is skipped
    assert parse_result('{"a": 1}\nWARNING: shutting down') == {"a": 1}
    with pytest.raises(StepFailed, match="no JSON result; its last line: Traceback"):
        parse_result("starting\nTraceback: boom")
    with pytest.raises(StepFailed, match="printed nothing"):
        parse_result("")
    with pytest.raises(StepFailed, match="no JSON result"):
        parse_result("[1, 2]")


def test_params_json_is_canonical() -> None:
    assert params_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'


def test_local_mode_passes_params_and_result_through_json() -> None:
    echo = Step(steps_for_tests.echo, image="crawl")
    assert (echo.name, echo.params, echo.result) == (
        "echo",
        steps_for_tests.EchoParams,
        steps_for_tests.EchoResult,
    )
    result = run_local(echo, {"text": "hi", "times": 3})
    assert result == {"text": "hihihi", "length": 6}
    assert json.dumps(result)  # plain JSON types only
