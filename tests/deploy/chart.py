"""Offline rendering and validation of the Helm chart (helm-python-sdk, kubernetes-validate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CHART_DIR = Path(__file__).resolve().parents[2] / "helm" / "nolabel"
RELEASE = "demo"
NAMESPACE = "ml"
# Oldest Kubernetes minor the chart declares support for and the newest that the installed
# kubernetes-validate ships schemas for (resolved at run time).
OLDEST_KUBE = "1.25.0"


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` merged into a copy of ``base`` (dicts recursively, everything else replaced)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def render_files(values: dict[str, Any] | None = None) -> dict[str, str]:
    """Template path -> rendered text. A fresh chart per call: rendering prunes disabled deps."""
    import helm_python as helm

    with helm.Chart.load(CHART_DIR) as chart:
        return chart.render(values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every Kubernetes object the chart renders for ``values`` (NOTES.txt left out)."""
    objects: list[dict[str, Any]] = []
    for path, text in sorted(render_files(values).items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def notes(values: dict[str, Any] | None = None) -> str:
    """The rendered NOTES.txt."""
    return render_files(values)["nolabel/templates/NOTES.txt"]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Objects of one kind."""
    return [obj for obj in objects if obj["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The single object of ``kind`` (fails when there are none or several)."""
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def named(objects: list[dict[str, Any]], kind: str, name: str = f"{RELEASE}-nolabel") -> dict:
    """The object of ``kind`` called ``name`` (default: the service's own objects)."""
    found = [obj for obj in by_kind(objects, kind) if obj["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, got {len(found)}"
    return found[0]


def serve_pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The pod spec of the nolabel service Deployment."""
    return named(objects, "Deployment")["spec"]["template"]["spec"]


def serve_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The service container of the nolabel Deployment."""
    (container,) = serve_pod_spec(objects)["containers"]
    return container


def env_by_name(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The container's env entries keyed by variable name."""
    return {entry["name"]: entry for entry in container.get("env", [])}


def latest_kube_version() -> str:
    """Newest Kubernetes version kubernetes-validate has schemas for."""
    from kubernetes_validate.utils import latest_version

    return latest_version()


def validate_k8s(obj: dict[str, Any], version: str) -> None:
    """Validate one object against the strict OpenAPI schema of Kubernetes ``version``."""
    import kubernetes_validate

    kubernetes_validate.validate(obj, version, strict=True)


def lint(values: dict[str, Any] | None = None) -> dict[str, Any]:
    """``helm lint --strict --with-subcharts`` of the chart with ``values``."""
    import helm_python as helm

    return helm.lint(CHART_DIR, values or {}, strict=True, with_subcharts=True, namespace=NAMESPACE)


def validate_values(values: dict[str, Any]) -> None:
    """Check user values (merged over the defaults) against values.schema.json; raises."""
    import helm_python as helm

    with helm.Chart.load(CHART_DIR) as chart:
        chart.validate_schema(chart.merge_values(values))
