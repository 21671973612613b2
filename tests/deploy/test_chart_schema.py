"""values.schema.json refuses bad values before anything reaches the cluster."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.chart import lint, render, validate_values
from tests.deploy.test_chart_render import SCENARIOS

INVALID: dict[str, tuple[dict[str, Any], str]] = {
    "replicas-as-text": ({"replicaCount": "two"}, "/replicaCount"),
    "negative-replicas": ({"replicaCount": -1}, "/replicaCount"),
    "unknown-top-level-key": ({"replicas": 3}, "replicas"),
    "unknown-nested-key": ({"image": {"name": "x"}}, "name"),
    "bad-service-type": ({"service": {"type": "ExternalName"}}, "/service/type"),
    "port-out-of-range": ({"service": {"port": 70000}}, "/service/port"),
    "bad-pull-policy": ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    "latest-tag": ({"image": {"tag": "latest"}}, "/image/tag"),
    "bad-digest": ({"image": {"digest": "sha256:123"}}, "/image/digest"),
    "bad-device": ({"config": {"device": "tpu"}}, "/config/device"),
    "relative-home": ({"config": {"home": "data"}}, "/config/home"),
    "s3-url-not-host": ({"config": {"s3": {"endpoint": "http://minio:9000"}}}, "endpoint"),
    "bad-bucket": ({"config": {"s3": {"bucket": "Bad_Bucket"}}}, "bucket"),
    "api-token-value": ({"secrets": {"apiToken": {"value": "s3cr3t"}}}, "value"),
    "s3-secret-value": ({"secrets": {"s3": {"secretKey": "s3cr3t"}}}, "secretKey"),
    "mlflow-password": ({"secrets": {"mlflow": {"password": "s3cr3t"}}}, "password"),
    "token-in-config": (
        {"config": {"extra": {"NOLABEL_API_TOKEN": "s3cr3t"}}},
        "NOLABEL_API_TOKEN",
    ),
    "non-nolabel-extra": ({"config": {"extra": {"PATH": "/bin"}}}, "PATH"),
    "secret-name-uppercase": (
        {"secrets": {"apiToken": {"existingSecret": "My_Secret"}}},
        "existingSecret",
    ),
    "hpa-min-zero": ({"autoscaling": {"enabled": True, "minReplicas": 0}}, "minReplicas"),
    "hpa-cpu-over-100": ({"autoscaling": {"targetCPUUtilizationPercentage": 150}}, "CPU"),
    "pdb-bad-percent": ({"podDisruptionBudget": {"maxUnavailable": "half"}}, "maxUnavailable"),
    "ingress-bad-path-type": (
        {
            "ingress": {
                "enabled": True,
                "hosts": [{"host": "a.example.org", "paths": [{"path": "/", "pathType": "Any"}]}],
            }
        },
        "pathType",
    ),
    "probe-path-relative": ({"probes": {"readiness": {"path": "readyz"}}}, "path"),
    "bad-memory-quantity": ({"resources": {"limits": {"memory": "lots"}}}, "memory"),
    "minio-unknown-key": ({"minio": {"enabled": True, "rootPassword": "x"}}, "rootPassword"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_schema_refuses_invalid_values(case: str) -> None:
    import helm_python as helm

    values, where = INVALID[case]
    with pytest.raises(helm.HelmValuesError) as refused:
        validate_values(values)
    assert where in str(refused.value)
    # An install renders with the same check, so nothing is produced from bad values.
    with pytest.raises(helm.HelmValuesError):
        render(values)


@pytest.mark.parametrize("case", ["replicas-as-text", "unknown-top-level-key", "bad-service-type"])
def test_lint_reports_invalid_values(case: str) -> None:
    values, where = INVALID[case]
    report = lint(values)
    assert any(where in error for error in report["errors"]), report


@pytest.mark.parametrize("case", sorted(SCENARIOS))
def test_schema_accepts_the_documented_setups(case: str) -> None:
    validate_values(SCENARIOS[case])


def test_bundled_minio_needs_a_secret_reference() -> None:
    import helm_python as helm

    with pytest.raises(helm.HelmRenderError, match="minio.existingSecret is required"):
        render({"minio": {"enabled": True}})
