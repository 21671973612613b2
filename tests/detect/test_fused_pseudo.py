"""Target pseudo-boxes from what `score` (no detector) is sure of: single frames too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nolabel.components.common.settings import get_settings
from nolabel.components.detect import step
from nolabel.components.detect.contract import DetectTrainParams
from nolabel.components.detect.pseudo import fused_pseudo_boxes
from nolabel.components.detect.target_refine import model_dir
from tests.detect.conftest import nolabel_home
from tests.detect.shapes import make_dataset
from tests.proposals.tiny_graphs import install_blob_proposer

BLOB = 24  # pixels: a white "animal" on a dark, noisy scene


def _frame(rng: np.random.Generator, where: tuple[int, int] | None) -> Image.Image:
    array = rng.integers(0, 50, size=(192, 256, 3), dtype=np.uint8)
    if where is not None:
        x, y = where
        array[y : y + BLOB, x : x + BLOB] = 255
    return Image.fromarray(array)


@pytest.fixture
def blob_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A burst with an animal walking, an empty burst, a single photo with one, one without;
    the blob detector as the proposer."""
    monkeypatch.setenv("NOLABEL_WEIGHTS_DIR", str(tmp_path / "weights"))
    get_settings.cache_clear()
    install_blob_proposer(tmp_path / "weights", half=32.0)  # 640 px network: ±13 frame pixels
    rng = np.random.default_rng(4)
    card = tmp_path / "card"
    card.mkdir()
    for index, where in enumerate([(20, 40), (80, 60), (140, 80), (200, 100)]):
        _frame(rng, where).save(card / f"SEQ1_{index + 1:02d}.jpg", quality=95)
    for index in range(3):
        _frame(rng, None).save(card / f"SEQ2_{index + 1:02d}.jpg", quality=95)
    _frame(rng, (100, 120)).save(card / "single_animal.jpg", quality=95)
    _frame(rng, None).save(card / "single_empty.jpg", quality=95)
    return card


@pytest.fixture
def blob_classifier(tmp_path: Path) -> Path:
    """A pixels classifier: a white blob somewhere (positive) vs a dark noisy scene."""
    from nolabel.components.transfer.quick import train_classifier_from_arrays

    rng = np.random.default_rng(7)
    positives = [np.asarray(_frame(rng, tuple(rng.integers(0, 160, 2)))) for _ in range(16)]
    crops = [np.full((40, 40, 3), 255, np.uint8) for _ in range(4)]  # a crop of a blob
    negatives = [np.asarray(_frame(rng, None)) for _ in range(20)]
    target = tmp_path / "classifier"
    train_classifier_from_arrays(
        positives + crops + negatives, [1] * 20 + [0] * 20, backbone="pixels", input_size=32,
        register=False, model_dir=target,
    )  # fmt: skip
    return target


@pytest.mark.slow
def test_sure_animals_become_pseudo_boxes_in_bursts_and_single_photos(
    blob_card: Path, blob_classifier: Path, tmp_path: Path
):
    coco, ranked, evidence, threshold = fused_pseudo_boxes(
        blob_card, str(blob_classifier), tmp_path, bursts="name"
    )
    boxed = sorted(Path(img["file_name"]).name for img in coco["images"])
    assert boxed == ["SEQ1_01.jpg", "SEQ1_02.jpg", "SEQ1_03.jpg", "SEQ1_04.jpg",
                     "single_animal.jpg"]  # fmt: skip
    truth = {"SEQ1_01.jpg": (20, 40), "SEQ1_04.jpg": (200, 100), "single_animal.jpg": (100, 120)}
    for img in coco["images"]:  # the best box (first) is on the animal
        x, y, w, h = next(a["bbox"] for a in coco["annotations"] if a["image_id"] == img["id"])
        name = Path(img["file_name"]).name
        if name in truth:
            assert abs(x + w / 2 - truth[name][0] - BLOB / 2) <= 8
            assert abs(y + h / 2 - truth[name][1] - BLOB / 2) <= 8
    assert len(ranked) == 9 and 0 < threshold < 1
    assert evidence[str(blob_card / "single_empty.jpg")] < 0.5


