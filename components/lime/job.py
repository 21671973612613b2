"""Explaining a batch of images with a classifier: per-image records, Spark partitions, reuse.

A task is one image (``file_name``, ``sha256`` and either a store ``key`` or the ``data`` bytes).
Each task ends as one JSON record persisted under ``parts_prefix/<sha256>.json`` in the store,
so a re-run skips what is already there. The same ``process_task`` runs in-process and inside
Spark's ``mapInPandas`` (where the classifier is loaded once per Python worker).
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from nolabel.components.common.defaults import DEFAULT_MAX_PIXELS
from nolabel.components.common.images import ImageError, decode_image, to_array
from nolabel.components.common.spark import get_spark
from nolabel.components.common.store import open_store
from nolabel.components.lime.boxes import select_superpixels
from nolabel.components.lime.explain import Explanation, LimeParams, explain_image
from nolabel.components.lime.proposals import cached_proposer, choose_proposals
from nolabel.components.transfer.classifier import load_classifier

RECORD_SCHEMA = "file_name string, sha256 string, record string"
TASK_SCHEMA = "file_name string, sha256 string, key string, data binary"


class JobConfig(BaseModel):
    """What every worker needs to explain its images."""

    model_uri: str
    lime: LimeParams
    localizer: Literal["lime", "gradcam"] = "lime"
    threshold: float | None = None  # None: the classifier's own threshold
    explain_all: bool = False
    parts_prefix: str
    max_pixels: int = DEFAULT_MAX_PIXELS
    proposer: str | None = None  # weights file of the animal proposer LIME chooses among


def image_seed(base_seed: int, sha256: str) -> int:
    """A per-image seed: the same image gets the same samples however the work is split."""
    return (base_seed * 1_000_003 + int(sha256[:8], 16)) % (2**32)


@functools.lru_cache(maxsize=2)
def cached_classifier(model_uri: str):
    """The classifier, loaded once per process (so once per Spark Python worker)."""

    return load_classifier(model_uri)


def classifier_score_fn(classifier):
    """score_fn over N×H×W×3 uint8 batches: the classifier's P(positive)."""

    def score(batch: np.ndarray) -> np.ndarray:
        return np.asarray(classifier.predict_proba(batch), dtype=float).reshape(-1)

    return score


def object_mask(explanation: Explanation, lime: LimeParams) -> np.ndarray:
    """LIME's object pixels (the chosen superpixels) on the image's pixel grid."""
    chosen = select_superpixels(
        explanation.weights, lime.coverage, lime.weight_floor, lime.box_rule, lime.box_cut
    )
    return chosen[explanation.segments]


def _load_bytes(task: dict[str, Any], store) -> bytes:
    data = task.get("data")
    if data is not None:
        return bytes(data)
    return store.get_bytes(task["key"])


def process_task(task: dict[str, Any], classifier, config: JobConfig, store) -> dict[str, Any]:
    """Explain one image (if readable and called positive); persist and return its record."""

    started = time.perf_counter()
    record: dict[str, Any] = {
        "file_name": task["file_name"],
        "sha256": task["sha256"],
        "status": "failed",
        "reason": None,
    }
    try:
        image = np.array(to_array(decode_image(_load_bytes(task, store), config.max_pixels)))
    except ImageError as exc:
        record["reason"] = exc.reason
    except KeyError:
        record["reason"] = "missing"
    else:
        height, width = image.shape[:2]
        record.update(width=width, height=height)
        probability = float(classifier.predict_proba(image[None])[0])
        threshold = classifier.threshold if config.threshold is None else config.threshold
        record.update(probability=probability, threshold=float(threshold))
        if probability < threshold and not config.explain_all:
            record.update(status="negative", reason="below_threshold")
        else:
            seed = image_seed(config.lime.seed, task["sha256"])
            if config.localizer == "gradcam":
                from nolabel.components.lime.gradcam import gradcam_explanation

                explanation = gradcam_explanation(image, classifier, config.lime)
            else:
                score_fn = classifier_score_fn(classifier)
                explanation = explain_image(image, score_fn, config.lime, seed)
            record.update(status="explained", seed=seed, **explanation.to_record())
            if config.proposer:
                chosen = choose_proposals(
                    image, explanation.heatmap, object_mask(explanation, config.lime),
                    cached_proposer(config.proposer),
                )  # fmt: skip
                if chosen is not None:
                    record.update(lime_boxes=record["boxes"], boxes=chosen)
    record["seconds"] = round(time.perf_counter() - started, 4)
    key = f"{config.parts_prefix}/{task['sha256']}.json"
    store.put_bytes(key, json.dumps(record).encode(), "application/json")
    return record


def run_tasks(tasks: list[dict[str, Any]], config: JobConfig, classifier=None) -> list[dict]:
    """In-process path: explain ``tasks`` one by one (progress on stderr)."""

    store = open_store()
    classifier = classifier or cached_classifier(config.model_uri)
    records = []
    for index, task in enumerate(tasks, 1):
        record = process_task(task, classifier, config, store)
        records.append(record)
        sys.stderr.write(
            f"explain {index}/{len(tasks)} {task['file_name']}: {record['status']}"
            f" {record.get('reason') or ''} boxes={len(record.get('boxes', []))}"
            f" {record['seconds']:.2f}s\n"
        )
    return records


def explain_partition(config_json: str, frames: Iterator[Any]) -> Iterator[Any]:
    """``mapInPandas`` body: task rows in, one JSON record per image out."""
    import pandas as pd

    config = JobConfig.model_validate_json(config_json)
    classifier = cached_classifier(config.model_uri)
    store = open_store()
    for frame in frames:
        rows = []
        for task in frame.to_dict("records"):
            record = process_task(task, classifier, config, store)
            rows.append((task["file_name"], task["sha256"], json.dumps(record)))
        yield pd.DataFrame(rows, columns=["file_name", "sha256", "record"])


def run_tasks_spark(
    tasks: list[dict[str, Any]], config: JobConfig, master: str | None, partitions: int | None
) -> list[dict]:
    """Spark path: tasks spread over executors with ``mapInPandas``; records collected."""
    import os

    import pandas as pd

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers need this venv
    spark = get_spark(master, app_name="nolabel-explain")
    frame = pd.DataFrame(tasks, columns=["file_name", "sha256", "key", "data"])
    count = partitions or max(1, min(len(tasks), spark.sparkContext.defaultParallelism * 2))
    tasks_df = spark.createDataFrame(frame, schema=TASK_SCHEMA).repartition(count)
    body = functools.partial(explain_partition, config.model_dump_json())
    rows = tasks_df.mapInPandas(body, schema=RECORD_SCHEMA).collect()
    return [json.loads(row["record"]) for row in rows]
