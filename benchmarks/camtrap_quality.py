"""The whole method on real camera-trap frames (camtrap-dev) and on web photos (lion), one table.

Through the real steps, as a user runs them: crawl (folder provider: the web photos of the
animal vs ``webimages/random``) → train → classify the test frames → explain (boxes for the
detector) → detect train (+ negatives, + the test frames as an unlabeled ``--target``) → score.
Human boxes and frame labels are read only to measure.

Domains:
- ``camtrap``: ``camtrap-dev/deer-web`` vs random; test frames ``camtrap/deer`` (boxed) and
  ``camtrap/other`` (no deer: other species and empty frames), bursts from the file names;
- ``lion``: ``webimages/lion-train`` vs random; test ``lion-test`` (boxed) and ``raccoon`` (no
  lion), each photo its own burst.

Figures: classifier recall / specificity per frame and per burst at the model's own threshold,
AUC; localizer mean IoU / CorLoc on the boxed test frames (all of them, or
``--localizer-limit`` per burst); detector AP50 / mean IoU / CorLoc on them (the detect step's
``--gt`` evaluation) and AP50 of ``score``'s final boxes; share of frames without the animal
given any box by ``score`` at its defaults; ``score`` images/s; per-burst spread (min / median
of burst recall and of the share of a burst's frames whose top box hits the animal).

    .venv/bin/python benchmarks/camtrap_quality.py                   # both domains, defaults
    .venv/bin/python benchmarks/camtrap_quality.py --domain camtrap --no-target

Prints one JSON line per domain last. State lives under ``--cache`` (features are reused).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
DOMAINS = {
    "camtrap": {
        "positive": SHARED / "camtrap-dev" / "deer-web",
        "boxed": SHARED / "camtrap-dev" / "camtrap" / "deer",
        "gt": SHARED / "camtrap-dev" / "camtrap" / "deer.coco.json",
        "without": SHARED / "camtrap-dev" / "camtrap" / "other",
    },
    "lion": {
        "positive": SHARED / "webimages" / "lion-train",
        "boxed": SHARED / "webimages" / "lion-test",
        "gt": SHARED / "webimages" / "lion-test.coco.json",
        "without": SHARED / "webimages" / "raccoon",
    },
}
RANDOM = SHARED / "webimages" / "random"
OTHER_KINDS = {  # camtrap-dev frames without deer: "empty" or "other_species" → "other"
    item["file_name"]: "empty" if item["kind"] == "empty" else "other"
    for item in (
        json.loads((SHARED / "camtrap-dev" / "camtrap" / "other.json").read_text())
        if (SHARED / "camtrap-dev" / "camtrap" / "other.json").is_file()
        else []
    )
}


def log(message: str) -> None:
    sys.stderr.write(f"[camtrap_quality] {message}\n")
    sys.stderr.flush()


def burst_of(domain: str, name: str) -> str:
    """camtrap-dev names are ``<burst>_<n>.jpg``; web photos are their own burst."""
    return name.rsplit("_", 1)[0] if domain == "camtrap" else name


def copy_tree(source: Path, target: Path) -> Path:
    """A copy the crawl's folder provider may read (it refuses links out of its root)."""
    if not target.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.json"))
    return target


def test_frames(domain: str, cache: Path) -> Path:
    """One folder: the boxed frames in ``with/``, the frames without the object in ``without/``."""
    spec = DOMAINS[domain]
    root = cache / f"{domain}-test"
    copy_tree(spec["boxed"], root / "with")
    copy_tree(spec["without"], root / "without")
    return root


def burst_mean(probabilities: np.ndarray, keys: list[str]) -> np.ndarray:
    """Each frame's burst probability: the burst's mean logit (as ``score`` computes it; kept
    here so the benchmark also runs on code from before bursts existed)."""
    clipped = np.clip(probabilities, 1e-6, 1 - 1e-6)
    logits = np.log(clipped / (1 - clipped))
    means = {key: logits[[i for i, k in enumerate(keys) if k == key]].mean() for key in set(keys)}
    return 1 / (1 + np.exp(-np.array([means[k] for k in keys])))


