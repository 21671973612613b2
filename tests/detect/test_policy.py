"""The policy shared by score and /v1/predict: fused boxes, gates, verdicts, bursts as units."""

from __future__ import annotations

import pytest

from nolabel.components.detect.fusion import evidence, fuse, strength
from nolabel.components.detect.policy import finish_records, frame_verdict, judge_frame


def _item(bbox, score, crop=None):
    item = {"bbox": list(bbox), "score": score}
    if crop is not None:
        item["crop_probability"] = crop
    return item


def test_classifier_only_verdicts():
    assert frame_verdict(0.9, 0.5, None) == "animal"
    assert frame_verdict(0.2, 0.5, 0.7) == "candidate"
    assert frame_verdict(0.2, 0.5, 0.3) == "empty"


def test_strengths_and_crop_confirmation():
    assert strength("detector", 0.7) == 0.7 and strength("detector", 3.0) == 1.0
    assert strength("proposal", 0.15) == pytest.approx(0.5) and strength("proposal", 0.6) == 1.0
    assert strength("change", 5.0) == pytest.approx(0.5) and strength("change", -1) == 0.0
    assert evidence("proposal", 0.3, 0.25) == pytest.approx(0.5)
    assert evidence("detector", 0.9, None) == pytest.approx(0.9)


def test_sources_that_agree_make_one_stronger_box():
    found = [
        ([100, 100, 200, 200], "detector", 0.6, 0.8),
        ([110, 105, 210, 190], "proposal", 0.7, 0.9),
        ([400, 50, 450, 90], "proposal", 0.4, 0.3),
    ]
    animal, stray = fuse(found)
    assert animal["score"] == pytest.approx(1 - 0.4 * 0.3)  # noisy-OR of two sources
    assert animal["sources"] == {"detector": 0.6, "proposal": 0.7}
    assert animal["crop_probability"] == 0.9
    assert animal["bbox"] == [110, 105, 210, 190]  # the COCO proposal draws the box
    assert stray["score"] == pytest.approx(0.4)
    repeat = fuse(
        [([0, 0, 10, 10], "detector", 0.6, None), ([0, 0, 10, 11], "detector", 0.5, None)]
    )
    assert len(repeat) == 1 and repeat[0]["score"] == pytest.approx(0.6)  # one source: no OR


def test_a_box_with_no_area_is_no_candidate_and_breaks_nothing():
    """A Faster R-CNN sliver at the frame's edge ([0, 2.8, 0, 24] on a real camera-trap frame)
    crashed the whole `score` run."""
    record = _frame(
        probability=0.9,
        raw_boxes=[_item([0.0, 2.8, 0.0, 24.0], 0.05, 0.02), _item([10, 10, 60, 60], 0.95, 0.99)],
        proposals=[_item([5, 5, 5, 5], 0.9, 0.9), _item([0, 0, float("nan"), 10], 0.9, 0.9)],
    )  # fmt: skip
    result = judge_frame(record, 0.5)
    assert [box["bbox"] for box in result.boxes] == [[10, 10, 60, 60]]
    assert fuse([([0, 2.8, 0, 24], "detector", 0.5, None)])[0]["bbox"] == [0, 2.8, 0, 24]
    assert judge_frame(_frame(raw_boxes=[_item([0, 2.8, 0, 24], 0.9, 0.9)]), 0.5).boxes == []


def _frame(**sources):
    record = {"path": "a.jpg", "probability": sources.pop("probability", 0.2)}
    record.update(sources)
    return record


def test_a_sure_box_makes_an_animal_frame_with_one_box_per_animal():
    record = _frame(
        raw_boxes=[_item([0, 0, 50, 50], 0.95, 0.99), _item([2, 2, 50, 52], 0.9, 0.99),
                   _item([200, 200, 260, 250], 0.2, 0.1)],
        proposals=[_item([1, 1, 49, 50], 0.4, 0.97)],
    )  # fmt: skip
    result = judge_frame(record, 0.5)
    assert result.verdict == "animal" and len(result.boxes) == 1
    assert (
        result.animal_score == pytest.approx(result.boxes[0]["score"]) and result.animal_score > 0.9
    )


def test_a_herd_keeps_every_sure_animal():
    record = _frame(
        proposals=[_item([0, 0, 40, 40], 0.5, 0.99), _item([100, 0, 140, 40], 0.45, 0.98),
                   _item([200, 0, 240, 40], 0.12, 0.2)],
    )  # fmt: skip
    result = judge_frame(record, 0.5)
    assert result.verdict == "animal" and len(result.boxes) == 2


def test_weak_evidence_gets_no_box_and_a_review_verdict_or_empty():
    weak = _frame(raw_boxes=[_item([0, 0, 10, 10], 0.5, 0.6)], probability=0.1)
    result = judge_frame(weak, 0.5, min_score=0.3)
    assert result.verdict == "candidate" and result.boxes == [] and result.suppressed == 1
    shown = judge_frame(weak, 0.5, min_score=0.3, keep_negative=True)
    assert shown.verdict == "candidate" and len(shown.boxes) == 1
    nothing = _frame(raw_boxes=[_item([0, 0, 10, 10], 0.1, 0.1)], probability=0.1)
    assert judge_frame(nothing, 0.5).verdict == "empty"
    whole = _frame(raw_boxes=[], proposals=[], probability=0.9)  # the whole frame says yes
    assert judge_frame(whole, 0.5).verdict == "candidate"
    assert judge_frame(weak, 0.5, frame_gate=0.5).verdict == "animal"


