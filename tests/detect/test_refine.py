"""Self-training: which boxes the detector's own boxes replace, and the fine-tuning config."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from nolabel.components.detect.config import load_config
from nolabel.components.detect.refine import loose_boxed, rebox, refine_config


class FixedDetector:
    """Predicts the same boxes for every image, and counts the images it saw."""

    def __init__(self, boxes: list[list[float]], scores: list[float]) -> None:
        self.boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        self.scores = np.asarray(scores, dtype=np.float32)
        self.seen = 0

    def predict(self, images: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        self.seen += len(images)
        return [{"boxes": self.boxes, "scores": self.scores} for _ in images]


def _coco(tmp_path, boxed: dict[str, list[list[float]]]) -> dict:
    images, annotations = [], []
    for index, (name, boxes) in enumerate(sorted(boxed.items()), start=1):
        path = tmp_path / name
        Image.new("RGB", (64, 48), (90, 120, 60)).save(path)
        images.append({"id": index, "file_name": str(path), "width": 64, "height": 48})
        for box in boxes:
            annotations.append(
                {"id": len(annotations) + 1, "image_id": index, "category_id": 1, "bbox": box,
                 "area": box[2] * box[3], "iscrowd": 0}
            )  # fmt: skip
    return {"images": images, "annotations": annotations, "categories": [{"id": 1}]}


def _boxes(coco: dict, name: str) -> list[list[float]]:
    (image,) = [img for img in coco["images"] if img["file_name"].endswith(name)]
    return [a["bbox"] for a in coco["annotations"] if a["image_id"] == image["id"]]


def test_confident_boxes_replace_the_given_ones_where_allowed(tmp_path):
    coco = _coco(
        tmp_path,
        {"web.jpg": [[0, 0, 64, 48]], "pasted.jpg": [[5, 5, 10, 10]], "negative.jpg": []},
    )
    detector = FixedDetector([[10, 8, 40, 30], [0, 0, 60, 40], [1, 1, 2, 40]], [0.9, 0.5, 0.95])
    reboxable = {img["file_name"] for img in coco["images"] if "pasted" not in img["file_name"]}
    refined, reboxed = rebox(detector, coco, reboxable, min_score=0.7)
    assert reboxed == 1
    # the 0.9 box replaces the frame-sized one; the 0.5 box is too weak, the 0.95 one too thin
    assert _boxes(refined, "web.jpg") == [[10.0, 8.0, 30.0, 22.0]]
    assert _boxes(refined, "pasted.jpg") == [[5, 5, 10, 10]]  # not reboxable: as given
    assert _boxes(refined, "negative.jpg") == []  # a negative stays a negative
    assert detector.seen == 1
    assert [a["id"] for a in refined["annotations"]] == [1, 2]
    assert refined["images"] == coco["images"]


def test_an_image_the_detector_finds_nothing_in_keeps_its_boxes(tmp_path):
    coco = _coco(tmp_path, {"a.jpg": [[3, 4, 20, 10], [30, 20, 10, 10]]})
    names = {img["file_name"] for img in coco["images"]}
    refined, reboxed = rebox(FixedDetector([[0, 0, 30, 30]], [0.69]), coco, names, 0.7)
    assert reboxed == 0
    assert _boxes(refined, "a.jpg") == [[3, 4, 20, 10], [30, 20, 10, 10]]


def test_only_images_boxed_by_lime_alone_are_reboxed(tmp_path):
    coco = _coco(tmp_path, {"lime.jpg": [[0, 0, 9, 9]], "chosen.jpg": [[1, 1, 9, 9]],
                            "mixed.jpg": [[2, 2, 9, 9], [20, 20, 9, 9]], "old.jpg": [[3, 3, 9, 9]],
                            "negative.jpg": []})  # fmt: skip
    sources = {"lime.jpg": ["lime"], "chosen.jpg": ["proposal"], "mixed.jpg": ["lime", "proposal"]}
    names = {img["id"]: img["file_name"].rsplit("/", 1)[-1] for img in coco["images"]}
    seen: dict[str, int] = {}
    for ann in coco["annotations"]:
        name = names[ann["image_id"]]
        if name in sources:
            ann["source"] = sources[name][seen.setdefault(name, 0)]
            seen[name] += 1
    loose = {path.rsplit("/", 1)[-1] for path in loose_boxed(coco)}
    assert loose == {"lime.jpg", "old.jpg"}  # a box without a source counts as LIME's own


def test_data_keeps_each_boxes_source(tmp_path):
    from nolabel.components.detect.data import prepare

    coco = _coco(tmp_path, {"a.jpg": [[0, 0, 9, 9], [10, 10, 9, 9], [20, 20, 9, 9]]})
    for ann, source in zip(coco["annotations"], ["lime", "proposal", "guess"], strict=True):
        ann["source"] = source
    (tmp_path / "boxes.json").write_text(json.dumps(coco))
    prepared, _ = prepare(str(tmp_path / "boxes.json"), tmp_path, images_dir=str(tmp_path))
    assert [a.get("source") for a in prepared["annotations"]] == ["lime", "proposal", None]


def test_refine_config_fine_tunes_from_the_checkpoint_and_leaves_the_original(tmp_path):
    cfg = load_config()
    epochs = cfg.train_cfg.max_epochs
    refined = refine_config(cfg, str(tmp_path / "model.pth"), epochs=3, train_images=12)
    assert refined.load_from == str(tmp_path / "model.pth")
    assert refined.train_cfg.max_epochs == 3
    assert cfg.train_cfg.max_epochs == epochs and cfg.get("load_from") != refined.load_from


@pytest.mark.parametrize("rounds", [-1, 11])
def test_refine_rounds_out_of_range_are_refused(rounds):
    from pydantic import ValidationError

    from nolabel.components.detect.contract import DetectTrainParams

    with pytest.raises(ValidationError):
        DetectTrainParams(boxes="b.json", refine_rounds=rounds)
