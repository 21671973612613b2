"""The variants table on real web images: lion-train (positives) vs random (negatives).

    .venv/bin/python benchmarks/classifier_quality.py [--variants all] [--input-size 224]

Builds a dataset in a temporary NOLABEL_HOME with the crawl step's offline ``folder`` provider
over ../shared/data/webimages (falling back to writing the manifest directly if crawl is not
available), runs ``nolabel train`` (``transfer.step.run``) and prints the comparison
table (markdown) and one JSON line with the result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "webimages"


def build_dataset(name: str) -> str:
    """Crawl lion-train vs random with the folder provider; return how it was built."""
    try:
        from nolabel.components.crawl.step import CrawlParams
        from nolabel.components.crawl.step import run as crawl
    except ImportError:
        crawl = None
    if crawl is not None:
        try:
            result = crawl(
                CrawlParams(
                    dataset=name, provider="folder", folder_root=str(DATA),
                    positive=["lion-train"], negative=["random"], per_page=1000,
                    negative_per_query=1000, progress=False,
                )
            )  # fmt: skip
            return f"crawl folder provider: {result.counts}"
        except Exception as exc:  # the crawl step is another team's; fall back rather than stop
            sys.stderr.write(f"crawl failed ({type(exc).__name__}: {exc}); writing manifest\n")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from featurize_throughput import write_dataset

    files = sorted((DATA / "lion-train").glob("*.jpg")) + sorted((DATA / "random").glob("*.jpg"))
    write_dataset(name, files)
    return "manifest written directly"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variants", default="all")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--backbone", default="efficientnet-lite0")
    parser.add_argument("--home", default=None, help="NOLABEL_HOME (default: a temp dir)")
    args = parser.parse_args()
    os.environ["NOLABEL_HOME"] = args.home or tempfile.mkdtemp(prefix="nolabel-quality-")
    from nolabel.components.transfer.step import TrainParams, run

    started = time.perf_counter()
    from nolabel.components.common.datasets import manifest_key
    from nolabel.components.common.store import open_store

    if open_store().exists(manifest_key("lions")):
        how = "dataset already in --home (reused)"
    else:
        how = build_dataset("lions")
    built = time.perf_counter() - started
    result = run(
        TrainParams(
            dataset="lions", variants=args.variants, input_size=args.input_size,
            backbone=args.backbone,
        )
    )  # fmt: skip
    columns = ["variant", "accuracy", "roc_auc", "precision", "recall", "f1", "threshold",
               "train_rows", "test_images"]  # fmt: skip
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in result.table:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")
    print(json.dumps({
        "dataset": how, "images": result.images, "image_errors": result.image_errors,
        "best_variant": result.best_variant, "best_accuracy": result.metrics["accuracy"],
        "best_roc_auc": result.metrics["roc_auc"], "input_size": args.input_size,
        "dataset_seconds": round(built, 1), "train_seconds": result.seconds,
        "model_uri": result.model_uri, "load_average": os.getloadavg()[0],
    }))  # fmt: skip


if __name__ == "__main__":
    main()
