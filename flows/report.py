"""Run summaries: a metrics table, MLflow links and Prefect artifacts."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from nolabel.components.common.settings import Settings, get_settings

RUN_ID_FIELDS = ("run_id", "parent_run_id")


def metric_rows(steps: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (step, metric) over every numeric value in each step's ``metrics``/counts."""
    rows: list[dict[str, Any]] = []
    for step, result in steps.items():
        for field in ("metrics", "counts", "failures"):
            values = result.get(field)
            if not isinstance(values, Mapping):
                continue
            for name, value in _flatten(values):
                prefix = "" if field == "metrics" else f"{field}."
                rows.append({"step": step, "metric": f"{prefix}{name}", "value": value})
    return rows


def _flatten(values: Mapping[str, Any], prefix: str = "") -> list[tuple[str, float]]:
    flat: list[tuple[str, float]] = []
    for name, value in values.items():
        if isinstance(value, Mapping):
            flat += _flatten(value, f"{prefix}{name}.")
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int | float) and math.isfinite(float(value)):
            flat.append((f"{prefix}{name}", round(float(value), 4)))
    return flat


def mlflow_base_url(settings: Settings | None = None) -> str:
    """Base URL of the MLflow UI: the tracking server, or ``make mlflow-ui``'s default port."""
    settings = settings or get_settings()
    uri = settings.tracking_uri
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/")
    return "http://127.0.0.1:5000"


def run_link(run_id: str, settings: Settings | None = None) -> str:
    """URL of an MLflow run in the UI (the experiment is looked up when possible)."""
    experiment = "0"
    try:
        import mlflow

        from nolabel.components.common import tracking

        tracking.configure(settings)
        experiment = mlflow.MlflowClient().get_run(run_id).info.experiment_id
    except Exception:  # a link is best-effort; the run id is printed next to it anyway
        pass
    return f"{mlflow_base_url(settings)}/#/experiments/{experiment}/runs/{run_id}"


def mlflow_runs(steps: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """``{step: run_id}`` for every step result that names an MLflow run."""
    runs = {}
    for step, result in steps.items():
        for field in RUN_ID_FIELDS:
            if result.get(field):
                runs[step] = str(result[field])
                break
    return runs


def summary_markdown(
    title: str,
    steps: Mapping[str, Mapping[str, Any]],
    models: Mapping[str, Mapping[str, Any]],
    notes: list[str] | None = None,
    settings: Settings | None = None,
) -> str:
    """Markdown of a run: metrics per step, MLflow run links, models and notes."""
    lines = [f"# {title}", ""]
    runs = mlflow_runs(steps)
    if runs:
        lines += ["## MLflow runs", ""]
        for step, run_id in runs.items():
            lines.append(f"- **{step}**: [{run_id}]({run_link(run_id, settings)})")
        lines.append("")
    if models:
        lines += ["## Models", "", "| model | version | alias | URI |", "|---|---|---|---|"]
        for name, info in models.items():
            lines.append(
                f"| {name} | {info.get('version', '')} | {info.get('alias', '')} "
                f"| `{info.get('uri', '')}` |"
            )
        lines.append("")
    rows = metric_rows(steps)
    if rows:
        lines += ["## Metrics", "", "| step | metric | value |", "|---|---|---|"]
        lines += [f"| {r['step']} | {r['metric']} | {r['value']} |" for r in rows]
        lines.append("")
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    return "\n".join(lines)


def publish(
    key: str,
    title: str,
    steps: Mapping[str, Mapping[str, Any]],
    models: Mapping[str, Mapping[str, Any]],
    notes: list[str] | None = None,
) -> str:
    """Create the run's Prefect markdown and table artifacts; return the markdown."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    markdown = summary_markdown(title, steps, models, notes)
    create_markdown_artifact(markdown=markdown, key=key, description=title)
    rows = metric_rows(steps)
    if rows:
        create_table_artifact(table=rows, key=f"{key}-metrics", description=f"{title}: metrics")
    return markdown
