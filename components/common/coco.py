"""COCO JSON boxes: read/write and scoring predicted boxes against human boxes."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from nolabel.components.common.errors import InputError
from nolabel.components.common.files import write_text_atomic


def load_coco(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a COCO JSON file and check its top-level shape."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise InputError(f"{path} is not COCO JSON (no 'images' list)")
    data.setdefault("annotations", [])
    data.setdefault("categories", [{"id": 1, "name": "object"}])
    return data


def save_coco(data: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write COCO JSON atomically."""
    return write_text_atomic(path, json.dumps(data))


def iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes ``a`` (N×4) and ``b`` (M×4) in COCO ``[x, y, w, h]``."""
    a = np.asarray(a, dtype=float).reshape(-1, 4)
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(
        np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None
    )
    ih = np.clip(
        np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None
    )
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _by_file(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    names = {img["id"]: Path(img["file_name"]).name for img in data["images"]}
    boxes: dict[str, list[dict[str, Any]]] = {name: [] for name in names.values()}
    for ann in data["annotations"]:
        if ann["image_id"] in names:
            boxes[names[ann["image_id"]]].append(ann)
    return boxes


def _ap50(pred_by_file, gt: dict[str, Any]) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt_clean = {
        "images": [
            {k: img[k] for k in ("id", "file_name", "width", "height") if k in img}
            for img in gt["images"]
        ],
        "annotations": [
            {
                "id": i + 1,
                "image_id": a["image_id"],
                "category_id": 1,
                "bbox": a["bbox"],
                "area": float(a["bbox"][2] * a["bbox"][3]),
                "iscrowd": 0,
            }
            for i, a in enumerate(gt["annotations"])
        ],
        "categories": [{"id": 1, "name": "object"}],
    }
    ids = {Path(img["file_name"]).name: img["id"] for img in gt["images"]}
    dets = [
        {
            "image_id": ids[name],
            "category_id": 1,
            "bbox": list(map(float, a["bbox"])),
            "score": float(a.get("score", 1.0)),
        }
        for name, anns in pred_by_file.items()
        if name in ids
        for a in anns
    ]
    if not dets or not gt_clean["annotations"]:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt_clean
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dets)
        evaluator = COCOeval(coco_gt, coco_dt, "bbox")
        evaluator.params.iouThrs = np.array([0.5])
        evaluator.params.maxDets = [1, 10, 100]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return max(float(evaluator.stats[0]), 0.0)


def score_boxes(pred: dict[str, Any], gt: dict[str, Any]) -> dict[str, float]:
    """Score predicted boxes against human boxes, matching images by file name.

    - ``mean_iou``: over human-labelled images, IoU of the top-scoring predicted box with its
      best-matching human box (0 when an image has no prediction);
    - ``corloc``: share of those images where that IoU is at least 0.5;
    - ``ap50``: class-agnostic COCO average precision at IoU 0.5 over all predicted boxes.
    """
    pred_by_file, gt_by_file = _by_file(pred), _by_file(gt)
    ious = []
    for name, gt_anns in gt_by_file.items():
        if not gt_anns:
            continue
        preds = pred_by_file.get(name, [])
        if not preds:
            ious.append(0.0)
            continue
        top = max(preds, key=lambda a: a.get("score", 1.0))
        ious.append(float(iou_xywh([top["bbox"]], [a["bbox"] for a in gt_anns]).max()))
    values = np.asarray(ious, dtype=float)
    return {
        "images": float(len(values)),
        "mean_iou": float(values.mean()) if len(values) else 0.0,
        "corloc": float((values >= 0.5).mean()) if len(values) else 0.0,
        "ap50": _ap50(pred_by_file, gt),
    }
