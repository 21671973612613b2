"""The verdict policy shared by score and /v1/predict, and bursts in score's final records."""

from __future__ import annotations

import math

import pytest

from nolabel.components.detect.policy import (
    apply_policy,
    box_confidence,
    finish_records,
    frame_verdict,
)


def test_frame_verdicts():
    assert frame_verdict(0.9, 0.5, None) == "animal"
    assert frame_verdict(0.2, 0.5, 0.7) == "candidate"
    assert frame_verdict(0.2, 0.5, 0.3) == "empty"
    assert frame_verdict(0.2, 0.5, None) == "empty"


def test_empty_frame_gets_no_box_and_counts_them_suppressed():
    boxes = [([0, 0, 10, 10], 0.99), ([5, 5, 9, 9], 0.8)]
    result = apply_policy(boxes, probability=0.01, threshold=0.5, min_score=0.05)
    assert result.verdict == "empty" and result.boxes == [] and result.suppressed == 2
    kept = apply_policy(boxes, 0.01, 0.5, min_score=0.05, keep_negative=True)
    assert len(kept.boxes) == 2


def test_box_score_combines_detector_and_classifier():
    result = apply_policy([([0, 0, 4, 4], 0.81)], probability=0.64, threshold=0.5, min_score=0)
    (box,) = result.boxes
    assert box["score"] == pytest.approx(math.sqrt(0.81 * 0.64))
    assert box["detector_score"] == 0.81
    assert box_confidence(2.0, -1.0) == 0.0
    # A weak frame of a positive burst is a candidate; its burst's evidence counts.
    candidate = apply_policy([([0, 0, 4, 4], 0.81)], 0.3, 0.5, burst_probability=0.9)
    assert candidate.verdict == "candidate"
    assert candidate.boxes[0]["score"] == pytest.approx(math.sqrt(0.81 * 0.9))


def test_min_score_applies_to_the_combined_score():
    result = apply_policy([([0, 0, 4, 4], 0.5), ([1, 1, 4, 4], 0.95)], 0.6, 0.5, min_score=0.6)
    assert [b["detector_score"] for b in result.boxes] == [0.95]


def test_a_frame_whose_best_detector_box_is_weak_gets_no_box_whatever_the_classifier_says():
    weak = [([0, 0, 4, 4], 0.3), ([1, 1, 4, 4], 0.4)]
    # sqrt(0.4 * 0.99) = 0.63 passes min_score, but the detector sees nothing sure on the frame.
    doubted = apply_policy(weak, 0.99, 0.5, min_score=0.3, detector_gate=0.5)
    assert doubted.verdict == "animal" and doubted.boxes == []
    assert len(apply_policy(weak, 0.99, 0.5, min_score=0.3, detector_gate=0).boxes) == 2
    # One sure box opens the frame: the weaker ones reaching min_score come with it (a herd).
    herd = apply_policy(weak + [([2, 2, 4, 4], 0.9)], 0.99, 0.5, min_score=0.3)
    assert [b["detector_score"] for b in herd.boxes] == [0.9, 0.4, 0.3]
    assert apply_policy(weak, None, None, min_score=0.1, detector_gate=0.5).verdict == "empty"


def test_without_classifier_the_detector_decides():
    assert apply_policy([([0, 0, 4, 4], 0.2)], None, None, min_score=0.3).verdict == "empty"
    found = apply_policy([([0, 0, 4, 4], 0.6)], None, None, min_score=0.3)
    assert found.verdict == "animal" and found.boxes[0]["score"] == 0.6


def test_finish_records_groups_bursts_by_name(tmp_path):
    images = [
        {
            "path": "SEQ1_01.jpg",
            "probability": 0.9,
            "raw_boxes": [{"bbox": [0, 0, 5, 5], "score": 0.9}],
        },
        {
            "path": "SEQ1_02.jpg",
            "probability": 0.3,
            "raw_boxes": [{"bbox": [1, 1, 5, 5], "score": 0.9}],
        },
        {
            "path": "SEQ2_01.jpg",
            "probability": 0.1,
            "raw_boxes": [{"bbox": [1, 1, 5, 5], "score": 0.99}],
        },
    ]
    bursts, suppressed = finish_records(images, tmp_path, 0.5, mode="name", min_score=0.3)
    assert bursts == 2 and suppressed == 1
    first, second, third = images
    assert first["burst"] == second["burst"] == "SEQ1" and first["burst_size"] == 2
    assert first["burst_probability"] == second["burst_probability"] > 0.5
    assert [r["verdict"] for r in images] == ["animal", "candidate", "empty"]
    assert len(second["boxes"]) == 1 and third["boxes"] == []
    assert all("raw_boxes" not in r for r in images)
