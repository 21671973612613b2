"""LIME speed and box quality on lion-test: the `lime` package vs nolabel, plus nolabel's floor.

One run, one classifier (EfficientNet-Lite0 features + logistic regression trained on lion-train
vs random, cached under ``--cache``):

- ``lime``: ``LimeImageExplainer.explain_instance`` at its defaults (1000 samples, quickshift,
  batch 10, segment-mean fill) on the first ``--lime-limit`` images; its box is the bounding box
  of ``get_image_and_mask`` at its defaults (top 5 positive superpixels), and, for reference,
  nolabel's box rule applied to lime's weights;
- ``nolabel``: ``explain_image`` at its defaults on the first ``--limit`` images;
- floor: the classifier alone scoring the same number of already-composed samples per image.

Seconds per image and mean IoU / CorLoc against ``lion-test.coco.json`` (on the images each
method explained). ``--sweep 50,100,200,400`` also runs nolabel at other sample counts, and
``--variants`` other settings, to choose defaults. Prints one JSON line last.

    .venv/bin/python benchmarks/lime_speed.py --limit 40 --lime-limit 6
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "webimages"


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def load_squashed(path: Path, size: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR))


def trained_classifier(cache: Path, data: Path):
    """The lion-vs-random classifier, trained once and cached in ``cache/classifier``."""
    from nolabel.components.transfer.classifier import ImageClassifier
    from nolabel.components.transfer.quick import train_classifier_from_arrays

    model_dir = cache / "classifier"
    if (model_dir / "classifier.json").is_file():
        return ImageClassifier.from_dir(model_dir)
    started = time.perf_counter()
    positives = sorted((data / "lion-train").glob("*.jpg"))
    negatives = sorted((data / "random").glob("*.jpg"))
    images = [load_squashed(p, 224) for p in positives + negatives]
    labels = [1] * len(positives) + [0] * len(negatives)
    log(f"training classifier on {len(positives)} lions vs {len(negatives)} random images")
    quick = train_classifier_from_arrays(
        images, labels, input_size=224, register=False, model_dir=model_dir
    )
    log(f"trained in {time.perf_counter() - started:.0f}s: {quick.classifier!r}")
    return quick.classifier


def box_quality(pred_boxes: dict[str, list[dict]], gt: dict) -> dict[str, float]:
    """mean IoU / CorLoc / AP50 of predicted boxes on the images in ``pred_boxes``."""
    from nolabel.components.common.coco import score_boxes

    images = [img for img in gt["images"] if img["file_name"] in pred_boxes]
    ids = {img["id"] for img in images}
    subset = {
        "images": images,
        "annotations": [a for a in gt["annotations"] if a["image_id"] in ids],
    }
    pred = {"images": [], "annotations": []}
    for index, (name, boxes) in enumerate(sorted(pred_boxes.items()), 1):
        pred["images"].append({"id": index, "file_name": name})
        for box in boxes:
            pred["annotations"].append(
                {"image_id": index, "bbox": box["bbox"], "score": box["score"]}
            )
    scores = score_boxes(pred, subset)
    return {k: round(v, 4) for k, v in scores.items()}


def mask_box(mask: np.ndarray) -> list[dict]:
    rows, cols = np.nonzero(mask)
    if not len(rows):
        return []
    x, y = int(cols.min()), int(rows.min())
    return [{"bbox": [x, y, int(cols.max()) - x + 1, int(rows.max()) - y + 1], "score": 1.0}]


def run_lime_package(classifier, paths: list[Path]) -> tuple[dict, dict, list[float]]:
    """`lime` at its defaults: (top-5 mask boxes, nolabel-rule boxes, seconds per image)."""
    from lime.lime_image import LimeImageExplainer

    from nolabel.components.lime.boxes import boxes_from_weights

    def classifier_fn(batch: np.ndarray) -> np.ndarray:
        p = classifier.predict_proba(np.asarray(batch).astype(np.uint8))
        return np.stack([1 - p, p], axis=1)

    mask_boxes, rule_boxes, seconds = {}, {}, []
    for index, path in enumerate(paths):
        image = np.asarray(load_image(path))
        explainer = LimeImageExplainer(random_state=index)
        started = time.perf_counter()
        explanation = explainer.explain_instance(
            image,
            classifier_fn,
            labels=(1,),
            top_labels=None,
            num_samples=1000,
            batch_size=10,
            random_seed=index,
        )
        _, mask = explanation.get_image_and_mask(1)
        seconds.append(time.perf_counter() - started)
        mask_boxes[path.name] = mask_box(mask)
        weights = np.zeros(int(explanation.segments.max()) + 1)
        for feature, weight in explanation.local_exp[1]:
            weights[feature] = weight
        rule_boxes[path.name] = boxes_from_weights(weights, explanation.segments)
        log(f"lime {index + 1}/{len(paths)} {path.name}: {seconds[-1]:.1f}s")
    return mask_boxes, rule_boxes, seconds


def load_image(path: Path):
    from nolabel.components.common.images import load_rgb

    return load_rgb(path)


def run_nolabel(classifier, paths, params, with_floor: bool) -> tuple[dict, dict[str, float]]:
    """nolabel on ``paths``: (boxes per image, timing summary incl. the floor)."""
    from nolabel.components.lime.explain import explain_image, resize_long_side, segment
    from nolabel.components.lime.job import classifier_score_fn
    from nolabel.components.lime.perturb import compose, fill_image, sample_masks

    score_fn = classifier_score_fn(classifier)
    boxes, seconds, floors, parts, r2 = {}, [], [], [], []
    for path in paths:
        image = np.asarray(load_image(path))
        started = time.perf_counter()
        explanation = explain_image(image, score_fn, params, seed=0)
        seconds.append(time.perf_counter() - started)
        boxes[path.name] = explanation.boxes
        parts.append(explanation.timings)
        r2.append(explanation.r2)
        if with_floor:  # the classifier alone on the same number of samples of the same size
            work = resize_long_side(image, params.score_size, params.square)
            segments = segment(work, params)
            masks = sample_masks(int(segments.max()) + 1, params, 0)[: explanation.num_scored]
            batch = np.ascontiguousarray(
                compose(work, fill_image(work, params.fill), segments, masks)
            )
            started = time.perf_counter()
            for start in range(0, len(batch), params.batch_size):
                classifier.predict_proba(batch[start : start + params.batch_size])
            floors.append(time.perf_counter() - started)
    summary = {
        "images": len(paths),
        "seconds_per_image": round(float(np.mean(seconds)), 3),
        "mean_r2": round(float(np.mean(r2)), 3),
        **{f"{k}_s": round(float(np.mean([p[k] for p in parts])), 4) for k in parts[0]},
    }
    if floors:
        summary["floor_seconds_per_image"] = round(float(np.mean(floors)), 3)
        summary["ratio_to_floor"] = round(float(np.sum(seconds) / np.sum(floors)), 3)
    return boxes, summary


def sweep_shared_scores(classifier, paths, base, sample_counts, fit_variants) -> list[dict]:
    """Quality vs num_samples (and fit/box settings) from ONE scored draw per image.

    The first n rows of a seeded draw of N masks are exactly the draw for n, so each image is
    scored once at max(sample_counts) and every smaller count reuses a prefix of those scores.
    """
    from nolabel.components.lime.boxes import boxes_from_weights
    from nolabel.components.lime.explain import fit_weights, resize_long_side, segment
    from nolabel.components.lime.job import classifier_score_fn
    from nolabel.components.lime.perturb import fill_image, sample_masks, score_masks

    score_fn = classifier_score_fn(classifier)
    largest = max(sample_counts)
    params = base.model_copy(update={"num_samples": largest})
    found: dict[tuple, dict] = {}
    per_sample = []
    for path in paths:
        image = np.asarray(load_image(path))
        work = resize_long_side(image, params.score_size, params.square)
        segments = segment(work, params)
        masks = sample_masks(int(segments.max()) + 1, params, 0)
        timings = {"score": 0.0, "compose": 0.0}
        scores = score_masks(
            work,
            fill_image(work, params.fill),
            segments,
            masks,
            score_fn,
            params.batch_size,
            timings,
        )
        per_sample.append(timings["score"] / len(masks))
        sx, sy = image.shape[1] / work.shape[1], image.shape[0] / work.shape[0]
        for count in sample_counts:
            for variant in fit_variants:
                vp = params.model_copy(update=variant)
                targets = scores[:count]
                if vp.target == "logit":
                    clipped = np.clip(targets, 1e-4, 1 - 1e-4)
                    targets = np.log(clipped / (1 - clipped))
                weights, _, _ = fit_weights(masks[:count], targets, vp)
                boxes = boxes_from_weights(
                    weights,
                    segments,
                    coverage=vp.coverage,
                    floor=vp.weight_floor,
                    split=vp.split,
                    merge_distance=vp.merge_distance,
                    min_area=vp.min_box_area,
                    min_score=vp.min_box_score,
                )
                for box in boxes:
                    x, y, w, h = box["bbox"]
                    box["bbox"] = [x * sx, y * sy, w * sx, h * sy]
                key = (count, json.dumps(variant, sort_keys=True))
                found.setdefault(key, {})[path.name] = boxes
    rows = []
    for (count, variant), boxes in found.items():
        rows.append(
            {"num_samples": count, "fit": json.loads(variant), **box_quality(boxes, gt_cache)}
        )
    log(f"classifier seconds per sample: {np.mean(per_sample):.4f}")
    return rows


gt_cache: dict = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--cache", type=Path, default=REPO / ".nolabel" / "bench-lime")
    parser.add_argument("--limit", type=int, default=40, help="images for nolabel")
    parser.add_argument("--lime-limit", type=int, default=6, help="images for the lime package")
    parser.add_argument("--sweep", default="", help="comma-separated num_samples to also try")
    parser.add_argument("--variants", default="", help="JSON list of LimeParams overrides")
    parser.add_argument("--shared-sweep", default="", help="num_samples list scored once")
    parser.add_argument("--fit-variants", default="[{}]", help="JSON list of fit/box overrides")
    parser.add_argument("--base", default="{}", help="JSON LimeParams overrides for the sweep")
    parser.add_argument("--skip-main", action="store_true", help="only the sweeps")
    args = parser.parse_args()

    args.cache.mkdir(parents=True, exist_ok=True)
    os.environ["NOLABEL_HOME"] = str(args.cache / "home")  # ONNX export cached there
    from nolabel.components.common.coco import load_coco
    from nolabel.components.lime.explain import LimeParams

    classifier = trained_classifier(args.cache, args.data)
    gt = load_coco(args.data / "lion-test.coco.json")
    gt_cache.update(gt)
    paths = sorted((args.data / "lion-test").glob("*.jpg"))
    result: dict = {"classifier": repr(classifier), "cpu_count": os.cpu_count()}
    defaults = LimeParams()
    result["nolabel_defaults"] = defaults.model_dump()

    if args.shared_sweep:
        counts = [int(n) for n in args.shared_sweep.split(",")]
        base = defaults.model_copy(update=json.loads(args.base))
        rows = sweep_shared_scores(
            classifier, paths[: args.limit], base, counts, json.loads(args.fit_variants)
        )
        for row in rows:
            log(json.dumps(row))
        result["shared_sweep"] = {"base": json.loads(args.base), "rows": rows}
    if args.skip_main:
        print(json.dumps(result))
        return

    if args.lime_limit:
        lime_paths = paths[: args.lime_limit]
        mask_boxes, rule_boxes, seconds = run_lime_package(classifier, lime_paths)
        result["lime"] = {
            "images": len(lime_paths),
            "seconds_per_image": round(float(np.mean(seconds)), 3),
            "top5_mask_box": box_quality(mask_boxes, gt),
            "nolabel_box_rule": box_quality(rule_boxes, gt),
        }
        same_boxes, same_summary = run_nolabel(classifier, lime_paths, defaults, with_floor=False)
        result["nolabel_on_lime_images"] = {**same_summary, **box_quality(same_boxes, gt)}
        result["speedup_vs_lime"] = round(
            result["lime"]["seconds_per_image"] / same_summary["seconds_per_image"], 1
        )
        log(json.dumps(result))

    boxes, summary = run_nolabel(classifier, paths[: args.limit], defaults, with_floor=True)
    result["nolabel"] = {**summary, **box_quality(boxes, gt)}
    log(json.dumps(result["nolabel"]))

    variants = [{"num_samples": int(n)} for n in args.sweep.split(",") if n.strip()]
    variants += json.loads(args.variants) if args.variants else []
    result["sweep"] = []
    for override in variants:
        params = defaults.model_copy(update=override)
        boxes, summary = run_nolabel(classifier, paths[: args.limit], params, with_floor=False)
        row = {"override": override, **summary, **box_quality(boxes, gt)}
        result["sweep"].append(row)
        log(json.dumps(row))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
