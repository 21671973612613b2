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
from nolabel.components.detect.contract import EVALUATE, DetectEvalResult
from nolabel.components.transfer.contract import TrainResult
from nolabel.flows import promotion, report
from nolabel.flows.crashes import claim_flow_run
from nolabel.flows.params import RefreshParams, default_tag
from nolabel.flows.pipeline import (
    PipelineResults,
    evaluate_params,
    model_entry,
    run_pipeline_steps,
)
from nolabel.flows.tasks import step_task


def _production_metrics(name: str, version: str | None) -> dict[str, float]:
    if version is None:
        return {}
    try:
        return promotion.version_metrics(name, version)
    except Exception:  # the production run may have been deleted: then nothing to compare
        return {}


@task(name="compare-classifier", cache_policy=NONE, persist_result=False)
def compare_classifier(trained: TrainResult, metric: str, margin: float) -> dict[str, Any]:
    """Decide whether the new classifier replaces production."""
    name = trained.model_name
    current = promotion.production_version(name)
    return promotion.decide(
        name,
        trained.model_version,
        promotion.find_metric(trained.metrics, metric),
        current,
        promotion.find_metric(_production_metrics(name, current), metric),
        metric,
        margin,
    )


def compare_detector(
    results: PipelineResults, params: RefreshParams, salt: dict[str, str]
) -> tuple[dict[str, Any], DetectEvalResult | None]:
    """Decide whether the new detector replaces production: both scored on the same true boxes
    when the dataset has them, else on their held-out LIME-box metrics. Also returns the
    production detector's evaluation, when one was made."""
    detector = results.detect
    name = detector.model_name
    current = promotion.production_version(name)
    new_metrics, current_metrics = detector.metrics, _production_metrics(name, current)
    metric = params.detector_fallback_metric
    production_eval = None
    if results.evaluate is not None and current is not None:
        production_eval = step_task(
            EVALUATE,
            evaluate_params(f"models:/{name}/{current}", results.crawl),
            upstream={**salt, "crawl": results.crawl, "production": current},
        )
        new_metrics = results.evaluate.metrics
        current_metrics = production_eval.metrics
        metric = params.detector_metric
    decision = promotion.decide(
        name,
        detector.model_version,
        promotion.find_metric(new_metrics, metric),
        current,
        promotion.find_metric(current_metrics, metric),
        metric,
        params.min_improvement,
    )
    return decision, production_eval


@flow(name="refresh", log_prints=True)
def refresh(params: RefreshParams) -> dict[str, Any]:
    """Re-crawl, retrain and promote only the models that beat production."""
    claim_flow_run()  # label this run; mark runs of killed processes Crashed
    logger = get_run_logger()
    started = time.monotonic()
    tag = params.tag or default_tag()
    pipeline = params.pipeline.model_copy(update={"promote": False, "run_tag": tag})
    results = run_pipeline_steps(pipeline)
    classifier = compare_classifier(results.train, params.classifier_metric, params.min_improvement)
    detector, production_eval = compare_detector(results, params, {"run_tag": tag})
    decisions = {"classifier": classifier, "detector": detector}
    steps = results.as_json()
    if production_eval is not None:
        steps["evaluate-production"] = production_eval.model_dump(mode="json")
    models = {}
    for kind, decision in decisions.items():
        result = results.train if kind == "classifier" else results.detect
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
