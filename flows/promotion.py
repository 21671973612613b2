"""Registry aliases: promote new model versions, and compare them with production first."""

from __future__ import annotations

import math
from typing import Any

from nolabel.components.common import tracking
from nolabel.components.common.names import PRODUCTION


def promote(name: str, version: str | int | None) -> dict[str, Any]:
    """Point ``production`` of model ``name`` at ``version``; return what was done."""
    if version in (None, ""):
        return {"model": name, "promoted": False, "reason": "no version registered"}
    tracking.configure()
    previous = tracking.alias_version(name, PRODUCTION)
    tracking.set_alias(name, PRODUCTION, str(version))
    return {
        "model": name,
        "version": str(version),
        "promoted": True,
        "previous_production": previous,
        "uri": f"models:/{name}@{PRODUCTION}",
    }


def production_version(name: str) -> str | None:
    """The version ``production`` points at (None when there is none yet)."""
    tracking.configure()
    return tracking.alias_version(name, PRODUCTION)


def version_metrics(name: str, version: str) -> dict[str, float]:
    """The metrics of the MLflow run that produced a registered model version."""
    import mlflow

    tracking.configure()
    client = mlflow.MlflowClient()
    model_version = client.get_model_version(name, str(version))
    if not model_version.run_id:
        return {}
    return dict(client.get_run(model_version.run_id).data.metrics)


def find_metric(metrics: dict[str, Any], metric: str) -> float | None:
    """``metric`` from a (possibly nested or prefixed) metrics dict; None when absent.

    ``best_<metric>`` (how a parent run logs its best variant) counts as ``metric``.
    """
    for name in (metric, f"best_{metric}"):
        if isinstance(metrics.get(name), int | float) and not isinstance(metrics[name], bool):
            value = float(metrics[name])
            return value if math.isfinite(value) else None
    for key, value in metrics.items():
        if isinstance(value, dict):
            found = find_metric(value, metric)
            if found is not None:
                return found
        elif isinstance(value, int | float) and key.split("/")[-1].split(".")[-1] == metric:
            value = float(value)
            if math.isfinite(value):
                return value
    return None


def decide(
    name: str,
    new_version: str | None,
    new_value: float | None,
    current_version: str | None,
    current_value: float | None,
    metric: str,
    min_improvement: float = 0.0,
) -> dict[str, Any]:
    """Whether the new version should replace production, with the reason."""
    decision: dict[str, Any] = {
        "model": name,
        "metric": metric,
        "new_version": new_version,
        "new_value": new_value,
        "production_version": current_version,
        "production_value": current_value,
    }
    if new_version is None:
        return {**decision, "promote": False, "reason": "no new version"}
    if current_version is None:
        return {**decision, "promote": True, "reason": "no production version yet"}
    if current_version == str(new_version):
        return {**decision, "promote": False, "reason": "already production"}
    if new_value is None:
        return {**decision, "promote": False, "reason": f"new model has no {metric}"}
    if current_value is None:
        return {**decision, "promote": True, "reason": f"production model has no {metric}"}
    if new_value > current_value + min_improvement:
        return {
            **decision,
            "promote": True,
            "reason": f"{metric} {new_value:.4f} beats {current_value:.4f}",
        }
    return {
        **decision,
        "promote": False,
        "reason": f"{metric} {new_value:.4f} does not beat {current_value:.4f}"
        + (f" by {min_improvement}" if min_improvement else ""),
    }
