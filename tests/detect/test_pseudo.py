"""Pseudo-boxes on the user's frames from change within positive bursts (no training here)."""

from __future__ import annotations

import pytest

from nolabel.components.common.images import list_images
from nolabel.components.detect import step
from nolabel.components.detect.contract import DetectTrainParams
from nolabel.components.detect.pseudo import change_pseudo_boxes
from tests.common.test_change import _burst, _iou
from tests.detect.conftest import nolabel_home
from tests.detect.shapes import make_dataset

MOVING = [(10, 100, 80, 56), (80, 110, 80, 56), (150, 120, 80, 56), (220, 100, 80, 56)]


def _card(tmp_path):
    """A card: a burst with an animal, a still burst, and a single frame."""
    card = tmp_path / "card"
    _burst(card / "walk", MOVING, seed=1)
    _burst(card / "still", [None] * 4, seed=2)
    _burst(card / "single", [MOVING[0]], seed=3)
    return card


def test_moving_animals_in_positive_bursts_get_boxes_and_nothing_else_does(tmp_path):
    card = _card(tmp_path)
    ranked = [(path, 0.9) for path in list_images(card)]
    coco = change_pseudo_boxes(card, ranked, 0.5, min_change=3.0)
    boxed = sorted(img["file_name"] for img in coco["images"])
    assert boxed == sorted(str(p) for p in (card / "walk").glob("*.jpg"))
    for img in coco["images"]:
        index = int(img["file_name"][-6:-4]) - 1
        boxes = [a["bbox"] for a in coco["annotations"] if a["image_id"] == img["id"]]
        assert max(_iou(box, MOVING[index]) for box in boxes) >= 0.5
        assert (img["width"], img["height"]) == (320, 240)
    assert len({a["id"] for a in coco["annotations"]}) == len(coco["annotations"])
    # A burst the classifier calls negative teaches nothing, however much moves in it.
    negative = [(path, 0.9 if "walk" not in str(path) else 0.1) for path, _ in ranked]
    assert change_pseudo_boxes(card, negative, 0.5, min_change=3.0)["images"] == []
    # Bursts can be turned off: every frame alone, no change to see.
    alone = change_pseudo_boxes(card, ranked, 0.5, min_change=3.0, bursts="none")
    assert alone["images"] == []


def test_pseudo_boxed_frames_join_training_and_are_never_also_negatives(tmp_path, monkeypatch):
    card = _card(tmp_path)

    class Classifier:
        threshold = 0.5

    # The last walking frame scores under the threshold on its own (a negative candidate), but
    # its burst is positive and the animal moves there: it is pseudo-boxed, not a negative.
    def probability(path):
        if "walk" in str(path):
            return 0.3 if path.name.endswith("_04.jpg") else 0.9
        return 0.05

    ranked = sorted(((p, probability(p)) for p in list_images(card)), key=lambda item: item[1])
    monkeypatch.setattr(step, "load_classifier", lambda uri: Classifier())
    monkeypatch.setattr(step, "rank_frames", lambda target, classifier: ranked)
    params = DetectTrainParams(
        boxes="b.json", target=str(card), classifier="c", target_empty_share=1.0,
        target_boxes="change",
    )  # fmt: skip
    negatives, pseudo = step.from_target(params, tmp_path)
    walking = {str(p) for p in (card / "walk").glob("*.jpg")}
    assert {img["file_name"] for img in pseudo["images"]} == walking
    assert {str(p) for p in negatives} == {str(p) for p, q in ranked if q < 0.1}
    none_params = params.model_copy(update={"target_boxes": "none"})
    negatives, pseudo = step.from_target(none_params, tmp_path)
    assert pseudo["images"] == [] and len(negatives) == 6  # 4 still + 1 single + 1 walking


@pytest.mark.slow
def test_detect_train_learns_from_the_pseudo_boxed_target_frames(tmp_path, monkeypatch):
    """The whole step: pseudo-boxed target frames join the training set, counted apart."""
    card = _card(tmp_path)

    class Classifier:
        threshold = 0.5

    ranked = sorted(((p, 0.9 if "walk" in str(p) else 0.05) for p in list_images(card)),
                    key=lambda item: item[1])  # fmt: skip
    monkeypatch.setattr(step, "load_classifier", lambda uri: Classifier())
    monkeypatch.setattr(step, "rank_frames", lambda target, classifier: ranked)
    boxes, _ = make_dataset(tmp_path / "lime", 10, size=64, seed=1)
    with nolabel_home(tmp_path / "home"):
        result = step.run(
            DetectTrainParams(
                boxes=str(boxes), epochs=1, image_size=64, batch_size=4, overlays=0,
                register_model=False, target=str(card), classifier="c",
                target_empty_share=0.5, target_boxes="change", target_rounds=0,
            )
        )  # fmt: skip
    assert result.pseudo_boxed_images == 4  # the walking burst
    assert result.negative_images == 4  # half the card, all from the still burst or single
    assert result.train_images == 8 + 4 + 4  # 8 of 10 photos (val 0.2) + pseudo + negatives