def classifier_figures(domain: str, records: list[dict], threshold: float) -> dict:
    """Frame and burst recall/specificity at the model's threshold, AUC, per-burst spread."""
    from sklearn.metrics import roc_auc_score

    labels = np.array([r["path"].startswith("with/") for r in records])
    p = np.array([r["probability"] for r in records])
    keys = [
        r["path"].split("/")[0] + "/" + burst_of(domain, r["path"].split("/")[-1]) for r in records
    ]
    burst_p = burst_mean(p, keys)
    first = {}
    for index, key in enumerate(keys):
        first.setdefault(key, index)
    b_idx = np.array(list(first.values()))
    per_burst = [
        float(np.mean(p[[i for i, k in enumerate(keys) if k == key]] >= threshold))
        for key in first
        if key.startswith("with/")
    ]
    return {
        "clf_auc": round(float(roc_auc_score(labels, p)), 4),
        "clf_recall": round(float(np.mean(p[labels] >= threshold)), 4),
        "clf_specificity": round(float(np.mean(p[~labels] < threshold)), 4),
        "clf_burst_recall": round(float(np.mean(burst_p[b_idx][labels[b_idx]] >= threshold)), 4),
        "clf_burst_specificity": round(
            float(np.mean(burst_p[b_idx][~labels[b_idx]] < threshold)), 4
        ),
        "clf_burst_recall_min": round(min(per_burst), 4),
        "clf_burst_recall_median": round(float(np.median(per_burst)), 4),
        "threshold": round(threshold, 4),
    }


def boxes_on_subset(boxes: Path, gt_path: Path) -> dict:
    """Mean IoU / CorLoc / AP50 of a COCO of boxes against the human boxes of the images it
    covers (the explain step's own ``--gt`` figures count every human-boxed image)."""
    from nolabel.components.common.coco import load_coco, score_boxes

    predicted = load_coco(boxes)
    return score_boxes(predicted, load_gt_subset(predicted, gt_path))


def lime_option(args) -> dict:
    """LIME's sample count for ExplainParams when given (the step's default otherwise)."""
    return {"lime": {"num_samples": args.lime_samples}} if args.lime_samples else {}


def localizer_option(args) -> dict:
    """``localizer`` for ExplainParams (omitted for LIME: older code has no such field)."""
    return {"localizer": args.localizer} if args.localizer != "lime" else {}


def localizer_figures(args, domain: str, classifier_uri: str, frames: Path) -> dict:
    """Mean IoU / CorLoc of the localizer's boxes on the boxed frames (explained regardless
    of the classifier's verdict: this measures where, not whether)."""
    from nolabel.components.lime.step import ExplainParams, run

    subset = args.cache / (
        f"{domain}-localize-{args.localizer}-{args.localizer_limit}-{args.localizer_max}"
    )
    if not subset.is_dir():
        subset.mkdir(parents=True)
        taken: dict[str, int] = {}
        chosen = []
        for path in sorted((frames / "with").glob("*.jpg")):
            burst = burst_of(domain, path.name)
            if args.localizer_limit and taken.get(burst, 0) >= args.localizer_limit:
                continue
            taken[burst] = taken.get(burst, 0) + 1
            chosen.append(path)
        if args.localizer_max and len(chosen) > args.localizer_max:
            step = len(chosen) / args.localizer_max
            chosen = [chosen[int(i * step)] for i in range(args.localizer_max)]
        for path in chosen:
            shutil.copyfile(path, subset / path.name)
    started = time.perf_counter()
    out = args.cache / f"{domain}-localize.coco.json"
    result = run(
        ExplainParams(
            images=str(subset), model=classifier_uri, out=str(out), explain_all=True,
            overlays=0, spark=False, **localizer_option(args),
        )
    )  # fmt: skip
    scored = boxes_on_subset(out, DOMAINS[domain]["gt"])
    return {
        "loc_images": result.images_explained,
        "loc_mean_iou": round(scored["mean_iou"], 4),
        "loc_corloc": round(scored["corloc"], 4),
        "loc_seconds_per_image": round(
            (time.perf_counter() - started) / max(1, result.images_explained), 3
        ),
    }


