"""Superpixel weights → bounding boxes: top-weight mask, split into objects, scored."""

from __future__ import annotations

from typing import Any

import numpy as np


def positive_weights(weights: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Weights counted as evidence: positive and at least ``floor`` × the largest weight."""
    positive = np.clip(np.asarray(weights, dtype=float), 0.0, None)
    if positive.size and floor > 0:
        positive[positive < floor * positive.max()] = 0.0
    return positive


BOX_RULES = ("coverage", "relative", "percentile")


def select_superpixels(
    weights: np.ndarray,
    coverage: float,
    floor: float = 0.0,
    rule: str = "coverage",
    cut: float = 0.5,
) -> np.ndarray:
    """Boolean mask of the superpixels counted as the object.

    ``coverage``: the highest-weight ones holding ``coverage`` of the positive weight (weights
    under ``floor`` × the largest count as sampling noise). ``relative``: those weighing at least
    ``cut`` × the largest weight (weak superpixels never join). ``percentile``: those above the
    ``cut`` quantile of all weights (the SynapseML snow-leopard notebook keeps the top decile).
    """
    if rule not in BOX_RULES:
        raise ValueError(f"unknown box rule {rule!r}; use one of {', '.join(BOX_RULES)}")
    positive = positive_weights(weights, floor)
    chosen = np.zeros(len(positive), dtype=bool)
    total = positive.sum()
    if total <= 0:
        return chosen
    if rule == "relative":
        return positive >= cut * positive.max()
    if rule == "percentile":
        return (positive > 0) & (positive >= np.quantile(np.asarray(weights, float), cut))
    order = np.argsort(-positive, kind="stable")
    cumulative = np.cumsum(positive[order])
    count = int(np.searchsorted(cumulative, coverage * total * (1 - 1e-9))) + 1
    chosen[order[:count]] = True
    return chosen & (positive > 0)


def _component_labels(mask: np.ndarray, merge_pixels: float) -> tuple[np.ndarray, int]:
    """Label connected parts of ``mask``; parts closer than ``merge_pixels`` share a label."""
    from scipy import ndimage

    structure = np.ones((3, 3), dtype=bool)
    if merge_pixels >= 1:
        grown = ndimage.distance_transform_edt(~mask) <= merge_pixels / 2
        labels, count = ndimage.label(grown, structure=structure)
        labels = np.where(mask, labels, 0)
    else:
        labels, count = ndimage.label(mask, structure=structure)
    return labels, int(count)


def boxes_from_weights(
    weights: np.ndarray,
    segments: np.ndarray,
    *,
    coverage: float = 0.75,
    floor: float = 0.0,
    rule: str = "coverage",
    cut: float = 0.5,
    split: bool = True,
    merge_distance: float = 0.12,
    min_area: float = 0.01,
    min_score: float = 0.05,
) -> list[dict[str, Any]]:
    """Boxes (``[x, y, w, h]`` in ``segments`` pixels) around the most important superpixels.

    The superpixels chosen by ``rule`` (see :func:`select_superpixels`) form a mask. With
    ``split`` the
    mask is cut into connected objects (parts nearer than ``merge_distance`` × image diagonal are
    merged), otherwise one box encloses it. A box's score is the share of positive weight inside
    it; parts smaller than ``min_area`` of the image or scoring below ``min_score`` are dropped,
    except that the best part is always kept. Sorted by score, best first.
    """
    from scipy import ndimage

    weights = np.asarray(weights, dtype=float)
    chosen = select_superpixels(weights, coverage, floor, rule, cut)
    if not chosen.any():
        return []
    mask = chosen[segments]
    height, width = segments.shape
    if split:
        labels, count = _component_labels(mask, merge_distance * float(np.hypot(height, width)))
    else:
        labels, count = mask.astype(np.int32), 1
    positive = positive_weights(weights, floor)
    seg_area = np.bincount(segments.ravel(), minlength=len(weights)).astype(float)
    density = (positive / np.maximum(seg_area, 1.0))[segments]  # weight per pixel
    index = np.arange(1, count + 1)
    scores = np.asarray(ndimage.sum(density, labels, index)) / positive.sum()
    areas = np.asarray(ndimage.sum(np.ones_like(density), labels, index)) / (height * width)
    slices = ndimage.find_objects(labels, max_label=count)
    order = np.argsort(-scores, kind="stable")
    boxes = []
    for rank, k in enumerate(order):
        region = slices[k]
        if region is None:
            continue
        if rank > 0 and (areas[k] < min_area or scores[k] < min_score):
            continue
        y, x = region[0].start, region[1].start
        h, w = region[0].stop - y, region[1].stop - x
        boxes.append({"bbox": [float(x), float(y), float(w), float(h)], "score": float(scores[k])})
    return boxes


def box_masks(mask: np.ndarray, boxes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """COCO RLE of the object pixels (``mask`` ∩ the box) of each ``[x, y, w, h]`` box, so a
    box carries its object's shape (copy-paste uses it)."""
    from pycocotools import mask as rle

    encoded = []
    for box in boxes:
        x, y, w, h = (int(round(v)) for v in box["bbox"])
        inside = np.zeros(mask.shape, dtype=np.uint8, order="F")
        inside[y : y + h, x : x + w] = mask[y : y + h, x : x + w]
        code = rle.encode(inside)
        encoded.append({"size": [int(v) for v in code["size"]], "counts": code["counts"].decode()})
    return encoded
