"""What a frame's result says: the classifier decides *whether*, the detector says *where*.

Shared by ``nolabel score`` and ``/v1/predict`` so both answer alike:

- ``animal``: the classifier calls the frame positive (probability ≥ its threshold);
- ``candidate``: the frame alone is negative but its burst is positive (a frame of a positive
  burst with a weak view of the animal is a candidate, not a miss);
- ``empty``: frame and burst negative. Its detector boxes are dropped (counted as suppressed),
  so an empty frame gets no box whatever the detector thought.

A frame gets boxes only when the detector's best box on it scores at least ``detector_gate``
(default 0.5: a detector trained with empty images knows "nothing here"; its weaker boxes on
camera-trap frames were mostly false, see the detect README); then every box whose combined
``score`` reaches ``min_score`` is reported. The combined ``score`` is the geometric mean of the
detector's score and the frame's evidence (the larger of its and its burst's probability), so box
scores rank frames by both models; ``detector_score`` keeps the detector's own. The verdict stays
the classifier's. Without a classifier the detector alone decides (a frame with a box reaching both
is ``animal``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nolabel.components.common.bursts import burst_keys, burst_probability

VERDICTS = ("animal", "candidate", "empty")
DETECTOR_GATE = 0.5  # the detector's best box on a frame must reach this (module docstring)


@dataclass
class FrameVerdict:
    """The policy's answer for one frame."""

    verdict: str
    boxes: list[dict] = field(default_factory=list)  # {"bbox", "score", "detector_score"}
    suppressed: int = 0  # detector boxes dropped because the frame is empty


def frame_verdict(probability: float, threshold: float, burst_probability: float | None) -> str:
    """``animal``, ``candidate`` or ``empty`` from the frame's and its burst's probability."""
    if probability >= threshold:
        return "animal"
    if burst_probability is not None and burst_probability >= threshold:
        return "candidate"
    return "empty"


def box_confidence(detector_score: float, evidence: float) -> float:
    """Geometric mean of the detector's score and the classifier's evidence, in [0, 1]."""
    return math.sqrt(min(max(detector_score, 0.0), 1.0) * min(max(evidence, 0.0), 1.0))


def apply_policy(
    boxes: Sequence[tuple[Sequence[float], float]],
    probability: float | None,
    threshold: float | None,
    burst_probability: float | None = None,
    min_score: float = 0.3,
    keep_negative: bool = False,
    detector_gate: float = DETECTOR_GATE,
) -> FrameVerdict:
    """Boxes ``(bbox, detector_score)`` of one frame → verdict and the boxes to report.

    ``probability``/``threshold`` None: no classifier, the detector decides. ``keep_negative``
    reports the detector's boxes on ``empty`` frames too (scored as usual).
    """
    if not any(s >= detector_gate for _, s in boxes):
        boxes = []  # the detector sees nothing here: no box, however weak
    if probability is None or threshold is None:
        kept = [
            {"bbox": list(bbox), "score": float(s), "detector_score": float(s)}
            for bbox, s in boxes
            if s >= min_score
        ]
        return FrameVerdict("animal" if kept else "empty", kept)
    verdict = frame_verdict(probability, threshold, burst_probability)
    evidence = max(probability, burst_probability or 0.0)
    scored = [
        {"bbox": list(bbox), "score": box_confidence(s, evidence), "detector_score": float(s)}
        for bbox, s in boxes
    ]
    kept = sorted((b for b in scored if b["score"] >= min_score), key=lambda b: -b["score"])
    if verdict == "empty" and not keep_negative:
        return FrameVerdict(verdict, [], suppressed=len(kept))
    return FrameVerdict(verdict, kept)


def finish_records(
    images: list[dict[str, Any]],
    root: Path,
    threshold: float | None,
    *,
    mode: str = "auto",
    gap_seconds: float = 10.0,
    min_score: float = 0.3,
    keep_negative: bool = False,
    with_boxes: bool = True,
    detector_gate: float = DETECTOR_GATE,
) -> tuple[int, int]:
    """Scored frames (``path``, ``probability``?, ``raw_boxes``?) → bursts, burst probabilities,
    verdicts and policy-filtered ``boxes``, in place.

    Returns (number of bursts, detector boxes suppressed on empty frames).
    """
    keys = burst_keys(root, [r["path"] for r in images], mode=mode, gap_seconds=gap_seconds)
    has_probability = bool(images) and all("probability" in r for r in images)
    burst_p = (
        burst_probability([r["probability"] for r in images], [keys[r["path"]] for r in images])
        if has_probability
        else None
    )
    sizes: dict[str, int] = {}
    for record in images:
        sizes[keys[record["path"]]] = sizes.get(keys[record["path"]], 0) + 1
    suppressed = 0
    for index, record in enumerate(images):
        record["burst"] = keys[record["path"]]
        record["burst_size"] = sizes[record["burst"]]
        probability = record.get("probability") if has_probability else None
        if burst_p is not None:
            record["burst_probability"] = round(float(burst_p[index]), 6)
        raw = [(b["bbox"], b["score"]) for b in record.pop("raw_boxes", [])]
        policy = apply_policy(
            raw,
            probability,
            threshold if probability is not None else None,
            record.get("burst_probability"),
            min_score,
            keep_negative=keep_negative,
            detector_gate=detector_gate,
        )
        record["verdict"] = policy.verdict
        if with_boxes:
            record["boxes"] = [
                {
                    "bbox": box["bbox"],
                    "score": round(box["score"], 4),
                    "detector_score": round(box["detector_score"], 4),
                }
                for box in policy.boxes
            ]
        suppressed += policy.suppressed
    return len(sizes), suppressed
