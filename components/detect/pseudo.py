"""Pseudo-boxes on the user's frames: the animals the method is sure of, no label needed.

The web photos teach the detector what the object looks like, but not how it looks on the
user's cameras: small, far, at night, cut off. Two ways to box the ``--target`` frames:

- ``fused`` (default): the frames are scored as ``nolabel score`` scores them, without a detector
  and as taken (a lone infrared frame is not equalized): the COCO detector's animal proposals and,
  within bursts, the regions that changed, each judged by the classifier on its crop and fused one
  box per animal (:mod:`nolabel.components.detect.policy`). Every frame the policy calls
  ``animal`` (its best box reaches the frame gate, or the burst gate within an animal burst) is
  pseudo-boxed with its kept boxes: single photos too, not only bursts.
- ``change``: only what moves within a burst the classifier calls positive
  (:mod:`nolabel.components.common.change`): a burst counts if the classifier's burst
  probability reaches its threshold; a frame of it whose strongest change scores at least
  ``min_change`` is kept, with every region scoring at least ``RELATIVE_CUT`` × the strongest as
  a box. Frames without a burst (or with too few frames) give nothing.

No human label is used either way.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from nolabel.components.common.bursts import burst_keys, burst_probability
from nolabel.components.common.change import change_boxes
from nolabel.components.common.defaults import DEFAULT_BURST_GAP
from nolabel.components.detect.contract import ScoreParams
from nolabel.components.detect.score import run_score

RELATIVE_CUT = 0.5  # a second region must change at least half as much as the strongest
MIN_BOX_SIDE = 8.0  # pixels
# Pseudo-boxes come from the frames as taken: drawn from lone infrared frames equalized (``score
# --equalize-infrared``), they led the retrained detector to box an empty frame on camtrap-dev
# (detect README). ``score`` still shows the trained detector a lone infrared frame equalized.
EQUALIZE_INFRARED_FOR_PSEUDO_BOXES = False


def _image_size(path: Path) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError):
        return None


def change_pseudo_boxes(
    target: Path,
    ranked: list[tuple[Path, float]],
    threshold: float,
    *,
    min_change: float,
    bursts: str = "auto",
    burst_gap: float = DEFAULT_BURST_GAP,
) -> dict[str, Any]:
    """A COCO dict (absolute ``file_name``s, category 1) of the ``ranked`` target frames
    (``(path, P(object))``) that get pseudo-boxes; see the module docstring."""

    root = Path(target).expanduser()
    relatives = [path.relative_to(root).as_posix() for path, _ in ranked]
    keys = burst_keys(root, relatives, mode=bursts, gap_seconds=burst_gap)
    ordered = [keys[rel] for rel in relatives]
    burst_p = burst_probability([p for _, p in ranked], ordered)
    members: dict[str, list[Path]] = defaultdict(list)
    for (path, _), key, probability in zip(ranked, ordered, burst_p, strict=True):
        if probability >= threshold:
            members[key].append(path)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for key in sorted(members):
        frames = sorted(members[key])
        for path, regions in zip(frames, change_boxes(frames), strict=True):
            if not regions or regions[0].score < min_change:
                continue
            size = _image_size(path)
            if size is None:
                continue
            kept = [
                region.bbox
                for region in regions
                if region.score >= RELATIVE_CUT * regions[0].score
                and min(region.bbox[2], region.bbox[3]) >= MIN_BOX_SIDE
            ]
            if not kept:
                continue
            image_id = len(images) + 1
            images.append(
                {"id": image_id, "file_name": str(path), "width": size[0], "height": size[1]}
            )
            for bbox in kept:
                x, y = bbox[0], bbox[1]
                w, h = min(bbox[2], size[0] - x), min(bbox[3], size[1] - y)
                annotations.append(
                    {"id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                     "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0}
                )  # fmt: skip
    return {"images": images, "annotations": annotations}


def fused_pseudo_boxes(
    target: Path,
    classifier: str | None,
    work: Path,
    *,
    bursts: str = "auto",
    burst_gap: float = DEFAULT_BURST_GAP,
) -> tuple[dict[str, Any], list[tuple[Path, float]], dict[str, float], float]:
    """``score`` without a detector on the ``target`` frames: a COCO dict (absolute file names,
    category 1) of the frames it calls ``animal`` with their boxes; every frame ranked by the
    whole-frame probability (least likely first); each frame's ``animal_score``; the threshold."""
    root = Path(target).expanduser()
    out = work / "target-scores.json"
    run_score(
        ScoreParams(
            images=str(root), out=str(out), classifier=classifier, use_detector=False,
            bursts=bursts, burst_gap=burst_gap, resume=False,
            equalize_infrared=EQUALIZE_INFRARED_FOR_PSEUDO_BOXES,
        )
    )  # fmt: skip
    results = json.loads(out.read_text(encoding="utf-8"))
    coco = animal_coco(results, root)
    ranked = sorted(
        ((root / r["path"], float(r["probability"])) for r in results["images"]),
        key=lambda item: item[1],
    )
    scores = {str(root / r["path"]): float(r.get("animal_score", 0.0)) for r in results["images"]}
    return coco, ranked, scores, float(results["threshold"])


def animal_coco(results: dict[str, Any], root: Path) -> dict[str, Any]:
    """The frames a ``score`` results file calls ``animal``, with their kept boxes, as COCO
    (absolute file names under ``root``, category 1; boxes thinner than MIN_BOX_SIDE dropped)."""
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for record in results["images"]:
        if record["verdict"] != "animal" or not record.get("boxes"):
            continue
        image_id = len(images) + 1
        width, height = record["width"], record["height"]
        images.append({"id": image_id, "file_name": str(root / record["path"]),
                       "width": width, "height": height})  # fmt: skip
        for box in record["boxes"]:
            x1, y1, x2, y2 = box["bbox"]
            w, h = min(x2, width) - x1, min(y2, height) - y1
            if min(w, h) >= MIN_BOX_SIDE:
                annotations.append(
                    {"id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                     "bbox": [x1, y1, w, h], "area": w * h, "iscrowd": 0}
                )  # fmt: skip
    boxed = {a["image_id"] for a in annotations}
    return {"images": [i for i in images if i["id"] in boxed], "annotations": annotations}
