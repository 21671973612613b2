"""The chart renders offline into valid, hardened Kubernetes objects for every supported setup."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.chart import (
    OLDEST_KUBE,
    by_kind,
    latest_kube_version,
    lint,
    named,
    render,
    serve_container,
    serve_pod_spec,
    validate_k8s,
)

DIGEST = "sha256:" + "ab" * 32

SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "ingress": {
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "25m"},
            "hosts": [{"host": "api.example.org", "paths": [{"path": "/", "pathType": "Prefix"}]}],
            "tls": [{"secretName": "api-tls", "hosts": ["api.example.org"]}],
        }
    },
    "hpa-on": {
        "autoscaling": {
            "enabled": True,
            "minReplicas": 3,
            "maxReplicas": 12,
            "targetCPUUtilizationPercentage": 60,
            "targetMemoryUtilizationPercentage": 80,
        }
    },
    "hpa-off-single-replica-no-pdb": {
        "replicaCount": 1,
        "autoscaling": {"enabled": False},
        "podDisruptionBudget": {"enabled": False},
    },
    "pdb-max-unavailable": {"podDisruptionBudget": {"enabled": True, "maxUnavailable": "50%"}},
    "api-token": {"secrets": {"apiToken": {"existingSecret": "nolabel-api", "key": "bearer"}}},
    "s3-mlflow": {
        "config": {
            "s3": {
                "endpoint": "minio.storage.svc:9000",
                "bucket": "prod-nolabel",
                "secure": True,
                "region": "eu-west-1",
            },
            "mlflow": {
                "trackingUri": "http://mlflow.mlops.svc:5000",
                "s3EndpointUrl": "https://minio.storage.svc:9000",
            },
            "classifierModel": "models:/nolabel-classifier@production",
            "serve": {"corsOrigins": "https://app.example.org"},
            "extra": {"NOLABEL_SPARK_MASTER": "local[2]", "NOLABEL_SERVE_EXPLAIN_MAX_SAMPLES": 500},
        },
        "secrets": {
            "s3": {"existingSecret": "nolabel-s3"},
            "mlflow": {"existingSecret": "nolabel-mlflow"},
        },
    },
    "nodeport-digest-existing-sa": {
        "service": {"type": "NodePort", "port": 8080, "nodePort": 30080},
        "image": {"repository": "registry.example.org/nolabel/serve", "digest": DIGEST},
        "serviceAccount": {"create": False, "name": "shared-sa"},
        "nodeSelector": {"kubernetes.io/arch": "amd64"},
        "tolerations": [{"key": "ml", "operator": "Exists", "effect": "NoSchedule"}],
    },
    "bundled-minio-mlflow": {
        "minio": {"enabled": True, "existingSecret": "minio-root"},
        "mlflow": {"enabled": True},
        "secrets": {"s3": {"existingSecret": "minio-root"}},
    },
}


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    values = SCENARIOS[request.param]
    return request.param, values, render(values)


def test_every_object_validates_against_kubernetes_schemas(scenario) -> None:
    _, _, objects = scenario
    kinds = {obj["kind"] for obj in objects}
    assert {"Deployment", "Service", "ConfigMap"} <= kinds
    for version in (OLDEST_KUBE, latest_kube_version()):
        for obj in objects:
            validate_k8s(obj, version)


def test_lint_is_clean(scenario) -> None:
    _, values, _ = scenario
    report = lint(values)
    assert report["errors"] == []
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == []


def test_no_secret_objects_and_no_inline_credentials(scenario) -> None:
    _, _, objects = scenario
    assert by_kind(objects, "Secret") == []
    sensitive = {
        "NOLABEL_API_TOKEN",
        "NOLABEL_S3_ACCESS_KEY",
        "NOLABEL_S3_SECRET_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MINIO_ROOT_USER",
        "MINIO_ROOT_PASSWORD",
    }
    for deployment in by_kind(objects, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for entry in container.get("env", []):
                if entry["name"] in sensitive:
                    assert "value" not in entry, entry
                    assert set(entry["valueFrom"]) == {"secretKeyRef"}
    for config_map in by_kind(objects, "ConfigMap"):
        assert sensitive.isdisjoint(config_map["data"])


def test_probes_resources_and_security_context(scenario) -> None:
    _, _, objects = scenario
    container = serve_container(objects)
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    startup = container["startupProbe"]
    assert startup["httpGet"]["path"] == "/healthz"
    # Model loading gets minutes, not the liveness probe's seconds.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])

    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] != 0
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "add" not in security["capabilities"]
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}

    pod_spec = serve_pod_spec(objects)
    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert pod_spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod_spec["automountServiceAccountToken"] is False


def test_writable_paths_are_empty_dirs(scenario) -> None:
    _, _, objects = scenario
    container = serve_container(objects)
    volumes = {v["name"]: v for v in serve_pod_spec(objects)["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    home = named(objects, "ConfigMap")["data"]["NOLABEL_HOME"]
    for path in ("/tmp", home):
        assert path in mounts, f"{path} is not writable"
        assert "emptyDir" in volumes[mounts[path]]
        assert volumes[mounts[path]]["emptyDir"]["sizeLimit"]