@pytest.mark.slow
def test_from_target_keeps_animals_out_of_the_negatives(
    blob_card: Path, blob_classifier: Path, tmp_path: Path
):
    params = DetectTrainParams(
        boxes="b.json", target=str(blob_card), classifier=str(blob_classifier),
        target_empty_share=1.0, bursts="name",
    )  # fmt: skip
    negatives, pseudo = step.from_target(params, tmp_path)
    assert len(pseudo["images"]) == 5
    assert sorted(p.name for p in negatives) == [
        "SEQ2_01.jpg", "SEQ2_02.jpg", "SEQ2_03.jpg", "single_empty.jpg"
    ]  # fmt: skip


@pytest.mark.slow
def test_both_takes_change_boxes_where_a_burst_moves_and_fused_boxes_elsewhere(
    blob_card: Path, blob_classifier: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    first = str(blob_card / "SEQ1_01.jpg")
    moving = {  # what the change rule would give: one frame, one box
        "images": [{"id": 1, "file_name": first, "width": 256, "height": 192}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [18, 38, 28, 28],
                         "area": 784, "iscrowd": 0}],
    }  # fmt: skip
    monkeypatch.setattr(step, "change_pseudo_boxes", lambda *args, **kwargs: moving)
    params = DetectTrainParams(
        boxes="b.json", target=str(blob_card), classifier=str(blob_classifier),
        target_empty_share=1.0, bursts="name", target_boxes="both",
    )  # fmt: skip
    negatives, pseudo = step.from_target(params, tmp_path)
    names = [Path(img["file_name"]).name for img in pseudo["images"]]
    assert sorted(names) == ["SEQ1_01.jpg", "SEQ1_02.jpg", "SEQ1_03.jpg", "SEQ1_04.jpg",
                             "single_animal.jpg"]  # fmt: skip
    assert len(set(names)) == len(names)  # a frame once
    by_name = {Path(i["file_name"]).name: i["id"] for i in pseudo["images"]}
    walk = [a["bbox"] for a in pseudo["annotations"] if a["image_id"] == by_name["SEQ1_01.jpg"]]
    assert walk == [[18, 38, 28, 28]]  # the change box, not the fused ones too
    assert len({a["id"] for a in pseudo["annotations"]}) == len(pseudo["annotations"])
    assert "SEQ1_01.jpg" not in {p.name for p in negatives}


def test_model_dir_holds_what_score_loads(tmp_path: Path):
    from nolabel.components.detect.predictor import find_model_files

    (tmp_path / "detector.py").write_text("model = {}\n")
    (tmp_path / "epoch_1.pth").write_bytes(b"weights")
    folder = model_dir(tmp_path / "detector.py", tmp_path / "epoch_1.pth", tmp_path / "m")
    config, checkpoint = find_model_files(folder)
    assert config.read_text() == "model = {}\n" and checkpoint.read_bytes() == b"weights"


@pytest.mark.slow
def test_detect_train_pseudo_boxes_the_target_with_itself_and_fine_tunes(
    blob_card: Path, blob_classifier: Path, tmp_path: Path
):
    """The whole step on a card: round 1 learns from the detector-free pseudo-boxes, then the
    detector scores the card as `score` does and is fine-tuned on the frames called animal."""
    boxes, _ = make_dataset(tmp_path / "lime", 10, size=64, seed=1)
    params = DetectTrainParams(
        boxes=str(boxes), epochs=1, image_size=64, batch_size=4, overlays=0,
        register_model=False, target=str(blob_card), classifier=str(blob_classifier),
        bursts="name", refine_rounds=0,
    )  # fmt: skip
    with nolabel_home(tmp_path / "home"):
        result = step.run(params)
    assert result.pseudo_boxed_images == 5  # detector-free: the walking burst and the single one
    assert result.metrics["target_1_pseudo_boxed_images"] >= 1
