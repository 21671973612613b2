"""One box per animal from three label-free sources, each confirmed by the classifier.

Candidates of a frame come from the Faster R-CNN (``raw_boxes``), the COCO detector's animal
proposals (``proposals``) and, within a burst, the regions that changed (``change_boxes``).
Each source's score becomes a strength in [0, 1]: the detector's own score; a proposal's score
over :data:`PROPOSAL_SURE` (a COCO detector is rarely more confident on a far camera-trap
animal); a change score ``z`` as ``z / (z + CHANGE_HALF)``. With a classifier, a candidate's
evidence is the geometric mean of its strength and the classifier's probability on its crop
(``crop_probability``), so every kept box is confirmed by what the crop shows.

Candidates overlapping by :data:`CLUSTER_IOU` or more are one animal. Its score is the noisy-OR
of the best evidence of each source, so independent sources agreeing count more than one source
repeating itself. Its box is the strongest member of the source that draws boxes best
(:data:`LOCALIZERS`): the COCO detector was trained on human boxes, a changed region hugs what
moved, while the Faster R-CNN learned from pseudo-boxes (LIME's are loose on web photos). On
lion-test this took CorLoc 0.80 → 0.875 against averaging the members' boxes (weighted box
fusion); on camtrap-dev 0.740 → 0.747.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nolabel.components.detect.evidence import CROPS_PER_SOURCE
from nolabel.components.proposals.decode import box_iou, has_area

PROPOSAL_SURE = 0.3
CHANGE_HALF = 5.0
CLUSTER_IOU = 0.3
SOURCES = {"raw_boxes": "detector", "proposals": "proposal", "change_boxes": "change"}
LOCALIZERS = ("proposal", "change", "detector")  # whose box a cluster takes, first present


def strength(source: str, score: float) -> float:
    """A source's raw score as a strength in [0, 1] (module docstring)."""
    score = max(float(score), 0.0)
    if source == "proposal":
        return min(1.0, score / PROPOSAL_SURE)
    if source == "change":
        return score / (score + CHANGE_HALF)
    return min(score, 1.0)


def evidence(source: str, score: float, crop_probability: float | None) -> float:
    """Strength, confirmed by the crop's classifier probability when there is one."""
    value = strength(source, score)
    if crop_probability is None:
        return value
    return math.sqrt(value * min(max(float(crop_probability), 0.0), 1.0))


Candidate = tuple[list[float], str, float, float | None]  # bbox, source, evidence, crop p


def candidates(record: dict[str, Any], judged: bool) -> list[Candidate]:
    """``(bbox, source, evidence, crop probability)`` of a frame's candidates; ``judged``: a
    classifier ran, so only the candidates whose crop it judged take part. A box with no area
    (a detector's sliver at the frame's edge) is no candidate."""
    found = []
    for key, source in SOURCES.items():
        items = record.get(key) or []
        if judged:
            items = [item for item in items[:CROPS_PER_SOURCE] if "crop_probability" in item]
        for item in items:
            if not has_area(item["bbox"]):
                continue
            crop = item.get("crop_probability")
            value = evidence(source, item["score"], crop)
            found.append((list(item["bbox"]), source, value, crop))
    return found


def fuse(found: list[Candidate], iou: float = CLUSTER_IOU) -> list[dict]:
    """Clusters of ``candidates`` → ``{"bbox", "score", "sources", "crop_probability"?}``, best
    first; ``crop_probability`` is the classifier's highest on the cluster's crops."""
    if not found:
        return []
    boxes = np.array([c[0] for c in found], dtype=float)
    values = np.array([c[2] for c in found], dtype=float)
    used = np.zeros(len(found), dtype=bool)
    fused = []
    for seed in np.argsort(-values, kind="stable"):
        if used[seed]:
            continue
        near = box_iou(boxes[seed], boxes) >= iou
        near[seed] = True  # a box is always its own cluster, whatever its shape
        members = np.flatnonzero(near & ~used)
        used[members] = True
        best: dict[str, float] = {}
        for index in members:
            source = found[index][1]
            best[source] = max(best.get(source, 0.0), values[index])
        localizer = next(src for src in LOCALIZERS if src in best)
        drawn = max((i for i in members if found[i][1] == localizer), key=lambda i: values[i])
        bbox = boxes[drawn]
        score = 1.0 - math.prod(1.0 - v for v in best.values())
        box = {
            "bbox": [round(float(v), 1) for v in bbox],
            "score": round(score, 4),
            "sources": {k: round(v, 4) for k, v in sorted(best.items())},
        }
        crops = [found[i][3] for i in members if found[i][3] is not None]
        if crops:
            box["crop_probability"] = round(float(max(crops)), 4)
        fused.append(box)
    fused.sort(key=lambda box: -box["score"])
    return fused
