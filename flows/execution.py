"""Run one step in-process, as a Docker container or as a Kubernetes Job (NOLABEL_EXECUTION).

Whatever the mode, a step gets its params as JSON and gives back its result as JSON: in-process
the params go through the same JSON round trip a container sees, and a container's result is the
last line of its stdout (``common.cli.emit``). The container and Job specs are built
by pure functions (:func:`docker_container_spec`, :func:`kubernetes_job_manifest`) so they can
be checked without an engine.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from nolabel.components.common.contracts import Step
from nolabel.components.common.errors import ConfigurationError, NolabelError
from nolabel.components.common.settings import Settings, get_settings

# Settings forwarded to a Kubernetes Job as references to a Secret, never as values.
SECRET_ENV = (
    "NOLABEL_S3_ACCESS_KEY",
    "NOLABEL_S3_SECRET_KEY",
    "NOLABEL_API_TOKEN",
    "NOLABEL_BING_KEY",
    "NOLABEL_OPENVERSE_CLIENT_SECRET",
    "NOLABEL_MLFLOW_TRACKING_URI",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
)
DEFAULT_SECRET_NAME = "nolabel-secrets"
EXTRA_ENV_PREFIXES = ("NOLABEL_", "MLFLOW_", "AWS_")


class StepFailed(NolabelError):
    """A step container or Job ended with an error."""


def params_json(params: BaseModel | Mapping[str, Any]) -> str:
    """Canonical JSON of a step's params (sorted keys, compact)."""
    data = params.model_dump(mode="json") if isinstance(params, BaseModel) else dict(params)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def image_ref(target: Step, settings: Settings) -> str:
    """``registry/image:tag`` of a step's image."""
    registry = settings.image_registry.rstrip("/")
    return f"{registry}/{target.image}:{settings.image_tag}"


def container_command(target: Step, payload: str) -> tuple[list[str], list[str]]:
    """Entrypoint and arguments that run the step on ``payload`` in its image."""
    return ["python", "-m", target.package], [target.json_command, payload]


def parse_result(output: str | bytes) -> dict[str, Any]:
    """The step result: the last line of a container's output that is a JSON object.

    A step prints its result last on stdout; a pod log interleaves stderr, so a stray line
    written to stderr after it (at interpreter exit, say) is skipped.
    """
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise StepFailed("the step printed nothing; expected its result as a JSON line")
    for line in reversed(lines):
        if line.startswith("{"):
            try:
                result = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(result, dict):
                return result
    raise StepFailed(f"the step printed no JSON result; its last line: {lines[-1][:300]}")


def forwarded_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The NOLABEL_*/MLFLOW_*/AWS_* variables a step container inherits from the flow."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in sorted(environ.items()) if k.startswith(EXTRA_ENV_PREFIXES)}


def _job_name(target: Step, payload: str) -> str:
    digest = hashlib.sha256(payload.encode()).hexdigest()[:10]
    return re.sub(r"[^a-z0-9-]", "-", f"nolabel-{target.name}-{digest}")


