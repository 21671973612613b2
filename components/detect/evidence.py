"""Detect, then classify: what the models say about each frame, before any policy.

For a batch of frames: the classifier's probability of the whole frame; the Faster R-CNN's
boxes; the animal proposals of a COCO-pretrained detector (``person`` and ``vehicle`` kept
apart); and, for a frame of a burst, the regions that changed within it. The classifier then
judges a square crop around each of the strongest candidates of every source
(``crop_probability``): a crop makes it look at the animal, not at the scene. The finders (the
Faster R-CNN and the proposer) may see another version of a frame (``views``: a lone infrared
frame equalized, :mod:`nolabel.components.common.contrast`); the classifier judges the frame and
its crops as taken, as it learnt them. Boxes are in the frame's full pixels.
:mod:`nolabel.components.detect.fusion` turns this into one box per animal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nolabel.components.common.images import to_full_pixels
from nolabel.components.proposals.decode import box_iou, has_area

CROP_PADDING = 0.15  # context around a candidate, × its longer side, each way
MIN_CROP_SIDE = 32  # pixels of the decoded frame
CROPS_PER_SOURCE = 2  # the strongest candidates of each source get a crop judged
SAME_CROP_IOU = 0.8  # candidates overlapping this much share one judged crop
PROPOSAL_FLOOR = 0.05  # weaker proposals are not kept
OTHER_FLOOR = 0.3  # person / vehicle proposals kept from this score
ROUND = 4


@dataclass
class FrameModels:
    """The models a frame is judged by; any may be None."""

    classifier: Any = None
    detector: Any = None
    proposer: Any = None


def crop_square(array: np.ndarray, bbox: Sequence[float], padding: float = CROP_PADDING):
    """A square crop centred on ``bbox`` (``x1, y1, x2, y2`` in ``array`` pixels) with
    ``padding`` × its longer side of context each way, clipped to the frame."""
    height, width = array.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in bbox)
    side = max(max(x2 - x1, y2 - y1) * (1 + 2 * padding), MIN_CROP_SIDE)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left, top = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    right, bottom = int(min(width, cx + side / 2)), int(min(height, cy + side / 2))
    if right - left < 2 or bottom - top < 2:
        return None
    return array[top:bottom, left:right]


def _box(bbox, score: float, **extra) -> dict[str, Any]:
    return {
        "bbox": [round(float(v), 1) for v in bbox],
        "score": round(float(score), ROUND),
        **extra,
    }


def _to_array_pixels(bbox_xywh, array: np.ndarray, size: tuple[int, int]) -> list[float]:
    x, y, w, h = bbox_xywh
    sx, sy = array.shape[1] / size[0], array.shape[0] / size[1]
    return [x * sx, y * sy, (x + w) * sx, (y + h) * sy]


def analyse(
    arrays: list[np.ndarray],
    sizes: list[tuple[int, int]],
    models: FrameModels,
    box_floor: float,
    changes: list[list[Any]] | None = None,
    views: list[np.ndarray] | None = None,
) -> list[dict[str, Any]]:
    """One raw record a frame (``probability``, ``raw_boxes``, ``proposals``, ``others``,
    ``change_boxes``); ``changes``: each frame's :class:`ChangeBox` list (full pixels);
    ``views``: what the finders see of each frame (same shape; default the frames)."""
    classifier, detector, proposer = models.classifier, models.detector, models.proposer
    views = arrays if views is None else views
    if len(views) != len(arrays) or any(
        view.shape != array.shape for view, array in zip(views, arrays, strict=True)
    ):
        raise ValueError("what the finders see must match the frames, one for one, in shape")
    records: list[dict[str, Any]] = [{} for _ in arrays]
    crops: list[tuple[list[dict], np.ndarray]] = []
    seen: dict[int, list[tuple[np.ndarray, list[dict]]]] = {}  # per frame: box, its items

    def judge(item: dict, array: np.ndarray, bbox) -> None:
        """Queue the crop of ``bbox`` for the classifier (one crop for near-identical boxes)."""
        if classifier is None:
            return
        box = np.asarray(bbox, dtype=float)
        for other, items in seen.setdefault(id(array), []):
            if box_iou(other, box[None])[0] >= SAME_CROP_IOU:
                items.append(item)
                return
        piece = crop_square(array, box)
        if piece is not None:
            items = [item]
            seen[id(array)].append((box, items))
            crops.append((items, piece))

    if classifier is not None:
        for record, p in zip(records, classifier.predict_proba(arrays), strict=True):
            record["probability"] = round(float(p), 6)
            record["positive"] = bool(p >= classifier.threshold)
    if detector is not None:
        for record, array, size, found in zip(
            records, arrays, sizes, detector.predict(views), strict=True
        ):
            keep = found["scores"] >= box_floor
            full = to_full_pixels(found["boxes"][keep], array, size)
            pairs = [
                (_box(b, s), bbox)
                for b, s, bbox in zip(
                    full, found["scores"][keep], found["boxes"][keep], strict=True
                )
            ]  # a sliver at the frame's edge can round to no area: no box
            pairs = [(item, bbox) for item, bbox in pairs if has_area(item["bbox"])]
            record["raw_boxes"] = [item for item, _ in pairs]
            for item, bbox in pairs[:CROPS_PER_SOURCE]:
                judge(item, array, bbox)
    if proposer is not None:
        for record, array, view, size in zip(records, arrays, views, sizes, strict=True):
            _propose(record, array, view, size, proposer, judge)
    for index, (record, array, size) in enumerate(zip(records, arrays, sizes, strict=True)):
        if changes is None:
            continue
        record["change_boxes"] = []
        for region in changes[index]:
            x, y, w, h = region.bbox
            item = _box([x, y, x + w, y + h], region.score)
            record["change_boxes"].append(item)
            if len(record["change_boxes"]) <= CROPS_PER_SOURCE:
                judge(item, array, _to_array_pixels(region.bbox, array, size))
    if crops:
        probabilities = classifier.predict_proba([piece for _, piece in crops])
        for (items, _), q in zip(crops, probabilities, strict=True):
            for item in items:
                item["crop_probability"] = round(float(q), ROUND)
    return records


def _propose(record: dict, array: np.ndarray, view: np.ndarray, size, proposer, judge) -> None:
    found = proposer.propose(view)
    full = to_full_pixels(found.boxes, array, size)
    record["proposals"], record["others"] = [], []
    for bbox, array_box, score, coco, group in zip(
        full, found.boxes, found.scores, found.classes, found.groups, strict=True
    ):
        if group == "animal" and score >= PROPOSAL_FLOOR:
            item = _box(bbox, score, category=group, coco_class=int(coco))
            record["proposals"].append(item)
            if len(record["proposals"]) <= CROPS_PER_SOURCE:
                judge(item, array, array_box)
        elif group != "animal" and score >= OTHER_FLOOR:
            record["others"].append(_box(bbox, score, category=group, coco_class=int(coco)))