def change_figures(domain: str, frames: Path) -> dict:
    """Mean IoU / CorLoc (top box) and AP50 (every box) of the burst-change boxes on the boxed
    frames: what the detector's target pseudo-boxes start from."""
    try:
        from nolabel.components.common.change import change_boxes
    except ImportError:  # older code, before burst change
        return {}
    from nolabel.components.common.coco import score_boxes

    bursts: dict[str, list[Path]] = {}
    for path in sorted((frames / "with").glob("*.jpg")):
        bursts.setdefault(burst_of(domain, path.name), []).append(path)
    predicted = {"images": [], "annotations": []}
    for paths in bursts.values():
        for path, regions in zip(paths, change_boxes(paths), strict=True):
            index = len(predicted["images"]) + 1
            predicted["images"].append({"id": index, "file_name": path.name})
            predicted["annotations"] += [
                {"image_id": index, "bbox": list(r.bbox), "score": r.score} for r in regions
            ]
    scored = score_boxes(predicted, load_gt_subset(predicted, DOMAINS[domain]["gt"]))
    return {
        "change_mean_iou": round(scored["mean_iou"], 4),
        "change_corloc": round(scored["corloc"], 4),
        "change_ap50": round(scored["ap50"], 4),
    }


def load_gt_subset(predicted: dict, gt_path: Path) -> dict:
    """The human boxes of the images ``predicted`` covers (matched by file name)."""
    from nolabel.components.common.coco import load_coco

    gt = load_coco(gt_path)
    covered = {Path(img["file_name"]).name for img in predicted["images"]}
    images = [img for img in gt["images"] if img["file_name"] in covered]
    ids = {img["id"] for img in images}
    return {"images": images, "annotations": [a for a in gt["annotations"] if a["image_id"] in ids]}