def test_without_classifier_the_detector_and_proposals_decide():
    record = {"path": "a.jpg", "raw_boxes": [_item([0, 0, 5, 5], 0.95)]}
    assert judge_frame(record, None).verdict == "animal"
    record = {"path": "a.jpg", "raw_boxes": [_item([0, 0, 5, 5], 0.2)]}
    assert judge_frame(record, None).verdict == "empty"


def test_a_burst_is_a_unit(tmp_path):
    sure = [_item([10, 10, 60, 60], 0.97, 0.99)]
    weaker = [_item([12, 10, 64, 60], 0.45, 0.8)]  # evidence 0.6: under 0.9, over 0.5
    faint = [_item([12, 10, 64, 60], 0.1, 0.2)]  # evidence 0.14
    images = [
        _frame(path="SEQ1_01.jpg", raw_boxes=weaker),
        _frame(path="SEQ1_02.jpg", raw_boxes=sure),
        _frame(path="SEQ1_03.jpg", raw_boxes=faint),
        _frame(path="SEQ2_01.jpg", raw_boxes=weaker),
        _frame(path="SEQ3_01.jpg", raw_boxes=faint),
    ]
    bursts, withheld = finish_records(images, tmp_path, 0.5, mode="name")
    assert bursts == 3
    assert [r["verdict"] for r in images] == ["animal", "animal", "candidate", "candidate", "empty"]
    assert [len(r["boxes"]) for r in images] == [1, 1, 0, 0, 0]
    assert images[0]["burst"] == "SEQ1" and images[0]["burst_size"] == 3
    assert withheld == 1  # SEQ2's lone weak box
    assert all("raw_boxes" not in r and "animal_score" in r for r in images)


def test_a_burst_seen_faintly_again_and_again_is_an_animal_burst(tmp_path):
    seen = _item([12, 10, 64, 60], 0.5, 0.8)  # evidence 0.63, its crop called positive
    unsure = _item([12, 10, 64, 60], 0.9, 0.3)  # evidence 0.52, its crop called negative
    images = [_frame(path=f"SEQ1_0{i}.jpg", raw_boxes=[seen]) for i in range(1, 5)]
    images += [_frame(path=f"SEQ2_0{i}.jpg", raw_boxes=[seen]) for i in range(1, 4)]
    images += [_frame(path=f"SEQ3_0{i}.jpg", raw_boxes=[unsure]) for i in range(1, 5)]
    images.append(_frame(path="SEQ1_05.jpg", raw_boxes=[unsure]))
    finish_records(images, tmp_path, 0.5, mode="name")
    verdicts = [r["verdict"] for r in images]
    assert verdicts[:4] == ["animal"] * 4  # four views: an animal burst
    assert verdicts[-1] == "candidate"  # one source alone under the lone gate
    assert verdicts[4:7] == ["candidate"] * 3  # three views are not enough
    assert verdicts[7:11] == ["candidate"] * 4  # views whose crops the classifier rejects
    assert all(len(r["boxes"]) == 1 for r in images[:4])
    again = [_frame(path=f"SEQ1_0{i}.jpg", raw_boxes=[seen]) for i in range(1, 5)]
    finish_records(again, tmp_path, 0.5, mode="name", burst_views=0)
    assert {r["verdict"] for r in again} == {"candidate"}  # 0: only a sure frame makes one


def test_a_frame_its_burst_lets_in_on_one_source_needs_more(tmp_path):
    sure = [_item([10, 10, 60, 60], 0.97, 0.99)]
    lone = _item([200, 10, 260, 60], 0.3, 0.99)  # evidence 0.55: over the burst gate, alone
    images = [
        _frame(path="SEQ1_01.jpg", raw_boxes=sure),
        _frame(path="SEQ1_02.jpg", raw_boxes=[lone]),  # a stump after the animal left
        _frame(
            path="SEQ1_03.jpg", raw_boxes=[lone], proposals=[_item([202, 10, 262, 60], 0.05, 0.9)]
        ),
    ]
    finish_records(images, tmp_path, 0.5, mode="name")
    assert [r["verdict"] for r in images] == ["animal", "candidate", "animal"]
    assert images[2]["boxes"][0]["sources"].keys() == {"detector", "proposal"}


def test_classifier_only_records_keep_the_classifier_verdict(tmp_path):
    images = [
        {"path": "SEQ1_01.jpg", "probability": 0.9},
        {"path": "SEQ1_02.jpg", "probability": 0.3},
        {"path": "SEQ2_01.jpg", "probability": 0.1},
    ]
    bursts, withheld = finish_records(images, tmp_path, 0.5, mode="name")
    assert (bursts, withheld) == (2, 0)
    assert [r["verdict"] for r in images] == ["animal", "candidate", "empty"]
    assert all("boxes" not in r for r in images)
