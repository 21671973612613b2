"""Detector quality and scoring speed on the lion web images.

LIME boxes on ``lion-train`` (or ``--boxes``, a precomputed LIME COCO) → `nolabel detect train`
(defaults unless overridden) → AP50 / mAP (MMDetection CocoMetric) and mean IoU / CorLoc of the
top box on ``lion-test`` against the human boxes. Then the speed of `nolabel score` (classifier +
detector) on ``lion-test`` in images/s, and single-image ``Detector.predict`` latency (p50/p90).

The classifier (EfficientNet-Lite0 features + logistic regression, lion-train vs random) is read
from ``--classifier`` or trained once and cached. Human boxes are never used for training.
Prints one JSON line last.

    .venv/bin/python benchmarks/detector_quality.py --lime-limit 60
    .venv/bin/python benchmarks/detector_quality.py --boxes lion-train-lime.coco.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "webimages"


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def classifier_dir(args) -> Path:
    """A lion-vs-random classifier directory (trained and cached when not given)."""
    if args.classifier:
        return args.classifier
    target = args.cache / "classifier"
    if (target / "classifier.json").is_file():
        return target
    from PIL import Image

    from nolabel.components.transfer.quick import train_classifier_from_arrays

    def squashed(path: Path) -> np.ndarray:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB").resize((224, 224), Image.BILINEAR))

    positives = sorted((args.data / "lion-train").glob("*.jpg"))
    negatives = sorted((args.data / "random").glob("*.jpg"))
    log(f"training the classifier on {len(positives)} lions vs {len(negatives)} random images")
    train_classifier_from_arrays(
        [squashed(p) for p in positives + negatives],
        [1] * len(positives) + [0] * len(negatives),
        input_size=224,
        register=False,
        model_dir=target,
    )
    return target


def lime_boxes(args, classifier: Path) -> tuple[str, dict]:
    """LIME boxes on the first ``--lime-limit`` lion-train images (COCO path, LIME metrics)."""
    from nolabel.components.lime.step import ExplainParams, run

    subset = args.cache / f"lion-train-{args.lime_limit}"
    subset.mkdir(parents=True, exist_ok=True)
    for path in sorted((args.data / "lion-train").glob("*.jpg"))[: args.lime_limit]:
        link = subset / path.name
        if not link.exists():
            link.symlink_to(path)
    started = time.perf_counter()
    result = run(
        ExplainParams(
            images=str(subset),
            model=str(classifier),
            out=str(args.cache / "lime.coco.json"),
            gt=str(args.data / "lion-train.coco.json"),
            spark=False,
            overlays=0,
        )
    )
    seconds = time.perf_counter() - started
    log(f"LIME: {result.images_explained} images explained in {seconds:.0f}s")
    return result.coco_path, {
        "lime_seconds": round(seconds, 1),
        "lime_images": result.images_explained,
        **{f"lime_{k}": v for k, v in result.metrics.items()},
    }


def lime_quality(boxes: str, gt_path: Path) -> dict:
    """mean IoU / CorLoc / AP50 of precomputed LIME boxes on the lion-train images they cover."""
    from nolabel.components.common.coco import load_coco, score_boxes

    lime, gt = load_coco(boxes), load_coco(gt_path)
    covered = {Path(img["file_name"]).name for img in lime["images"]}
    images = [img for img in gt["images"] if img["file_name"] in covered]
    ids = {img["id"] for img in images}
    subset = {
        "images": images,
        "annotations": [a for a in gt["annotations"] if a["image_id"] in ids],
    }
    return {f"lime_{k}": round(v, 4) for k, v in score_boxes(lime, subset).items()}


def predict_latency(
    model_uri: str, images: list[Path], repeats: int = 1, image_size: int | None = None
) -> dict:
    """Single-image Detector.predict latency in ms (decoded image in, boxes out)."""
    from nolabel.components.common.images import load_rgb, to_array
    from nolabel.components.detect.predictor import load_detector

    detector = load_detector(model_uri, image_size=image_size)
    arrays = [to_array(load_rgb(p)) for p in images]
    detector.predict(arrays[:1])  # warm-up
    import torch

    times, cpu = [], []
    for _ in range(repeats):
        for array in arrays:
            started, started_cpu = time.perf_counter(), time.process_time()
            detector.predict([array])
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
    times.sort()
    return {
        "predict_ms_p50": round(statistics.median(times), 1),
        "predict_ms_p90": round(times[int(0.9 * (len(times) - 1))], 1),
        "predict_cpu_ms_p50": round(statistics.median(cpu), 1),
        "torch_threads": torch.get_num_threads(),
        "predict_images": len(times),
        "test_image_size": detector.image_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--cache", type=Path, default=REPO / ".nolabel" / "bench-detect")
    parser.add_argument("--classifier", type=Path, default=None, help="classifier model dir")
    parser.add_argument("--boxes", default=None, help="precomputed LIME COCO (skips LIME)")
    parser.add_argument("--lime-limit", type=int, default=400, help="lion-train images for LIME")
    parser.add_argument("--config", default="faster-rcnn_effnet-lite0_fpn")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--score-limit", type=int, default=200, help="lion-test images scored")
    parser.add_argument("--latency-images", type=int, default=30)
    args = parser.parse_args()
    args.cache = args.cache.resolve()
    args.cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NOLABEL_HOME", str(args.cache / "home"))

    from nolabel.components.detect.score import ScoreParams, run_score
    from nolabel.components.detect.step import DetectTrainParams, run

    figures: dict = {"cpu_count": os.cpu_count(), "load_average": os.getloadavg()[0]}
    classifier = classifier_dir(args)
    if args.boxes:
        boxes, figures["boxes"] = args.boxes, args.boxes
        figures.update(lime_quality(args.boxes, args.data / "lion-train.coco.json"))
    else:
        boxes, lime = lime_boxes(args, classifier)
        figures.update(lime)
    options = {
        k: v for k, v in (("epochs", args.epochs), ("image_size", args.image_size)) if v is not None
    }
    started = time.perf_counter()
    trained = run(
        DetectTrainParams(
            boxes=boxes,
            config=args.config,
            gt=str(args.data / "lion-test.coco.json"),
            images=str(args.data / "lion-test"),
            **options,
        )
    )
    figures.update(
        {
            "train_seconds": round(time.perf_counter() - started, 1),
            "train_images": trained.train_images,
            "val_images": trained.val_images,
            "model_uri": trained.model_uri,
            "config": args.config,
            **options,
            **{k: round(v, 4) for k, v in trained.metrics.items()},
        }
    )
    log(f"detector: {json.dumps(trained.metrics)}")

    test_images = sorted((args.data / "lion-test").glob("*.jpg"))
    subset = args.cache / f"lion-test-{args.score_limit}"
    subset.mkdir(parents=True, exist_ok=True)
    for path in test_images[: args.score_limit]:
        if not (subset / path.name).exists():
            (subset / path.name).symlink_to(path)
    scored = run_score(
        ScoreParams(
            images=str(subset),
            out=str(args.cache / "score.json"),
            classifier=str(classifier),
            detector=trained.model_uri,
            resume=False,
        )
    )
    figures.update(
        {
            "score_images": scored.scored,
            "score_seconds": scored.seconds,
            "score_images_per_second": scored.images_per_second,
            "score_positives": scored.positives,
        }
    )
    figures.update(predict_latency(trained.model_uri, test_images[: args.latency_images]))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
