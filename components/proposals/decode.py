"""Raw outputs of the COCO detectors → boxes, scores and COCO classes, per category group.

Boxes are ``x1, y1, x2, y2`` in the network input's pixels; the proposer scales them to the
frame. Classes are COCO's 0-based indices (0 person, 1–8 vehicles, 14–23 animals).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

ANIMAL_CLASSES = tuple(range(14, 24))  # bird, cat, dog, horse, sheep, cow, elephant, bear, ...
PERSON_CLASSES = (0,)
VEHICLE_CLASSES = tuple(range(1, 9))  # bicycle, car, motorcycle, airplane, bus, train, truck, boat
GROUPS = {"animal": ANIMAL_CLASSES, "person": PERSON_CLASSES, "vehicle": VEHICLE_CLASSES}
NANODET_STRIDES = (8, 16, 32)
NANODET_BINS = 11
CENTERNET_STRIDE = 4
CENTERNET_WH_SCALE = 1.0  # the graph already multiplies the wh head by 16


def _group_scores(scores: np.ndarray, classes: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, the best score among ``classes`` and which class it is."""
    chosen = scores[..., list(classes)]
    best = chosen.argmax(-1)
    return np.take_along_axis(chosen, best[..., None], -1)[..., 0], np.asarray(classes)[best]


def decode_nanodet(
    outputs: Sequence[np.ndarray], width: int, height: int, classes: Sequence[int], floor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NanoDet (Generalized Focal Loss heads): per stride, class scores ``[1, cells, 80]``
    (sigmoid applied) and side distributions ``[1, cells, 44]`` (4 sides × 11 bins)."""
    by_cells: dict[tuple[int, int], np.ndarray] = {}
    for output in outputs:
        by_cells[(output.shape[1], output.shape[2])] = output[0]
    boxes, scores, labels = [], [], []
    for stride in NANODET_STRIDES:
        cols, rows = width // stride, height // stride
        cls = by_cells.get((cols * rows, 80))
        reg = by_cells.get((cols * rows, 4 * NANODET_BINS))
        if cls is None or reg is None:
            raise ValueError(f"no NanoDet outputs for stride {stride} at {width}x{height}")
        best, label = _group_scores(cls, classes)
        keep = best >= floor
        if not keep.any():
            continue
        logits = reg[keep].reshape(-1, 4, NANODET_BINS)
        weights = np.exp(logits - logits.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        distance = (weights * np.arange(NANODET_BINS)).sum(-1) * stride
        row, col = np.divmod(np.flatnonzero(keep), cols)
        cx, cy = (col + 0.5) * stride, (row + 0.5) * stride
        boxes.append(np.stack([cx - distance[:, 0], cy - distance[:, 1],
                               cx + distance[:, 2], cy + distance[:, 3]], 1))  # fmt: skip
        scores.append(best[keep])
        labels.append(label[keep])
    return _stack(boxes, scores, labels)


def decode_centernet(
    keypoints: np.ndarray, sizes: np.ndarray, classes: Sequence[int], floor: float, top: int = 100
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CenterNet: a heat map ``[1, h/4, w/4, 80]`` (sigmoid applied) whose local maxima (3×3)
    are objects, and their side distances ``[1, h/4, w/4, 4]`` (left, top, right, bottom)."""
    from scipy import ndimage

    heat, label = _group_scores(keypoints[0], classes)
    peaks = heat * (heat == ndimage.maximum_filter(heat, size=3, mode="constant"))
    order = np.argsort(-peaks, axis=None)[:top]
    order = order[peaks.ravel()[order] >= floor]
    row, col = np.divmod(order, heat.shape[1])
    distance = sizes[0][row, col] * CENTERNET_WH_SCALE
    cx, cy = col * float(CENTERNET_STRIDE), row * float(CENTERNET_STRIDE)
    boxes = np.stack([cx - distance[:, 0], cy - distance[:, 1],
                      cx + distance[:, 2], cy + distance[:, 3]], 1)  # fmt: skip
    return boxes.astype(np.float32), heat[row, col], label[row, col]


def _stack(boxes, scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    return (
        np.concatenate(boxes).astype(np.float32),
        np.concatenate(scores).astype(np.float32),
        np.concatenate(labels).astype(np.int64),
    )


def has_area(bbox) -> bool:
    """Whether an ``x1, y1, x2, y2`` box is finite and encloses some area."""
    x1, y1, x2, y2 = (float(v) for v in bbox)
    return math.isfinite(x1 + y1 + x2 + y2) and x2 > x1 and y2 > y1


def box_iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU of one ``x1, y1, x2, y2`` box with each of ``others`` (K×4)."""
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.5) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best first."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        first, order = order[0], order[1:]
        keep.append(first)
        if order.size:
            order = order[box_iou(boxes[first], boxes[order]) < iou]
    return np.asarray(keep, dtype=np.int64)