def docker_container_spec(
    target: Step[Any, Any],
    params: BaseModel | Mapping[str, Any],
    settings: Settings,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments of ``create_docker_container`` that run ``target`` on ``params``.

    NOLABEL_HOME is bind-mounted at the same path, so the container sees the same local store,
    MLflow database and downloaded files as the flow.
    """
    payload = params_json(params)
    entrypoint, command = container_command(target, payload)
    env = forwarded_env(environ)
    env["NOLABEL_HOME"] = str(settings.home)
    env["NOLABEL_EXECUTION"] = "local"  # the step itself runs in-process inside the container
    spec: dict[str, Any] = {
        "image": image_ref(target, settings),
        "entrypoint": entrypoint,
        "command": command,
        "name": f"{_job_name(target, payload)}-{os.urandom(3).hex()}",
        "environment": env,
        "detach": True,
        "network_mode": "host",
        "labels": {"org.nolabel.step": target.name},
        # files written into the shared NOLABEL_HOME belong to the user running the flow
        "user": f"{os.getuid()}:{os.getgid()}",
    }
    spec["volumes"] = {str(settings.home): {"bind": str(settings.home), "mode": "rw"}}
    if target.gpu and settings.device != "cpu":
        spec["device_requests"] = [{"Driver": "nvidia", "Count": -1, "Capabilities": [["gpu"]]}]
    return spec


def _check_cluster_ready(settings: Settings) -> None:
    if not settings.uses_s3:
        raise ConfigurationError(
            "kubernetes execution needs a shared store: set NOLABEL_S3_ENDPOINT (and the "
            "bucket/credentials); a local store is invisible to the cluster's pods"
        )
    if settings.tracking_uri.startswith(("sqlite:", "file:")) or "://" not in settings.tracking_uri:
        raise ConfigurationError(
            "kubernetes execution needs an MLflow server: set NOLABEL_MLFLOW_TRACKING_URI to an "
            "http(s) URI reachable from the cluster"
        )


def kubernetes_job_manifest(
    target: Step[Any, Any],
    params: BaseModel | Mapping[str, Any],
    settings: Settings,
    environ: Mapping[str, str] | None = None,
    secret_name: str = DEFAULT_SECRET_NAME,
    suffix: str | None = None,
) -> dict[str, Any]:
    """A ``batch/v1`` Job that runs ``target`` on ``params`` with the settings' image and resources.

    Plain NOLABEL_* settings are copied as values; credentials are ``secretKeyRef``s into
    ``secret_name`` (key = variable name), so no secret value is ever written into the Job.
    """
    _check_cluster_ready(settings)
    payload = params_json(params)
    command, args = container_command(target, payload)
    plain = {
        k: v
        for k, v in forwarded_env(environ).items()
        if k not in SECRET_ENV and k != "NOLABEL_HOME"
    }
    plain["NOLABEL_EXECUTION"] = "local"
    plain["NOLABEL_HOME"] = "/tmp/nolabel"
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(plain.items())]
    env += [
        {
            "name": name,
            "valueFrom": {"secretKeyRef": {"name": secret_name, "key": name, "optional": True}},
        }
        for name in SECRET_ENV
    ]
    limits: dict[str, str] = {"cpu": settings.k8s_cpu, "memory": settings.k8s_memory}
    if target.gpu and settings.k8s_gpu > 0:
        limits["nvidia.com/gpu"] = str(settings.k8s_gpu)
    requests = {"cpu": settings.k8s_cpu, "memory": settings.k8s_memory}
    labels = {
        "app.kubernetes.io/name": "nolabel",
        "app.kubernetes.io/component": target.name,
        "app.kubernetes.io/managed-by": "prefect",
    }
    container = {
        "name": target.name,
        "image": image_ref(target, settings),
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "args": args,
        "env": env,
        "resources": {"requests": requests, "limits": limits},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{_job_name(target, payload)}-{suffix or os.urandom(3).hex()}",
            "namespace": settings.k8s_namespace,
            "labels": labels,
        },
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 24 * 3600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": {"runAsNonRoot": True},
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def run_local(target: Step[Any, Any], params: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    """Run the step's function in this process (params and result through JSON)."""
    params_model = target.params.model_validate_json(params_json(params))
    result = target(params_model)
    if isinstance(result, BaseModel):
        return json.loads(result.model_dump_json())
    return json.loads(json.dumps(result, default=str))


def run_docker(
    target: Step[Any, Any], params: BaseModel | Mapping[str, Any], settings: Settings
) -> dict:
    """Run the step as a container on prefect-docker's ``DockerHost``; its result is its last
    stdout line."""
    from docker.types import DeviceRequest
    from prefect_docker.host import DockerHost

    spec = docker_container_spec(target, params, settings)
    with DockerHost().get_client() as client:
        # device "auto" asks for GPUs only from an engine that has NVIDIA's runtime
        gpus = settings.device == "cuda" or "nvidia" in client.info().get("Runtimes", {})
        spec["device_requests"] = [
            DeviceRequest(driver=d["Driver"], count=d["Count"], capabilities=d["Capabilities"])
            for d in spec.get("device_requests", [])
            if gpus
        ]
        container = client.containers.create(**spec)
        try:
            container.start()
            status = container.wait()
            stdout = container.logs(stdout=True, stderr=False)
            if status.get("StatusCode", 1) != 0:
                errors = container.logs(stdout=False, stderr=True, tail=20)
                raise StepFailed(
                    f"{target.name} container exited with {status.get('StatusCode')}: "
                    f"{errors.decode('utf-8', 'replace')[-800:]}"
                )
        finally:
            container.remove(force=True)
    return parse_result(stdout)


def run_kubernetes(
    target: Step[Any, Any], params: BaseModel | Mapping[str, Any], settings: Settings
) -> dict:
    """Run the step as a Kubernetes Job via prefect-kubernetes; its result is the pod log's
    last line."""
    from prefect_kubernetes.credentials import KubernetesCredentials
    from prefect_kubernetes.jobs import KubernetesJob

    manifest = kubernetes_job_manifest(target, params, settings)
    job = KubernetesJob(
        v1_job=manifest,
        credentials=KubernetesCredentials(),
        namespace=settings.k8s_namespace,
        delete_after_completion=True,
    )
    job_run = job.trigger()
    job_run.wait_for_completion()
    logs = job_run.fetch_result()
    if not logs:
        raise StepFailed(f"{target.name} Job produced no pod logs")
    return parse_result(list(logs.values())[-1])


def execute_step(
    target: Step[Any, Any], params: BaseModel | Mapping[str, Any], settings: Settings | None = None
) -> dict[str, Any]:
    """Run ``target`` on ``params`` where ``settings.execution`` says; return its result as JSON
    data (what a container prints)."""
    settings = settings or get_settings()
    if settings.execution == "docker":
        return run_docker(target, params, settings)
    if settings.execution == "kubernetes":
        return run_kubernetes(target, params, settings)
    return run_local(target, params)
