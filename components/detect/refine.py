"""Self-training: the detector re-boxes its own training images, then learns from its boxes.

LIME's boxes (and the pseudo-boxes on the user's frames) are noisy: too large, split, or on a
patch of background the classifier leaned on. A detector trained on many such boxes averages
their noise out, so on the very images it learned from its confident boxes are better than the
boxes it was given (the demo's synthetic photos: CorLoc 0.61 → 0.83). Each round re-boxes the
images whose boxes are LIME's own with its boxes scoring at least ``min_score`` (an image where
it finds none keeps its boxes) and fine-tunes from its weights on them, as weakly supervised
detectors re-train on their own detections. Boxes LIME chose among a COCO detector's proposals,
the pseudo-boxes on the user's frames (fused from several sources by ``score``'s policy),
negatives and pasted composites stay as they are: there its boxes measured no better
(camtrap-dev ``score`` AP50 0.794 → 0.779 when it re-boxed them too). Without a loose box, no
round runs.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from pathlib import Path
from typing import Any

from nolabel.components.common.coco import save_coco
from nolabel.components.common.images import load_rgb, to_array
from nolabel.components.detect import engine
from nolabel.components.detect.config import apply_options, set_data
from nolabel.components.detect.predictor import Detector

MIN_BOX_SIDE = 2.0  # pixels: thinner detections are not boxes


def loose_boxed(coco: dict[str, Any]) -> set[str]:
    """The images whose boxes are all LIME's own (a box without a ``source`` counts as one):
    a box LIME chose among a COCO detector's proposals is already a detector's tight box."""
    chosen = {ann["image_id"] for ann in coco["annotations"] if ann.get("source") == "proposal"}
    boxed = {ann["image_id"] for ann in coco["annotations"]}
    return {img["file_name"] for img in coco["images"] if img["id"] in boxed - chosen}


def rebox(
    detector, coco: dict[str, Any], reboxable: Collection[str], min_score: float
) -> tuple[dict[str, Any], int]:
    """``coco`` with the boxes of each image whose ``file_name`` is in ``reboxable`` replaced by
    the ``detector``'s boxes scoring at least ``min_score`` (kept where there are none), and
    how many images were re-boxed."""
    by_image: dict[int, list[dict[str, Any]]] = {}
    for ann in coco["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    annotations: list[dict[str, Any]] = []
    reboxed = 0
    for image in coco["images"]:
        given = by_image.get(image["id"], [])
        found = []
        if given and image["file_name"] in reboxable:
            found = _confident_boxes(detector, image, min_score)
            reboxed += bool(found)
        new = [
            {"image_id": image["id"], "category_id": 1, "bbox": [x, y, w, h], "area": w * h,
             "iscrowd": 0}
            for x, y, w, h in found
        ]  # fmt: skip
        for ann in new or given:  # an image not re-boxed keeps its annotations whole
            annotations.append({**ann, "id": len(annotations) + 1})
    return {**coco, "annotations": annotations}, reboxed


def _confident_boxes(detector, image: dict[str, Any], min_score: float) -> list[list[float]]:
    (predicted,) = detector.predict([to_array(load_rgb(image["file_name"]))])
    boxes = []
    for (x1, y1, x2, y2), score in zip(predicted["boxes"], predicted["scores"], strict=True):
        if score >= min_score and min(x2 - x1, y2 - y1) >= MIN_BOX_SIDE:
            boxes.append([float(x1), float(y1), float(x2 - x1), float(y2 - y1)])
    return boxes


def refine_config(cfg, checkpoint: str, epochs: int, train_images: int):
    """A copy of the training ``cfg`` that fine-tunes from ``checkpoint`` for ``epochs``."""
    refined = copy.deepcopy(cfg)
    apply_options(refined, epochs=epochs, load_from=str(checkpoint), train_images=train_images)
    return refined


def self_train(
    cfg,
    config_path: Path,
    checkpoint: Path,
    train_coco: dict[str, Any],
    reboxable: Collection[str],
    *,
    rounds: int,
    epochs: int,
    min_score: float,
    work: Path,
) -> tuple[dict[str, float], Path, dict[str, Any]] | None:
    """Up to ``rounds`` rounds of re-boxing the ``reboxable`` images of ``train_coco`` with the
    detector (``config_path`` + ``checkpoint``) and fine-tuning it on them; the last round's
    validation metrics (with ``refine_<round>_reboxed_images``), checkpoint and training set, or
    None when no round ran."""
    outcome = None
    for index in range(1, rounds + 1 if reboxable else 1):
        detector = Detector(config_path, checkpoint, version=f"refine-{index}")
        train_coco, reboxed = rebox(detector, train_coco, reboxable, min_score)
        if not reboxed:
            break
        set_data(cfg, "train", str(save_coco(train_coco, work / f"refine-{index}.json")))
        refined = refine_config(cfg, str(checkpoint), epochs, len(train_coco["images"]))
        _, metrics, checkpoint = engine.train(refined, work / f"refine-{index}")
        metrics[f"refine_{index}_reboxed_images"] = float(reboxed)
        outcome = metrics, checkpoint, train_coco
    return outcome
