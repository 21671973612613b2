"""Spark deep featurizer: ``mapInPandas`` (Arrow) over a dataset's manifest.

Each executor's Python worker loads the feature network once (ONNX from the store, cached per
process) and featurizes image bytes read from the store in batches. Unreadable or missing images
become rows with an ``error`` reason and no features. Features are written as Parquet next to the
dataset: ``datasets/NAME/features/<backbone>-cut<k>[-s<size>][-aug].parquet``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from nolabel.components.common.datasets import (
    features_key as dataset_features_key,
)
from nolabel.components.common.datasets import (
    read_manifest,
    read_parquet,
    write_parquet,
)
from nolabel.components.common.images import ImageError, decode_image, to_array
from nolabel.components.common.settings import Settings, get_settings
from nolabel.components.common.spark import get_spark
from nolabel.components.common.store import ArtifactStore, open_store
from nolabel.components.transfer.augment import ORIGINAL, check_augmentations, expand
from nolabel.components.transfer.backbones import check_backbone
from nolabel.components.transfer.runtime import (
    FeatureExtractor,
    cached_onnx,
    onnx_key,
    weights_path,
)

DEFAULT_SIZE = 224
_EXTRACTORS: dict[str, FeatureExtractor] = {}
_EXTRACTOR_LOCK = threading.Lock()
_STORE_FIELDS = (
    "home", "s3_endpoint", "s3_access_key", "s3_secret_key", "s3_bucket", "s3_secure",
    "s3_region", "max_image_pixels",
)  # fmt: skip


class FeaturizeResult(BaseModel):
    """What a featurization pass produced."""

    feature_keys: dict[str, str]  # "cut1" / "cut1-aug" → store key
    rows: int
    featurized: int
    errors: dict[str, int]
    seconds: float
    images_per_second: float
    reused: bool = False


def features_key(
    dataset: str, backbone: str, cut: int, input_size: int, augmented: bool = False
) -> str:
    """Store key of a dataset's feature table."""
    size = "" if input_size == DEFAULT_SIZE else f"-s{input_size}"
    aug = "-aug" if augmented else ""
    return dataset_features_key(dataset, f"{backbone}-cut{cut}{size}{aug}")


def spark_session(master: str | None = None, app_name: str = "nolabel-transfer"):
    """The Spark session, with Python workers on this interpreter (the same venv)."""

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    return get_spark(master, app_name)


def _store_settings(settings: Settings) -> dict[str, Any]:
    values = {name: getattr(settings, name) for name in _STORE_FIELDS}
    values["home"] = str(values["home"])
    if values["s3_secret_key"] is not None:
        values["s3_secret_key"] = values["s3_secret_key"].get_secret_value()
    return values


def _extractor(spec: dict[str, Any]) -> FeatureExtractor:
    """The process-wide extractor for a spec (loaded once per Python worker)."""
    key = json.dumps(spec["model"], sort_keys=True)
    with _EXTRACTOR_LOCK:
        if key not in _EXTRACTORS:
            model = spec["model"]
            store = open_store(Settings(**spec["store"]))
            onnx_path = None
            if model["onnx_key"]:
                cache = os.path.join(tempfile.gettempdir(), "nolabel-onnx-cache")
                onnx_path = store.get_local_path(model["onnx_key"], cache)
            _EXTRACTORS[key] = FeatureExtractor(
                model["backbone"],
                model["cuts"],
                model["input_size"],
                weights=model["weights"],
                runtime="onnx" if onnx_path else "torch",
                onnx_path=onnx_path,
                threads=model["threads"],
            )
        return _EXTRACTORS[key]


def featurize_partition(batches: Iterator[pd.DataFrame], spec: dict[str, Any]):
    """``mapInPandas`` body: manifest rows in, one row per (image, augmentation) out."""

    extractor = _extractor(spec)
    store = open_store(Settings(**spec["store"]))
    max_pixels = spec["store"]["max_image_pixels"]
    cuts, batch_size = extractor.cuts, spec["batch_size"]
    for frame in batches:
        for start in range(0, len(frame), batch_size):
            chunk = frame.iloc[start : start + batch_size]
            images, errors = [], []
            for key in chunk["key"]:
                try:
                    images.append(to_array(decode_image(store.get_bytes(key), max_pixels)))
                    errors.append(None)
                except KeyError:
                    images.append(None)
                    errors.append("missing")
                except ImageError as exc:
                    images.append(None)
                    errors.append(exc.reason)
                except Exception as exc:  # a store or codec failure must not kill the job
                    images.append(None)
                    errors.append(f"unreadable:{type(exc).__name__}")
            rows = list(expand(list(chunk["id"]), images, spec["augmentations"]))
            good = [i for i, (_, _, image) in enumerate(rows) if image is not None]
            feats = extractor.extract([rows[i][2] for i in good], batch_size) if good else {}
            out = chunk.iloc[[index for index, _, _ in rows]].reset_index(drop=True)
            out["augmentation"] = [name for _, name, _ in rows]
            out["error"] = [errors[index] for index, _, _ in rows]
            position = {row: n for n, row in enumerate(good)}
            for cut in cuts:
                out[f"cut{cut}"] = [
                    feats[cut][position[i]].tolist() if i in position else None
                    for i in range(len(rows))
                ]
            yield out


