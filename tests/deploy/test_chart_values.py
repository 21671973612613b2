"""What each chart option changes in the rendered objects, and how settings reach the pod."""

from __future__ import annotations

import typing

from pydantic import SecretStr

from nolabel.components.common.settings import Settings
from tests.deploy.chart import (
    RELEASE,
    by_kind,
    env_by_name,
    named,
    notes,
    render,
    serve_container,
)
from tests.deploy.test_chart_render import DIGEST, SCENARIOS

FULLNAME = f"{RELEASE}-nolabel"
# Non-NOLABEL variables the ConfigMap may carry (MLflow's own client settings).
OTHER_CONFIG_KEYS = {"MLFLOW_S3_ENDPOINT_URL"}


def _setting_field(variable: str):
    """The pydantic field an environment variable sets (None when no settings class reads it)."""
    from nolabel.components.serve.settings import ServeSettings

    if variable.startswith("NOLABEL_SERVE_"):
        return ServeSettings.model_fields.get(variable.removeprefix("NOLABEL_SERVE_").lower())
    return Settings.model_fields.get(variable.removeprefix("NOLABEL_").lower())


def _is_secret(variable: str, field) -> bool:
    return SecretStr in typing.get_args(field.annotation) or variable.endswith("ACCESS_KEY")


def test_defaults_two_replicas_pdb_no_hpa_no_ingress() -> None:
    objects = render()
    deployment = named(objects, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert by_kind(objects, "HorizontalPodAutoscaler") == []
    assert by_kind(objects, "Ingress") == []
    assert named(objects, "PodDisruptionBudget")["spec"]["minAvailable"] == 1
    assert named(objects, "ServiceAccount")["automountServiceAccountToken"] is False
    service = named(objects, "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    container = serve_container(objects)
    assert container["image"] == "nolabel/serve:0.1.0"
    assert container["ports"][0]["containerPort"] == 8000
    assert container["args"][container["args"].index("--port") + 1] == "8000"
    assert "NOLABEL_API_TOKEN" not in env_by_name(container)
    # Only the settings the service needs; nothing about S3/MLflow endpoints by default.
    data = named(objects, "ConfigMap")["data"]
    assert "NOLABEL_S3_ENDPOINT" not in data
    assert "NOLABEL_MLFLOW_TRACKING_URI" not in data


def test_config_map_keys_are_real_non_secret_settings() -> None:
    for values in SCENARIOS.values():
        data = named(render(values), "ConfigMap")["data"]
        for key, value in data.items():
            assert isinstance(value, str)
            if key in OTHER_CONFIG_KEYS:
                continue
            assert key.startswith("NOLABEL_"), key
            field = _setting_field(key)
            assert field is not None, f"{key} is not a nolabel setting"
            assert not _is_secret(key, field), f"{key} is secret: use a Secret reference"


def test_config_map_values_parse_as_settings(monkeypatch) -> None:
    from nolabel.components.serve.settings import ServeSettings

    data = named(render(SCENARIOS["s3-mlflow"]), "ConfigMap")["data"]
    for key, value in data.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    serve = ServeSettings()
    assert serve.require_detector is True
    assert serve.log_level == "info"
    assert serve.cors_origin_list == ["https://app.example.org"]
    assert settings.s3_endpoint == "minio.storage.svc:9000"
    assert settings.s3_secure is True
    assert settings.s3_bucket == "prod-nolabel"
    assert settings.s3_region == "eu-west-1"
    assert settings.tracking_uri == "http://mlflow.mlops.svc:5000"
    assert settings.classifier_model == "models:/nolabel-classifier@production"
    assert settings.max_upload_bytes == 20 * 1024 * 1024
    assert settings.device == "cpu"
    assert settings.spark_master == "local[2]"
    assert str(settings.home) == "/var/lib/nolabel"
    assert data["MLFLOW_S3_ENDPOINT_URL"] == "https://minio.storage.svc:9000"


def test_s3_and_mlflow_credentials_come_from_secret_refs() -> None:
    env = env_by_name(serve_container(render(SCENARIOS["s3-mlflow"])))
    expected = {
        "NOLABEL_S3_ACCESS_KEY": ("nolabel-s3", "access-key"),
        "NOLABEL_S3_SECRET_KEY": ("nolabel-s3", "secret-key"),
        "AWS_ACCESS_KEY_ID": ("nolabel-s3", "access-key"),
        "AWS_SECRET_ACCESS_KEY": ("nolabel-s3", "secret-key"),
        "MLFLOW_TRACKING_USERNAME": ("nolabel-mlflow", "username"),
        "MLFLOW_TRACKING_PASSWORD": ("nolabel-mlflow", "password"),
    }
    for name, (secret, key) in expected.items():
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": secret, "key": key}
    no_aws = {"secrets": {"s3": {"existingSecret": "nolabel-s3", "exportAwsVariables": False}}}
    env = env_by_name(serve_container(render(no_aws)))
    assert "NOLABEL_S3_SECRET_KEY" in env
    assert "AWS_SECRET_ACCESS_KEY" not in env


def test_api_token_is_a_secret_ref_and_silences_the_warning() -> None:
    values = SCENARIOS["api-token"]
    env = env_by_name(serve_container(render(values)))
    assert env["NOLABEL_API_TOKEN"] == {
        "name": "NOLABEL_API_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "nolabel-api", "key": "bearer"}},
    }
    assert "WITHOUT a token" in notes({})
    assert "WITHOUT a token" not in notes(values)


def test_ingress_routes_to_the_service() -> None:
    objects = render(SCENARIOS["ingress"])
    ingress = named(objects, "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"secretName": "api-tls", "hosts": ["api.example.org"]}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "api.example.org"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": FULLNAME, "port": {"number": 80}}
    assert "https://api.example.org/" in notes(SCENARIOS["ingress"])
    annotations = ingress["metadata"]["annotations"]
    assert annotations == {
        "nginx.ingress.kubernetes.io/proxy-body-size": "25m",  # the user's value wins
        "nginx.ingress.kubernetes.io/proxy-send-timeout": "10",  # config.serve.bodyTimeout
        "nginx.ingress.kubernetes.io/proxy-read-timeout": "120",
    }
    plain = {**SCENARIOS["ingress"]["ingress"], "annotations": {}, "nginxLimits": False}
    assert "annotations" not in named(render({"ingress": plain}), "Ingress")["metadata"]


def test_hpa_owns_the_replica_count_when_enabled() -> None:
    objects = render(SCENARIOS["hpa-on"])
    assert "replicas" not in named(objects, "Deployment")["spec"]
    hpa = named(objects, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": FULLNAME,
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    targets = {m["resource"]["name"]: m["resource"]["target"] for m in hpa["spec"]["metrics"]}
    assert targets["cpu"]["averageUtilization"] == 60
    assert targets["memory"]["averageUtilization"] == 80


def test_hpa_off_single_replica_without_pdb() -> None:
    values = SCENARIOS["hpa-off-single-replica-no-pdb"]
    objects = render(values)
    assert named(objects, "Deployment")["spec"]["replicas"] == 1
    assert by_kind(objects, "HorizontalPodAutoscaler") == []
    assert by_kind(objects, "PodDisruptionBudget") == []
    single_with_pdb = {"replicaCount": 1}
    assert "node drains will block" in notes(single_with_pdb)
    assert "node drains will block" not in notes(values)


def test_pdb_max_unavailable_replaces_min_available() -> None:
    pdb = named(render(SCENARIOS["pdb-max-unavailable"]), "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == "50%"
    assert "minAvailable" not in pdb["spec"]


def test_nodeport_digest_and_existing_service_account() -> None:
    objects = render(SCENARIOS["nodeport-digest-existing-sa"])
    port = named(objects, "Service")["spec"]["ports"][0]
    assert (port["port"], port["nodePort"]) == (8080, 30080)
    assert by_kind(objects, "ServiceAccount") == []
    pod = named(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "shared-sa"
    assert pod["containers"][0]["image"] == f"registry.example.org/nolabel/serve@{DIGEST}"
    assert pod["nodeSelector"] == {"kubernetes.io/arch": "amd64"}


def test_bundled_minio_and_mlflow_are_wired_in() -> None:
    objects = render(SCENARIOS["bundled-minio-mlflow"])
    data = named(objects, "ConfigMap")["data"]
    assert data["NOLABEL_S3_ENDPOINT"] == f"{RELEASE}-minio:9000"
    assert data["NOLABEL_MLFLOW_TRACKING_URI"] == f"http://{RELEASE}-mlflow:5000"
    assert named(objects, "Service", f"{RELEASE}-minio")["spec"]["ports"][0]["port"] == 9000
    assert named(objects, "Service", f"{RELEASE}-mlflow")["spec"]["ports"][0]["port"] == 5000
    minio = named(objects, "Deployment", f"{RELEASE}-minio")["spec"]["template"]["spec"]
    minio_env = env_by_name(minio["containers"][0])
    assert minio_env["MINIO_ROOT_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "minio-root"
    assert len(by_kind(objects, "PersistentVolumeClaim")) == 2
    # Disabled by default: nothing of theirs renders.
    names = {obj["metadata"]["name"] for obj in render()}
    assert names == {FULLNAME}


def test_config_change_rolls_the_pods() -> None:
    def checksum(values):
        pod = named(render(values), "Deployment")["spec"]["template"]
        return pod["metadata"]["annotations"]["checksum/config"]

    assert checksum({}) == checksum({})
    assert checksum({}) != checksum({"config": {"modelAlias": "candidate"}})


def test_notes_warn_about_missing_backends_only_when_missing() -> None:
    default_notes = notes({})
    assert "no S3 endpoint" in default_notes
    assert "no MLflow tracking URI" in default_notes
    assert "kubectl port-forward" in default_notes
    for case in ("s3-mlflow", "bundled-minio-mlflow"):
        configured = notes(SCENARIOS[case])
        assert "no S3 endpoint" not in configured
        assert "no MLflow tracking URI" not in configured
    nodeport = notes(SCENARIOS["nodeport-digest-existing-sa"])
    assert "NODE_PORT" in nodeport
    assert f"registry.example.org/nolabel/serve@{DIGEST}" in nodeport
