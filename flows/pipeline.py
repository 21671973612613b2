"""``build_detector``: crawl → train → explain (LIME boxes) → detect (fine-tune + eval) → promote.

Each step's result is persisted in the store under a key of its inputs (``flows.results``), so
running the flow again after a crash resumes at the first unfinished step.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.logging import get_run_logger

from nolabel.components.common.datasets import images_prefix
from nolabel.components.common.names import CANDIDATE, PRODUCTION
from nolabel.components.common.settings import get_settings
from nolabel.components.common.store import open_store
from nolabel.flows import promotion, report
from nolabel.flows.crashes import claim_flow_run
from nolabel.flows.data import dataset_truth_path, flow_dir
from nolabel.flows.params import PipelineParams
from nolabel.flows.steps import CRAWL, DETECT, EVALUATE, EXPLAIN, TRAIN
from nolabel.flows.tasks import crawl_task, detect_task, evaluate_task, explain_task, train_task


def crawl_params(params: PipelineParams) -> dict[str, Any]:
    """CrawlParams of the pipeline."""
    values: dict[str, Any] = {
        "dataset": params.dataset,
        "provider": params.provider,
        "positive": params.positive,
        "negative": params.negative,
        "random_negatives": params.random_negatives,
        "pages": params.pages,
        "per_page": params.per_page,
    }
    if params.folder_root:
        values["folder_root"] = params.folder_root
    return {**values, **params.crawl_options}


def train_params(params: PipelineParams) -> dict[str, Any]:
    """TrainParams of the pipeline."""
    values: dict[str, Any] = {"dataset": params.dataset, "backbone": params.backbone}
    if params.variants:
        values["variants"] = ",".join(params.variants)
    return {**values, **params.train_options}


def explain_params(
    params: PipelineParams, train: dict[str, Any], truth: Path | None
) -> dict[str, Any]:
    """ExplainParams: LIME boxes for the dataset's images with the new classifier."""
    out = flow_dir(params.dataset) / "lime" / "boxes.coco.json"
    values: dict[str, Any] = {
        "dataset": params.dataset,
        "model": train["model_uri"],
        "out": str(out),
        "localizer": params.localizer,
    }
    if params.lime_samples is not None:
        values["lime"] = {"num_samples": params.lime_samples}
    if truth is not None:
        values["gt"] = str(truth)
    options = dict(params.explain_options)
    if "lime" in values and isinstance(options.get("lime"), dict):
        options["lime"] = {**values["lime"], **options["lime"]}  # both sets of LIME knobs
    return {**values, **options}


def detect_params(
    params: PipelineParams, explain: dict[str, Any], train: dict[str, Any] | None = None
) -> dict[str, Any]:
    """DetectTrainParams: fine-tune on the LIME boxes; with ``detector_negatives`` also on the
    crawl's negatives (images with nothing to box), with a target on the user's
    confident-empty frames and the pseudo-boxes of its positive bursts."""
    values: dict[str, Any] = {
        "boxes": explain["coco_uri"],
        "epochs": params.epochs,
        "image_size": params.image_size,
    }
    if params.detector_negatives:
        values["negatives"] = [params.dataset]
    if params.target:
        values["target"] = params.target
        if train:
            values["classifier"] = train["model_uri"]
    if params.detector_config:
        values["config"] = params.detector_config
    return {**values, **params.detect_options}


def evaluate_params(model_uri: str, crawl: dict[str, Any]) -> dict[str, Any]:
    """DetectEvalParams: a detector against the dataset's true boxes (store URIs, so a container
    or Job reads them from the store too)."""
    images = open_store().uri(images_prefix(crawl["dataset"]))
    return {"model": model_uri, "gt": crawl["truth_uri"], "images": images}


def local_truth(crawl: dict[str, Any]) -> Path | None:
    """A local copy of the true boxes for LIME scoring (not in Kubernetes Jobs: no shared disk)."""
    if not crawl.get("truth_uri") or get_settings().execution == "kubernetes":
        return None
    return dataset_truth_path(crawl["dataset"])