def score_figures(domain: str, results: dict, gt_path: Path) -> dict:
    """What ``score`` wrote: boxes on frames without the object, AP50 of the final boxes,
    per-burst share of frames whose top box hits the animal."""
    from nolabel.components.common.coco import iou_xywh, load_coco, score_boxes

    images = results["images"]
    without = [r for r in images if r["path"].startswith("without/")]
    boxed_frames = [r for r in images if r["path"].startswith("with/")]
    predicted = {"images": [], "annotations": []}
    for index, record in enumerate(boxed_frames, 1):
        name = record["path"].split("/", 1)[1]
        predicted["images"].append({"id": index, "file_name": name})
        for box in record.get("boxes", []):
            x1, y1, x2, y2 = box["bbox"]
            predicted["annotations"].append(
                {"image_id": index, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": box["score"]}
            )
    gt = load_coco(gt_path)
    scored = score_boxes(predicted, gt)
    truth = {img["file_name"]: img["id"] for img in gt["images"]}
    boxes_by_image: dict[int, list] = {}
    for ann in gt["annotations"]:
        boxes_by_image.setdefault(ann["image_id"], []).append(ann["bbox"])
    hits: dict[str, list[float]] = {}
    for record in boxed_frames:
        name = record["path"].split("/", 1)[1]
        hit = 0.0
        if record.get("boxes"):
            x1, y1, x2, y2 = record["boxes"][0]["bbox"]
            ious = iou_xywh([[x1, y1, x2 - x1, y2 - y1]], boxes_by_image.get(truth[name], []))
            hit = float(ious.max() >= 0.5) if ious.size else 0.0
        hits.setdefault(burst_of(domain, name), []).append(hit)
    shares = [float(np.mean(v)) for v in hits.values()]
    figures = {**kind_figures(domain, images), **crop_figures(domain, results)}
    return figures | {
        "score_ap50": round(scored["ap50"], 4),
        "score_corloc": round(scored["corloc"], 4),
        "score_boxed_share_without": round(
            float(np.mean([bool(r.get("boxes")) for r in without])), 4
        ),
        "score_boxed_share_with": round(
            float(np.mean([bool(r.get("boxes")) for r in boxed_frames])), 4
        ),
        "score_burst_hit_min": round(min(shares), 4),
        "score_burst_hit_median": round(float(np.median(shares)), 4),
        "score_boxes_per_frame_with": round(
            float(np.mean([len(r.get("boxes", [])) for r in boxed_frames])), 3
        ),
    }


def frame_kind(domain: str, record: dict) -> str:
    """``with``, or for frames without the object ``empty`` / ``other`` (camtrap-dev's labels)."""
    folder, name = record["path"].split("/", 1)
    if folder == "with" or domain != "camtrap":
        return folder
    return OTHER_KINDS.get(name, "other")


def kind_figures(domain: str, images: list[dict]) -> dict:
    """Frames without the object given a box, by kind (camtrap-dev: empty scenes vs other
    species; the issue's target counts the empty ones)."""
    figures = {}
    if domain == "camtrap":
        for kind in ("empty", "other"):
            chosen = [r for r in images if frame_kind(domain, r) == kind]
            figures[f"score_boxed_{kind}"] = (
                f"{sum(bool(r.get('boxes')) for r in chosen)}/{len(chosen)}"
            )
    return figures


def crop_figures(domain: str, results: dict) -> dict:
    """AUC of the object's frames against the others (and, on camtrap-dev, against the other
    species only): the whole-frame probability vs the classifier's best crop of the frame's
    candidates (``score``'s partial records) vs the frame's ``animal_score``."""
    from sklearn.metrics import roc_auc_score

    partial = Path(results["_path"] + ".partial.jsonl")
    crops: dict[str, float] = {}
    if partial.is_file():
        for line in partial.read_text().splitlines():
            record = json.loads(line)
            keys = ("raw_boxes", "proposals", "change_boxes")
            found = [item.get("crop_probability") for k in keys for item in record.get(k) or []]
            crops[record["path"]] = max([q for q in found if q is not None], default=0.0)
    images = [r for r in results["images"] if "probability" in r]
    figures = {}
    for name, subset in (("all", images), ("other", [r for r in images if frame_kind(domain, r)
                                                       in ("with", "other")])):  # fmt: skip
        if domain != "camtrap" and name == "other":
            continue
        labels = [frame_kind(domain, r) == "with" for r in subset]
        if len(set(labels)) < 2:
            continue
        figures[f"auc_{name}_frame"] = round(
            roc_auc_score(labels, [r["probability"] for r in subset]), 4
        )
        if crops:
            figures[f"auc_{name}_crop"] = round(
                roc_auc_score(labels, [crops.get(r["path"], 0.0) for r in subset]), 4
            )
        if all("animal_score" in r for r in subset):
            figures[f"auc_{name}_animal_score"] = round(
                roc_auc_score(labels, [r["animal_score"] for r in subset]), 4
            )
    return figures


def score_options(args) -> dict:
    """``score``'s options the benchmark varies (each left at the step's default unless given;
    older code has no such fields)."""
    options = {"bursts": args.bursts} if args.bursts else {}
    if args.no_proposals:
        options["proposals"] = False
    return options


def run_domain(args, domain: str) -> dict:
    """The whole method on one domain; returns its figures."""
    from nolabel.components.crawl.step import CrawlParams
    from nolabel.components.crawl.step import run as crawl
    from nolabel.components.detect.score import ScoreParams, run_score
    from nolabel.components.detect.step import DetectTrainParams
    from nolabel.components.detect.step import run as detect_train
    from nolabel.components.lime.step import ExplainParams
    from nolabel.components.lime.step import run as explain
    from nolabel.components.transfer.step import TrainParams
    from nolabel.components.transfer.step import run as train

    spec, figures = DOMAINS[domain], {"domain": domain}
    search = args.cache / f"{domain}-search"
    copy_tree(spec["positive"], search / "object")
    copy_tree(RANDOM, search / "random")
    frames = test_frames(domain, args.cache)
    dataset = f"bench-{domain}"
    started = time.perf_counter()
    crawl(
        CrawlParams(
            dataset=dataset, provider="folder", folder_root=str(search), positive=["object"],
            negative=["random"], per_page=1000, progress=False,
        )
    )  # fmt: skip
    trained = train(TrainParams(dataset=dataset, variants=args.variants))
    figures["train_seconds"] = round(time.perf_counter() - started, 1)
    figures["best_variant"] = trained.best_variant
    log(f"{domain}: classifier {trained.best_variant} ({trained.model_uri})")
    scores_path = args.cache / f"{domain}-classify.json"
    classified = run_score(
        ScoreParams(
            images=str(frames), out=str(scores_path), classifier=trained.model_uri,
            use_detector=False, resume=False,
        )
    )  # fmt: skip
    results = json.loads(scores_path.read_text())
    from nolabel.components.transfer.classifier import load_classifier

    threshold = load_classifier(trained.model_uri).threshold
    figures.update(classifier_figures(domain, results["images"], threshold))
    log(f"{domain}: {classified.scored} frames classified")
    figures.update(localizer_figures(args, domain, trained.model_uri, frames))
    figures.update(change_figures(domain, frames))
    started = time.perf_counter()
    web = args.cache / f"{domain}-web-{args.explain_limit}"
    if not web.is_dir():
        web.mkdir()
        for path in sorted(spec["positive"].glob("*.jpg"))[: args.explain_limit or None]:
            shutil.copyfile(path, web / path.name)
    boxes = explain(
        ExplainParams(
            images=str(web), model=trained.model_uri, overlays=0, spark=False,
            out=str(args.cache / f"{domain}-boxes.coco.json"),
            **lime_option(args), **localizer_option(args),
        )
    )  # fmt: skip
    figures["explained_web_images"] = boxes.images_explained
    figures["explain_seconds"] = round(time.perf_counter() - started, 1)
    options = {"epochs": args.epochs} if args.epochs else {}
    if args.image_size:
        options["image_size"] = args.image_size
    if args.negatives:
        options["negatives"] = [dataset]
    if args.target:
        options.update(target=str(frames), classifier=trained.model_uri, pastes=args.pastes)
        if args.target_boxes:
            options["target_boxes"] = args.target_boxes
        if args.bursts:
            options["bursts"] = args.bursts
    started = time.perf_counter()
    detector = detect_train(
        DetectTrainParams(
            boxes=boxes.coco_uri, config=args.config, gt=str(spec["gt"]),
            images=str(spec["boxed"]), overlays=0, **options,
        )
    )  # fmt: skip
    figures["detect_seconds"] = round(time.perf_counter() - started, 1)
    figures["detect_train_images"] = detector.train_images
    figures["detect_negative_images"] = getattr(detector, "negative_images", 0)
    figures["detect_pseudo_boxed_images"] = getattr(detector, "pseudo_boxed_images", 0)
    for key in ("gt_ap50", "gt_mean_iou", "gt_corloc", "val_ap50"):
        if key in detector.metrics:
            figures[f"det_{key}"] = round(detector.metrics[key], 4)
    out = args.cache / f"{domain}-score.json"
    scored = run_score(
        ScoreParams(
            images=str(frames), out=str(out), classifier=trained.model_uri,
            detector=detector.model_uri, resume=False, **score_options(args),
        )
    )  # fmt: skip
    figures["score_images_per_second"] = scored.images_per_second
    results = {**json.loads(out.read_text()), "_path": str(out)}
    figures.update(score_figures(domain, results, spec["gt"]))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", choices=("camtrap", "lion", "both"), default="both")
    parser.add_argument("--cache", type=Path, default=REPO / ".nolabel" / "bench-camtrap")
    parser.add_argument("--variants", default="all", help="nolabel train --variants")
    parser.add_argument("--localizer", choices=("lime", "gradcam"), default="lime")
    parser.add_argument("--localizer-limit", type=int, default=1, help="frames a burst (0: all)")
    parser.add_argument("--localizer-max", type=int, default=30, help="frames in all (0: all)")
    parser.add_argument(
        "--explain-limit", type=int, default=60, help="web photos boxed for the detector (0: all)"
    )
    parser.add_argument("--lime-samples", type=int, default=None)
    parser.add_argument("--config", default=None, help="detector config (default: the step's)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None, help="detector; default: step's")
    parser.add_argument("--negatives", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--target", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--pastes", type=int, default=0)
    parser.add_argument(
        "--target-boxes",
        choices=("both", "fused", "change", "none"),
        default=None,
        help="default: the step's",
    )
    parser.add_argument(
        "--bursts",
        choices=("auto", "name", "none"),
        default=None,
        help="detect train --target and score (none: every frame alone, as single photos)",
    )
    parser.add_argument("--no-proposals", action="store_true", help="score without proposals")
    args = parser.parse_args()
    args.cache = args.cache.resolve()
    args.cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NOLABEL_HOME", str(args.cache / "home"))
    if args.config is None:
        from nolabel.components.detect.config import DEFAULT_CONFIG

        args.config = DEFAULT_CONFIG
    domains = ("camtrap", "lion") if args.domain == "both" else (args.domain,)
    rows = [run_domain(args, domain) for domain in domains]
    for row in rows:
        log(" | ".join(f"{k} {v}" for k, v in row.items()))
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