def _progress(spark, total_tasks: int, stop: threading.Event) -> None:
    """Report finished Spark tasks on stderr until ``stop`` is set."""
    tracker = spark.sparkContext.statusTracker()
    last = -1
    while not stop.wait(1.0):
        done = 0
        for stage_id in tracker.getActiveStageIds():
            info = tracker.getStageInfo(stage_id)
            if info is not None:
                done += info.numCompletedTasks
        if done != last:
            sys.stderr.write(f"featurize: {done}/{total_tasks} partitions done\n")
            last = done


def _reusable(store: ArtifactStore, keys: dict[str, str], ids: set[str], augs) -> bool:
    if not all(store.exists(key) for key in keys.values()):
        return False
    for name, key in keys.items():
        frame = read_parquet(store, key)
        if set(frame["id"]) != ids:
            return False
        if name.endswith("-aug") and not set(augs) <= set(frame["augmentation"]):
            return False
    return True


def featurize_dataset(
    dataset: str,
    backbone: str = "efficientnet-lite0",
    cuts: Sequence[int] = (1,),
    input_size: int = DEFAULT_SIZE,
    weights: str | None = None,
    augmentations: Sequence[str] = (),
    batch_size: int = 32,
    spark_master: str | None = None,
    refresh: bool = False,
    spark=None,
) -> FeaturizeResult:
    """Featurize every image of ``dataset`` on Spark and write the feature tables."""
    import time

    settings = get_settings()
    store = open_store(settings)
    cuts = tuple(sorted({check_backbone(backbone, k) for k in cuts}))
    augs = check_augmentations(augmentations)
    manifest = read_manifest(store, dataset)
    manifest = manifest.assign(id=manifest["sha256"].astype(str))
    if "group" not in manifest:
        manifest["group"] = ""
    manifest["group"] = manifest["group"].fillna("").astype(str)
    rows = manifest[["id", "key", "label", "group"]].drop_duplicates("id").reset_index(drop=True)
    keys = {f"cut{k}": features_key(dataset, backbone, k, input_size) for k in cuts}
    if augs:
        keys |= {f"cut{k}-aug": features_key(dataset, backbone, k, input_size, True) for k in cuts}
    if not refresh and _reusable(store, keys, set(rows["id"]), augs):
        return FeaturizeResult(
            feature_keys=keys, rows=len(rows), featurized=len(rows), errors={}, seconds=0.0,
            images_per_second=0.0, reused=True,
        )  # fmt: skip
    wpath = weights_path(backbone, weights)
    onnx = None
    if backbone != "pixels":
        cached_onnx(backbone, cuts, input_size, str(wpath), store)
        onnx = onnx_key(backbone, cuts, input_size, wpath)
    spark = spark or spark_session(spark_master)
    parallelism = spark.sparkContext.defaultParallelism
    local = spark.sparkContext.master.startswith("local")
    threads = max(1, (os.cpu_count() or 1) // parallelism) if local else 1
    spec = {
        "model": {
            "backbone": backbone, "cuts": list(cuts), "input_size": input_size,
            "weights": str(wpath) if (wpath and onnx is None) else None, "onnx_key": onnx,
            "threads": threads,
        },
        "store": _store_settings(settings), "augmentations": list(augs), "batch_size": batch_size,
    }  # fmt: skip
    partitions = max(parallelism, min(-(-len(rows) // batch_size), 4 * parallelism))
    schema = (
        "id string, key string, label string, group string, augmentation string, error string, "
        + ", ".join(f"cut{k} array<float>" for k in cuts)
    )
    frame = spark.createDataFrame(rows).repartition(partitions)
    stop = threading.Event()
    reporter = threading.Thread(target=_progress, args=(spark, partitions, stop), daemon=True)
    started = time.perf_counter()
    reporter.start()
    try:
        result = frame.mapInPandas(lambda it: featurize_partition(it, spec), schema).toPandas()
    finally:
        stop.set()
    seconds = time.perf_counter() - started
    original = result[result["augmentation"] == ORIGINAL]
    for name, key in keys.items():
        cut = name.split("-")[0]
        part = result[result["augmentation"] != ORIGINAL] if name.endswith("-aug") else original
        table = part[["id", "key", "label", "group", "augmentation", "error", cut]]
        write_parquet(store, key, table.rename(columns={cut: "features"}))
    errors = Counter(e for e in original["error"] if e)
    featurized = int(result["error"].isna().sum())
    return FeaturizeResult(
        feature_keys=keys,
        rows=len(rows),
        featurized=featurized,
        errors=dict(errors),
        seconds=round(seconds, 3),
        images_per_second=round(len(result) / seconds, 2) if seconds else 0.0,
    )


def load_features(store: ArtifactStore, key: str) -> pd.DataFrame:
    """A feature table with features as float32 arrays (rows with errors dropped)."""
    frame = read_parquet(store, key)
    frame = frame[frame["error"].isna()].reset_index(drop=True)
    frame["features"] = [np.asarray(v, dtype=np.float32) for v in frame["features"]]
    return frame