@task(name="promote", cache_policy=NONE, persist_result=False)
def promote_models(train: dict[str, Any], detect: dict[str, Any]) -> dict[str, Any]:
    """Set alias ``production`` on the new classifier and detector versions."""
    return {
        "classifier": promotion.promote(train["model_name"], train["model_version"]),
        "detector": promotion.promote(detect["model_name"], detect["model_version"]),
    }


def model_entry(result: dict[str, Any], alias: str) -> dict[str, Any]:
    """Name, version, alias and URI of a model a step registered."""
    name = result["model_name"]
    version = result["model_version"]
    return {
        "name": name,
        "version": version,
        "alias": alias,
        "uri": f"models:/{name}@{alias}" if alias else f"models:/{name}/{version}",
        "run_uri": result["model_uri"],
    }


def check_step_params(params: PipelineParams) -> None:
    """Every step's params checked before the crawl starts (a bad option fails in seconds, not
    after an hour of crawling); values that only upstream steps produce are stood in for."""
    crawl = CRAWL.check_params(crawl_params(params))
    TRAIN.check_params(train_params(params))
    train = {"model_uri": "models:/pending/1"}
    EXPLAIN.check_params(explain_params(params, train, None))
    DETECT.check_params(detect_params(params, {"coco_uri": "pending.coco.json"}, train))
    evaluate = evaluate_params("models:/pending/1", {"dataset": crawl.dataset, "truth_uri": ""})
    EVALUATE.check_params(evaluate)


def run_pipeline_steps(params: PipelineParams) -> dict[str, dict[str, Any]]:
    """Run (or resume) crawl → train → explain → detect → evaluate; return every step result."""
    check_step_params(params)
    salt = {"run_tag": params.run_tag} if params.run_tag else {}
    steps: dict[str, dict[str, Any]] = {}
    steps["crawl"] = crawl_task(step="crawl", params=crawl_params(params), upstream=salt)
    crawl = steps["crawl"]
    steps["train"] = train_task(
        step="train", params=train_params(params), upstream={**salt, "crawl": crawl}
    )
    steps["explain"] = explain_task(
        step="explain",
        params=explain_params(params, steps["train"], local_truth(crawl)),
        upstream={**salt, "crawl": crawl, "train": steps["train"]},
    )
    steps["detect"] = detect_task(
        step="detect",
        params=detect_params(params, steps["explain"], steps["train"]),
        upstream={**salt, "explain": steps["explain"]},
    )
    if crawl.get("truth_uri") and steps["detect"]["model_uri"]:
        steps["evaluate"] = evaluate_task(
            step="evaluate",
            params=evaluate_params(steps["detect"]["model_uri"], crawl),
            upstream={**salt, "crawl": crawl, "detect": steps["detect"]},
        )
    return steps


@flow(name="build_detector", log_prints=True)
def build_detector(params: PipelineParams) -> dict[str, Any]:
    """Build a detector from image search with no human labels, and register it."""
    claim_flow_run()  # label this run; mark runs of killed processes Crashed
    logger = get_run_logger()
    started = time.monotonic()
    steps = run_pipeline_steps(params)
    alias = CANDIDATE
    promoted: dict[str, Any] = {}
    if params.promote:
        promoted = promote_models(steps["train"], steps["detect"])
        alias = PRODUCTION
    models = {
        "classifier": model_entry(steps["train"], alias),
        "detector": model_entry(steps["detect"], alias),
    }
    notes = [f"dataset `{params.dataset}` from provider `{params.provider}`"]
    if not params.promote:
        notes.append("models left at alias `candidate` (pass promote=true to make them production)")
    markdown = report.publish("build-detector", "build_detector", steps, models, notes)
    summary = {
        "dataset": params.dataset,
        "models": models,
        "promoted": promoted,
        "mlflow_runs": report.mlflow_runs(steps),
        "mlflow_ui": report.mlflow_base_url(),
        "tracking_uri": get_settings().tracking_uri,
        "metrics": report.metric_rows(steps),
        "steps": steps,
        "seconds": round(time.monotonic() - started, 1),
    }
    logger.info("build_detector finished:\n%s", markdown)
    return summary
