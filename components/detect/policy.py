"""What a frame's result says: one box per animal where the evidence is sure, and a verdict.

Shared by ``nolabel score`` and ``/v1/predict`` so both answer alike. A frame's candidates (the
Faster R-CNN's boxes, the animal proposals, a burst's changed regions, each confirmed by the
classifier on its crop) are fused into one box per animal (:mod:`.fusion`); the frame's
``animal_score`` is its best fused box's score.

- ``animal``: ``animal_score`` reaches ``frame_gate``, or ``burst_gate`` when its burst is an
  animal burst (a burst is a unit: a weaker view of an animal the burst shows). A burst is an
  animal burst when one frame reaches ``frame_gate``, or when ``burst_views`` of its frames each
  reach ``burst_gate`` with the classifier calling the best box's crop positive: an animal seen
  faintly again and again (fog, far off, a dim flash) adds up as agreeing sources do. An
  ``animal`` frame's boxes are the fused ones scoring at least ``min_score`` and
  :data:`KEEP_RELATIVE` × its best (a herd keeps every sure animal, an animal keeps one box).
  A frame its burst lets in on one source alone (no other source agreeing on its best box) needs
  :data:`LONE_BURST_GATE`: the last frames of a burst, after the animal left, hold the change
  *ghost* it leaves in the burst's median or a stump the Faster R-CNN half believes.
- ``candidate``: not ``animal``, but its burst is an animal burst, or its own evidence
  reaches ``burst_gate``, or the classifier calls the whole frame positive: kept for review.
- ``empty``: none of that. An ``empty`` or ``candidate`` frame gets no box (their count is
  ``suppressed``; ``keep_negative`` reports them anyway).

Frames scored by the classifier alone (no detector, no proposals) keep the classifier's
verdict: ``animal`` at its threshold, ``candidate`` when only the burst's probability (mean
logit) reaches it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nolabel.components.common.bursts import burst_keys, burst_probability
from nolabel.components.common.defaults import (
    DEFAULT_BURST_GAP,
    DEFAULT_BURST_GATE,
    DEFAULT_BURST_VIEWS,
    DEFAULT_FRAME_GATE,
    DEFAULT_MIN_SCORE,
    VERDICTS,
)
from nolabel.components.detect.fusion import SOURCES, candidates, fuse

__all__ = ["VERDICTS", "FrameVerdict", "finish_records", "frame_verdict", "judge_frame"]
KEEP_RELATIVE = 0.7
LONE_BURST_GATE = 0.6  # the burst gate for a frame whose best box rests on one source alone


@dataclass
class FrameVerdict:
    """The policy's answer for one frame."""

    verdict: str
    boxes: list[dict] = field(default_factory=list)  # {"bbox", "score", "sources"}
    suppressed: int = 0  # fused boxes withheld because the frame is not an animal frame
    animal_score: float | None = None


def frame_verdict(probability: float, threshold: float, burst_probability: float | None) -> str:
    """The classifier-only verdict from the frame's and its burst's probability."""
    if probability >= threshold:
        return "animal"
    if burst_probability is not None and burst_probability >= threshold:
        return "candidate"
    return "empty"


def is_view(box: dict, burst_gate: float, threshold: float | None) -> bool:
    """Whether a frame's best fused box counts towards its burst's ``burst_views``: it reaches
    ``burst_gate`` and, where the classifier judged its crop, the crop is called positive."""
    crop = box.get("crop_probability")
    confirmed = crop is None or threshold is None or crop >= threshold
    return box["score"] >= burst_gate and confirmed


def has_candidates(record: dict[str, Any]) -> bool:
    """Whether a box source (detector, proposals, change) ran on the frame."""
    return any(key in record for key in SOURCES)


def fused_boxes(record: dict[str, Any]) -> list[dict]:
    """The frame's candidates fused into one box per animal, best first."""
    return fuse(candidates(record, judged="probability" in record))


