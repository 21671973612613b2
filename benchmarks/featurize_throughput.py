"""Spark featurizer throughput vs a plain batched torch loop (and ONNX Runtime) on the same images.

    .venv/bin/python benchmarks/featurize_throughput.py [--images 256] [--input-size 224]

Writes N web images (../shared/data/webimages) as a dataset into a temporary NOLABEL_HOME, runs
the Spark featurizer twice (the first pass pays worker start-up and the ONNX export; the second
is timed), then the same backbone/cut in-process: torch batched, and ONNX Runtime batched, both
reading and decoding the same bytes from the store. Prints one JSON line with images/s and ratios
(target: Spark / torch >= 0.8).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "webimages"


def write_dataset(name: str, files: list[Path]) -> None:
    """A manifest + stored images, written directly (no crawl)."""
    import pandas as pd

    from nolabel.components.common.datasets import (
        MANIFEST_COLUMNS,
        image_key,
        manifest_key,
        write_parquet,
    )
    from nolabel.components.common.store import open_store

    store = open_store()
    rows = []
    for path in files:
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        store.put_bytes(image_key(name, sha), data)
        label = "positive" if path.parent.name.startswith("lion") else "negative"
        rows.append({"sha256": sha, "key": image_key(name, sha), "label": label, "group": ""})
    frame = pd.DataFrame(rows).drop_duplicates("sha256")
    for column in MANIFEST_COLUMNS:
        if column not in frame:
            frame[column] = 0 if column in ("rank", "width", "height") else ""
    write_parquet(store, manifest_key(name), frame[list(MANIFEST_COLUMNS)])


def in_process(keys: list[str], runtime: str, args) -> float:
    """Images/s of a plain batched loop: read + decode + features, all cores."""
    from nolabel.components.common.images import decode_image, to_array
    from nolabel.components.common.store import open_store
    from nolabel.components.transfer.runtime import FeatureExtractor

    store = open_store()
    extractor = FeatureExtractor(args.backbone, (args.cut,), args.input_size, runtime=runtime)
    extractor.extract([to_array(decode_image(store.get_bytes(keys[0])))] * 2)  # warm up
    started = time.perf_counter()
    for start in range(0, len(keys), args.batch_size):
        chunk = keys[start : start + args.batch_size]
        images = [to_array(decode_image(store.get_bytes(k))) for k in chunk]
        extractor.extract(images, args.batch_size)
    return len(keys) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--backbone", default="efficientnet-lite0")
    parser.add_argument("--cut", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--spark-master", default="local[*]")
    args = parser.parse_args()
    os.environ["NOLABEL_HOME"] = tempfile.mkdtemp(prefix="nolabel-bench-")
    from nolabel.components.common.datasets import read_manifest
    from nolabel.components.common.store import open_store
    from nolabel.components.transfer.featurize import featurize_dataset, spark_session

    files = sorted((DATA / "lion-train").glob("*.jpg"))[: args.images // 2]
    files += sorted((DATA / "random").glob("*.jpg"))[: args.images - len(files)]
    write_dataset("bench", files)
    keys = list(read_manifest(open_store(), "bench")["key"])
    spark = spark_session(args.spark_master, "nolabel-bench")
    common = {"cuts": (args.cut,), "input_size": args.input_size, "backbone": args.backbone,
              "batch_size": args.batch_size, "spark": spark}  # fmt: skip
    featurize_dataset("bench", **common)  # warm: workers, ONNX export
    spark_result = featurize_dataset("bench", refresh=True, **common)
    spark_ips = spark_result.images_per_second
    spark.stop()
    torch_ips = in_process(keys, "torch", args)
    onnx_ips = in_process(keys, "onnx", args)
    print(json.dumps({
        "images": len(keys), "backbone": args.backbone, "cut": args.cut,
        "input_size": args.input_size, "cpus": os.cpu_count(),
        "spark_images_per_s": round(spark_ips, 2), "torch_loop_images_per_s": round(torch_ips, 2),
        "onnx_loop_images_per_s": round(onnx_ips, 2),
        "spark_over_torch": round(spark_ips / torch_ips, 3),
        "spark_over_onnx": round(spark_ips / onnx_ips, 3),
        "onnx_over_torch": round(onnx_ips / torch_ips, 3),
        "load_average": os.getloadavg()[0],
    }))  # fmt: skip


if __name__ == "__main__":
    main()
