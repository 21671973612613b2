"""``refresh``: re-crawl and retrain; promote a new model only if it beats production.

The classifier is compared on its held-out metric (the new train step's metrics vs the metrics
of the MLflow run behind the production version). The detector is compared on the same true
boxes when the dataset has them (both evaluated by the evaluate step), else on the metrics of
their MLflow runs.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.logging import get_run_logger

from nolabel.components.common.names import CANDIDATE, PRODUCTION
from nolabel.flows import promotion, report
from nolabel.flows.crashes import claim_flow_run
from nolabel.flows.params import RefreshParams, default_tag
from nolabel.flows.pipeline import evaluate_params, model_entry, run_pipeline_steps
from nolabel.flows.tasks import evaluate_task


def _production_metrics(name: str, version: str | None) -> dict[str, float]:
    if version is None:
        return {}
    try:
        return promotion.version_metrics(name, version)
    except Exception:  # the production run may have been deleted: then nothing to compare
        return {}


@task(name="compare-classifier", cache_policy=NONE, persist_result=False)
def compare_classifier(train: dict[str, Any], metric: str, margin: float) -> dict[str, Any]:
    """Decide whether the new classifier replaces production."""
    name = train["model_name"]
    current = promotion.production_version(name)
    return promotion.decide(
        name,
        train["model_version"],
        promotion.find_metric(train["metrics"], metric),
        current,
        promotion.find_metric(_production_metrics(name, current), metric),
        metric,
        margin,
    )


def compare_detector(
    steps: dict[str, dict[str, Any]], params: RefreshParams, salt: dict
) -> dict[str, Any]:
    """Decide whether the new detector replaces production: both scored on the same true boxes
    when the dataset has them, else on their held-out LIME-box metrics."""
    detect = steps["detect"]
    name = detect["model_name"]
    current = promotion.production_version(name)
    new_metrics, current_metrics = detect["metrics"], _production_metrics(name, current)
    metric = params.detector_fallback_metric
    if "evaluate" in steps and current is not None:
        production_eval = evaluate_task(
            step="evaluate",
            params=evaluate_params(f"models:/{name}/{current}", steps["crawl"]),
            upstream={**salt, "crawl": steps["crawl"], "production": current},
        )
        steps["evaluate-production"] = production_eval
        new_metrics = steps["evaluate"]["metrics"]
        current_metrics = production_eval["metrics"]
        metric = params.detector_metric
    return promotion.decide(
        name,
        detect["model_version"],
        promotion.find_metric(new_metrics, metric),
        current,
        promotion.find_metric(current_metrics, metric),
        metric,
        params.min_improvement,
    )


@flow(name="refresh", log_prints=True)
def refresh(params: RefreshParams) -> dict[str, Any]:
    """Re-crawl, retrain and promote only the models that beat production."""
    claim_flow_run()  # label this run; mark runs of killed processes Crashed
    logger = get_run_logger()
    started = time.monotonic()
    tag = params.tag or default_tag()
    pipeline = params.pipeline.model_copy(update={"promote": False, "run_tag": tag})
    steps = run_pipeline_steps(pipeline)
    salt = {"run_tag": tag}
    decisions = {
        "classifier": compare_classifier(
            steps["train"], params.classifier_metric, params.min_improvement
        ),
        "detector": compare_detector(steps, params, salt),
    }
    models = {}
    for kind, decision in decisions.items():
        result = steps["train"] if kind == "classifier" else steps["detect"]
        if decision["promote"]:
            promotion.promote(decision["model"], decision["new_version"])
        alias = PRODUCTION if decision["promote"] else CANDIDATE
        models[kind] = model_entry(result, alias)
        logger.info("%s: %s", kind, decision["reason"])
    notes = [
        f"{kind}: {'promoted' if d['promote'] else 'kept production'} ({d['reason']})"
        for kind, d in decisions.items()
    ]
    report.publish("refresh", f"refresh {tag}", steps, models, notes)
    return {
        "tag": tag,
        "dataset": pipeline.dataset,
        "decisions": decisions,
        "models": models,
        "mlflow_runs": report.mlflow_runs(steps),
        "steps": steps,
        "seconds": round(time.monotonic() - started, 1),
    }