def judge_frame(
    record: dict[str, Any],
    threshold: float | None,
    *,
    burst_has_animal: bool = False,
    frame_gate: float = DEFAULT_FRAME_GATE,
    burst_gate: float = DEFAULT_BURST_GATE,
    min_score: float = DEFAULT_MIN_SCORE,
    keep_negative: bool = False,
    fused: list[dict] | None = None,
) -> FrameVerdict:
    """The verdict and boxes of one frame with candidate sources (module docstring)."""
    fused = fused_boxes(record) if fused is None else fused
    best = fused[0]["score"] if fused else 0.0
    gate = burst_gate if burst_has_animal else frame_gate
    if burst_has_animal and fused and len(fused[0]["sources"]) == 1:
        gate = min(max(gate, LONE_BURST_GATE), frame_gate)  # one source alone: a ghost, a stump
    shown = [b for b in fused if b["score"] >= max(min_score, KEEP_RELATIVE * best)]
    if fused and best >= gate:
        return FrameVerdict("animal", shown, animal_score=best)
    probability = record.get("probability")
    positive = probability is not None and threshold is not None and probability >= threshold
    review = burst_has_animal or best >= burst_gate or positive
    return FrameVerdict(
        "candidate" if review else "empty",
        shown if keep_negative else [],
        suppressed=0 if keep_negative else len(shown),
        animal_score=best,
    )


def finish_records(
    images: list[dict[str, Any]],
    root: Path,
    threshold: float | None,
    *,
    mode: str = "auto",
    gap_seconds: float = DEFAULT_BURST_GAP,
    min_score: float = DEFAULT_MIN_SCORE,
    keep_negative: bool = False,
    frame_gate: float = DEFAULT_FRAME_GATE,
    burst_gate: float = DEFAULT_BURST_GATE,
    burst_views: int = DEFAULT_BURST_VIEWS,
    stamp: Callable[[str], datetime | None] | None = None,
) -> tuple[int, int]:
    """Scored frames (raw records) → bursts, burst probabilities, verdicts, ``animal_score`` and
    fused ``boxes``, in place (the raw candidates are dropped; the partial records keep them).
    Returns (number of bursts, boxes withheld); ``stamp`` as in ``burst_keys``."""
    rels = [r["path"] for r in images]
    keys = burst_keys(root, rels, mode=mode, gap_seconds=gap_seconds, stamp=stamp)
    has_probability = bool(images) and all("probability" in r for r in images)
    burst_p = (
        burst_probability([r["probability"] for r in images], [keys[r["path"]] for r in images])
        if has_probability
        else None
    )
    sizes: dict[str, int] = defaultdict(int)
    fused: list[list[dict] | None] = []
    burst_best: dict[str, float] = defaultdict(float)
    views: dict[str, int] = defaultdict(int)
    for record in images:
        key = keys[record["path"]]
        sizes[key] += 1
        boxes = fused_boxes(record) if has_candidates(record) else None
        fused.append(boxes)
        if boxes:
            burst_best[key] = max(burst_best[key], boxes[0]["score"])
            views[key] += is_view(boxes[0], burst_gate, threshold)
    animal_bursts = {
        key for key in sizes if burst_best[key] >= frame_gate or 0 < burst_views <= views[key]
    }
    withheld = 0
    for index, record in enumerate(images):
        key = keys[record["path"]]
        record["burst"], record["burst_size"] = key, sizes[key]
        if burst_p is not None:
            record["burst_probability"] = round(float(burst_p[index]), 6)
        if fused[index] is None:
            record["verdict"] = frame_verdict(
                record.get("probability", 0.0), threshold or 0.5, record.get("burst_probability")
            )
            continue
        result = judge_frame(
            record, threshold, burst_has_animal=key in animal_bursts,
            frame_gate=frame_gate, burst_gate=burst_gate, min_score=min_score,
            keep_negative=keep_negative, fused=fused[index],
        )  # fmt: skip
        record["verdict"], record["boxes"] = result.verdict, result.boxes
        record["animal_score"] = round(float(result.animal_score or 0.0), 4)
        for key in SOURCES:  # the candidates stay in the partial records
            record.pop(key, None)
        withheld += result.suppressed
    return len(sizes), withheld
