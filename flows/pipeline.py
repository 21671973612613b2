"""``build_detector``: crawl → train → explain (LIME boxes) → detect (fine-tune + eval) → promote.

Each step's result is persisted in the store under a key of its inputs (``flows.results``), so
running the flow again after a crash resumes at the first unfinished step.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.logging import get_run_logger

from nolabel.components.common.datasets import images_prefix
from nolabel.components.common.names import CANDIDATE, PRODUCTION
from nolabel.components.common.settings import get_settings
from nolabel.components.common.store import open_store
from nolabel.components.crawl.contract import CRAWL, CrawlParams, CrawlResult
from nolabel.components.detect.contract import (
    DETECT,
    EVALUATE,
    DetectEvalParams,
    DetectEvalResult,
    DetectTrainParams,
    DetectTrainResult,
)
from nolabel.components.lime.contract import EXPLAIN, ExplainParams, ExplainResult
from nolabel.components.transfer.contract import TRAIN, TrainParams, TrainResult
from nolabel.flows import promotion, report
from nolabel.flows.crashes import claim_flow_run
from nolabel.flows.data import dataset_truth_path, flow_dir
from nolabel.flows.params import PipelineParams
from nolabel.flows.tasks import crawl_task, step_task


def crawl_params(params: PipelineParams) -> CrawlParams:
    """The crawl of the pipeline's dataset."""
    return CRAWL.check_params(params.step_values(CrawlParams))


def train_params(params: PipelineParams) -> TrainParams:
    """The classifier trained on the crawled dataset."""
    variants = {"variants": ",".join(params.variants)} if params.variants else {}
    return TRAIN.check_params({**params.step_values(TrainParams), **variants})


def explain_params(
    params: PipelineParams, trained: TrainResult, truth: Path | None
) -> ExplainParams:
    """LIME boxes for the dataset's images with the new classifier."""
    values = params.step_values(ExplainParams)
    # both sets of LIME knobs: lime_samples, then the options' (which win)
    values["lime"] = {"num_samples": params.lime_samples, **values.get("lime", {})}
    out = flow_dir(params.dataset) / "lime" / "boxes.coco.json"
    given = {"model": trained.model_uri, "out": str(out)}
    if truth is not None:
        given["gt"] = str(truth)
    return EXPLAIN.check_params({**values, **given})


def detect_params(
    params: PipelineParams, explained: ExplainResult, trained: TrainResult | None = None
) -> DetectTrainParams:
    """Fine-tune on the LIME boxes; with ``detector_negatives`` also on the crawl's negatives
    (images with nothing to box), with a target on the user's confident-empty frames and the
    pseudo-boxes of its positive bursts (ranked by the new classifier)."""
    given: dict[str, Any] = {"boxes": explained.coco_uri}
    if params.detector_negatives:
        given["negatives"] = [params.dataset]
    if params.target and trained:
        given["classifier"] = trained.model_uri
    return DETECT.check_params({**params.step_values(DetectTrainParams), **given})


def evaluate_params(model_uri: str, crawled: CrawlResult) -> DetectEvalParams:
    """A detector against the dataset's true boxes (store URIs, so a container or Job reads them
    from the store too)."""
    images = open_store().uri(images_prefix(crawled.dataset))
    return DetectEvalParams(model=model_uri, gt=crawled.truth_uri, images=images)


def local_truth(crawled: CrawlResult) -> Path | None:
    """A local copy of the true boxes for LIME scoring (not in Kubernetes Jobs: no shared disk)."""
    if not crawled.truth_uri or get_settings().execution == "kubernetes":
        return None
    return dataset_truth_path(crawled.dataset)


@task(name="promote", cache_policy=NONE, persist_result=False)
def promote_models(trained: TrainResult, detector: DetectTrainResult) -> dict[str, Any]:
    """Set alias ``production`` on the new classifier and detector versions."""
    return {
        "classifier": promotion.promote(trained.model_name, trained.model_version),
        "detector": promotion.promote(detector.model_name, detector.model_version),
    }


def model_entry(result: TrainResult | DetectTrainResult, alias: str) -> dict[str, Any]:
    """Name, version, alias and URI of a model a step registered."""
    name, version = result.model_name, result.model_version
    return {
        "name": name,
        "version": version,
        "alias": alias,
        "uri": f"models:/{name}@{alias}" if alias else f"models:/{name}/{version}",
        "run_uri": result.model_uri,
    }


@dataclass
class PipelineResults:
    """What each step of one pipeline run gave (``evaluate``: only with true boxes)."""

    crawl: CrawlResult
    train: TrainResult
    explain: ExplainResult
    detect: DetectTrainResult
    evaluate: DetectEvalResult | None = None

    def as_json(self) -> dict[str, dict[str, Any]]:
        """``{step: result}`` as JSON data, for summaries and reports."""
        return {
            name: result.model_dump(mode="json")
            for name, result in vars(self).items()
            if result is not None
        }


def run_pipeline_steps(params: PipelineParams) -> PipelineResults:
    """Run (or resume) crawl → train → explain → detect → evaluate; return every step result.

    ``params`` were checked as they were built (every option is typed as its step declares it);
    what only a whole step's Params can check, such as the crawl's size, fails as that step's
    Params are built: the crawl's first.
    """
    salt = {"run_tag": params.run_tag} if params.run_tag else {}
    crawled = crawl_task(CRAWL, crawl_params(params), upstream=salt)
    trained = step_task(TRAIN, train_params(params), upstream={**salt, "crawl": crawled})
    explained = step_task(
        EXPLAIN,
        explain_params(params, trained, local_truth(crawled)),
        upstream={**salt, "crawl": crawled, "train": trained},
    )
    detector = step_task(
        DETECT, detect_params(params, explained, trained), upstream={**salt, "explain": explained}
    )
    results = PipelineResults(crawled, trained, explained, detector)
    if crawled.truth_uri and detector.model_uri:
        results.evaluate = step_task(
            EVALUATE,
            evaluate_params(detector.model_uri, crawled),
            upstream={**salt, "crawl": crawled, "detect": detector},
        )
    return results


@flow(name="build_detector", log_prints=True)
def build_detector(params: PipelineParams) -> dict[str, Any]:
    """Build a detector from image search with no human labels, and register it."""
    claim_flow_run()  # label this run; mark runs of killed processes Crashed
    logger = get_run_logger()
    started = time.monotonic()
    results = run_pipeline_steps(params)
    alias = CANDIDATE
    promoted: dict[str, Any] = {}
    if params.promote:
        promoted = promote_models(results.train, results.detect)
        alias = PRODUCTION
    models = {
        "classifier": model_entry(results.train, alias),
        "detector": model_entry(results.detect, alias),
    }
    steps = results.as_json()
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
