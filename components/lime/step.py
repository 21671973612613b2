"""The explain step: classifier-positive images → LIME boxes as COCO JSON, weights, overlays."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from nolabel.components.common import tracking
from nolabel.components.common.datasets import POSITIVE, images_prefix, lime_prefix, read_manifest
from nolabel.components.common.errors import InputError
from nolabel.components.common.images import list_images
from nolabel.components.common.names import CLASSIFIER_MODEL
from nolabel.components.common.settings import get_settings
from nolabel.components.common.store import open_store
from nolabel.components.lime.contract import ExplainParams, ExplainResult
from nolabel.components.lime.explain import LimeParams, explain_image
from nolabel.components.lime.job import JobConfig, classifier_score_fn, run_tasks, run_tasks_spark
from nolabel.components.lime.outputs import coco_from_records, write_outputs
from nolabel.components.proposals.weights import weights_path
from nolabel.components.transfer.classifier import load_classifier


def _image_tasks(params: ExplainParams, store) -> tuple[list[dict], str, str, str]:
    """(tasks, image_root, parts base prefix, category name) for dataset or directory mode."""

    if bool(params.dataset) == bool(params.images):
        raise InputError("give exactly one of --dataset NAME or --images DIR")
    if params.dataset:
        manifest = read_manifest(store, params.dataset)
        positives = manifest[manifest["label"] == POSITIVE]
        if positives.empty:
            raise InputError(f"dataset {params.dataset!r} has no positive images")
        tasks = [
            {"file_name": Path(key).name, "sha256": sha, "key": key, "data": None}
            for sha, key in zip(positives["sha256"], positives["key"], strict=True)
        ]
        query = str(positives["query"].iloc[0] or "object")
        images = store.uri(images_prefix(params.dataset))
        return tasks, images, lime_prefix(params.dataset), query
    root = Path(params.images).expanduser().resolve()
    paths = list_images(root)
    if not paths:
        raise InputError(f"no images under {root}")
    tasks = []
    for path in paths:
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        tasks.append(
            {
                "file_name": path.relative_to(root).as_posix(),
                "sha256": sha,
                "key": None,
                "data": data,
            }
        )
    return tasks, str(root), "lime", "object"


def _fingerprint(model_id: str, params: ExplainParams) -> str:
    """Short hash of everything that changes a record (so re-runs only reuse matching ones)."""
    payload = json.dumps(
        {
            "model": model_id,
            "lime": params.lime.model_dump(),
            "localizer": params.localizer,
            "threshold": params.threshold,
            "all": params.explain_all,
            "proposer": params.proposer if params.proposals else None,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _reuse(store, prefix: str, tasks: list[dict]) -> tuple[list[dict], list[dict]]:
    """Split tasks into (records already in the store, tasks still to run)."""
    done = {Path(key).stem for key in store.list(prefix + "/")}
    reused, todo = [], []
    for task in tasks:
        if task["sha256"] in done:
            record = json.loads(store.get_bytes(f"{prefix}/{task['sha256']}.json"))
            record["file_name"] = task["file_name"]
            reused.append(record)
        else:
            todo.append(task)
    return reused, todo


def run(params: ExplainParams) -> ExplainResult:
    """Explain the images, write COCO/weights/overlays, log everything to MLflow."""

    settings = get_settings()
    store = open_store(settings)
    tasks, image_root, base_prefix, category = _image_tasks(params, store)
    model_uri = tracking.resolve_model_uri(params.model, CLASSIFIER_MODEL)
    classifier = load_classifier(model_uri)
    version = getattr(classifier, "version", None)
    model_id = f"{model_uri}|{getattr(classifier, 'name', '')}:{version or ''}"
    if model_uri.startswith("models:/") and version:  # pin: an alias may move mid-job
        model_uri = f"models:/{classifier.name}/{version}"
    config = JobConfig(
        model_uri=model_uri,
        lime=params.lime,
        localizer=params.localizer,
        threshold=params.threshold,
        explain_all=params.explain_all,
        parts_prefix=f"{base_prefix}/parts/{_fingerprint(model_id, params)}",
        max_pixels=settings.max_image_pixels,
        proposer=str(weights_path(params.proposer)) if params.proposals else None,
    )
    reused, todo = _reuse(store, config.parts_prefix, tasks)
    sys.stderr.write(f"explain: {len(tasks)} images, {len(reused)} already done\n")
    started = time.perf_counter()
    if todo and params.spark:
        fresh = run_tasks_spark(todo, config, params.spark_master, params.partitions)
    elif todo:
        fresh = run_tasks(todo, config, classifier)
    else:
        fresh = []
    wall = time.perf_counter() - started
    names = {task["sha256"]: task["file_name"] for task in tasks}
    records = sorted(reused + fresh, key=lambda r: r["file_name"])
    for record in records:
        record["file_name"] = names.get(record["sha256"], record["file_name"])
    coco = coco_from_records(records, image_root, category)
    with tracking.start_run("explain", tags={"step": "lime"}) as active:
        run_id = active.info.run_id
        if params.dataset:  # lineage: which crawl
            tracking.log_manifest_input(store, params.dataset, context="explain")
        tracking.log_params(
            {
                "dataset": params.dataset,
                "images": params.images,
                "model": model_uri,
                "threshold": params.threshold,
                "explain_all": params.explain_all,
                "spark": params.spark,
                "localizer": params.localizer,
                **{f"lime.{k}": v for k, v in params.lime.model_dump().items()},
            }
        )
        outputs = write_outputs(
            records, coco, params, config, tasks, fresh_wall=wall, fresh_count=len(fresh)
        )
        key = (
            f"{base_prefix}/boxes.coco.json" if params.dataset else f"lime/{run_id}/boxes.coco.json"
        )
        coco_uri = store.put_bytes(key, json.dumps(coco).encode(), "application/json")
        tracking.log_metrics(outputs["metrics"])
    skipped: dict[str, int] = {}
    for record in records:
        if record["status"] != "explained":
            skipped[record.get("reason") or record["status"]] = (
                skipped.get(record.get("reason") or record["status"], 0) + 1
            )
    return ExplainResult(
        coco_path=str(outputs["coco_path"]),
        coco_uri=coco_uri,
        weights_path=str(outputs["weights_path"]),
        overlay_paths=[str(p) for p in outputs["overlay_paths"]],
        images_total=len(tasks),
        images_explained=sum(r["status"] == "explained" for r in records),
        images_reused=len(reused),
        skipped=skipped,
        boxes=len(coco["annotations"]),
        metrics=outputs["metrics"],
        run_id=run_id,
    )


def explain_one(image: Any, classifier, params: LimeParams | None = None, seed: int = 0):
    """In-process single-image explanation (for serve): HxWx3 uint8 → Explanation."""

    return explain_image(image, classifier_score_fn(classifier), params or LimeParams(), seed)
