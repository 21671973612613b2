"""The chart's `score` Jobs: an Indexed Job of shards, then a merge, both Helm hooks in order,
valid Kubernetes objects, credentials from Secret references only, off by default."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.chart import (
    OLDEST_KUBE,
    by_kind,
    env_by_name,
    latest_kube_version,
    lint,
    named,
    render,
    validate_k8s,
    validate_values,
)

IMAGES, RESULTS = "s3://cards/card-7/", "s3://nolabel/runs/card-7/results.json"
SCORE: dict[str, Any] = {
    "score": {"enabled": True, "images": IMAGES, "resultsUri": RESULTS, "shards": 8},
    "config": {"s3": {"endpoint": "minio.storage.svc:9000", "bucket": "cards"}},
    "secrets": {"s3": {"existingSecret": "nolabel-s3"}, "mlflow": {"existingSecret": "mlf"}},
}


def _jobs(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    objects = render(values)
    return named(objects, "Job", "demo-nolabel-score"), named(objects, "Job", "demo-nolabel-merge")


def _container(job: dict[str, Any]) -> dict[str, Any]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


def test_off_by_default() -> None:
    assert by_kind(render(), "Job") == []


def test_indexed_shards_then_a_merge_as_ordered_hooks() -> None:
    score, merge = _jobs(SCORE)
    spec = score["spec"]
    assert spec["completionMode"] == "Indexed"
    assert spec["completions"] == spec["parallelism"] == 8
    args = _container(score)["args"]
    assert args == ["score", "--images", IMAGES, "--out", RESULTS, "--shard-count", "8"]
    assert "--shard-index" not in args  # each pod's index: JOB_COMPLETION_INDEX
    assert _container(merge)["args"] == [*args, "--merge"]
    assert merge["spec"]["completions"] == 1 and "completionMode" not in merge["spec"]
    hooks = [job["metadata"]["annotations"] for job in (score, merge)]
    assert [h["helm.sh/hook"] for h in hooks] == ["post-install,post-upgrade"] * 2
    assert [int(h["helm.sh/hook-weight"]) for h in hooks] == [0, 1]  # shards first, merge next
    assert {h["helm.sh/hook-delete-policy"] for h in hooks} == {"before-hook-creation"}
    for job in (score, merge):
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_parallelism_models_and_options() -> None:
    values = {
        **SCORE,
        "score": {
            **SCORE["score"], "parallelism": 2, "classifier": "models:/c@production",
            "extraArgs": ["--no-proposals"], "activeDeadlineSeconds": 36000,
            "resources": {"limits": {"nvidia.com/gpu": 1}},
            "nodeSelector": {"gpu": "h100"},
        },
    }  # fmt: skip
    score, merge = _jobs(values)
    assert score["spec"]["parallelism"] == 2 and score["spec"]["completions"] == 8
    assert score["spec"]["activeDeadlineSeconds"] == 36000
    args = _container(score)["args"]
    assert args[-3:] == ["--classifier", "models:/c@production", "--no-proposals"]
    assert _container(score)["resources"]["limits"]["nvidia.com/gpu"] == 1  # merged in
    assert "nvidia.com/gpu" not in str(_container(merge)["resources"])
    assert score["spec"]["template"]["spec"]["nodeSelector"] == {"gpu": "h100"}


def test_store_settings_and_credentials_come_from_the_chart_conventions() -> None:
    score, merge = _jobs(SCORE)
    for job in (score, merge):
        container = _container(job)
        assert container["envFrom"] == [{"configMapRef": {"name": "demo-nolabel"}}]
        env = env_by_name(container)
        for name in ("NOLABEL_S3_ACCESS_KEY", "NOLABEL_S3_SECRET_KEY", "AWS_ACCESS_KEY_ID"):
            assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "nolabel-s3", name
            assert "value" not in env[name]
        assert env["MLFLOW_TRACKING_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "mlf"
        assert "NOLABEL_API_TOKEN" not in env and "JOB_COMPLETION_INDEX" not in env
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    config = named(render(SCORE), "ConfigMap")["data"]
    assert config["NOLABEL_S3_ENDPOINT"] == "minio.storage.svc:9000"


def test_the_api_service_never_selects_score_pods() -> None:
    objects = render(SCORE)
    selector = named(objects, "Service")["spec"]["selector"]
    for job in by_kind(objects, "Job"):
        labels = job["spec"]["template"]["metadata"]["labels"]
        assert not all(labels.get(k) == v for k, v in selector.items()), labels
        assert labels["app.kubernetes.io/component"] == "score"


def test_jobs_validate_against_kubernetes_schemas_and_lint_clean() -> None:
    objects = render(SCORE)
    jobs = by_kind(objects, "Job")
    assert len(jobs) == 2
    for version in (OLDEST_KUBE, latest_kube_version()):
        for obj in objects:
            validate_k8s(obj, version)
    report = lint(SCORE)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize(
    "score",
    [
        {"enabled": True},  # no images, no results
        {"enabled": True, "images": IMAGES, "resultsUri": ""},
        {"enabled": True, "images": "/mnt/card", "resultsUri": RESULTS},  # not a store URI
        {"enabled": True, "images": IMAGES, "resultsUri": "s3://nolabel/runs/"},  # a folder
        {"shards": 0},
        {"parallelism": -1},
        {"shard": 4},  # misspelled
        {"resources": {"limits": {"cpu": "lots"}}},
    ],
)
def test_schema_refuses_bad_score_values(score: dict[str, Any]) -> None:
    with pytest.raises(Exception, match="score"):
        validate_values({"score": score})


def test_schema_accepts_the_documented_score_setup() -> None:
    validate_values(SCORE)
