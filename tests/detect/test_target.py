"""Negatives and the user's frames in the detector's training set (no training here)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from nolabel.components.common.errors import InputError
from nolabel.components.detect.data import add_negatives, boxed_only, negative_images
from nolabel.components.detect.target import confident_empty, merge_coco, paste_objects, rank_frames
from tests.detect.shapes import make_dataset


def _noise_frames(folder, count, grey=False, seed=0, size=(60, 80)):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        pixels = rng.integers(0, 90, size=(*size, 1 if grey else 3), dtype=np.uint8)
        Image.fromarray(np.repeat(pixels, 3, axis=2) if grey else pixels).save(
            folder / f"frame_{index:02d}.jpg"
        )
    return sorted(folder.glob("*.jpg"))


def test_boxed_only_drops_unboxed_images_and_negatives_are_added_without_boxes(tmp_path):
    coco = {
        "images": [{"id": 1, "file_name": "a"}, {"id": 2, "file_name": "b"}],
        "annotations": [{"id": 1, "image_id": 2, "bbox": [0, 0, 4, 4]}],
        "categories": [{"id": 1, "name": "object"}],
    }
    assert [img["id"] for img in boxed_only(coco)["images"]] == [2]
    frames = _noise_frames(tmp_path / "empty", 3)
    (tmp_path / "empty" / "broken.jpg").write_bytes(b"not an image")
    found = negative_images([str(tmp_path / "empty")], limit=None, seed=0)
    assert len(found) == 4
    merged = add_negatives(boxed_only(coco), found)
    added = merged["images"][1:]
    assert [img["file_name"] for img in added] == [str(p.resolve()) for p in frames]
    assert {img["id"] for img in added}.isdisjoint({2}) and added[0]["width"] == 80
    assert merged["annotations"] == coco["annotations"]  # negatives bring no box
    assert len(negative_images([str(tmp_path / "empty")], limit=2, seed=0)) == 2


def test_negatives_from_a_dataset_and_unknown_source(tmp_path, monkeypatch):
    from nolabel.components.common.settings import get_settings
    from nolabel.components.crawl.step import CrawlParams, run

    monkeypatch.setenv("NOLABEL_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    try:
        run(
            CrawlParams(
                dataset="shapes", provider="demo", positive=["thing"], negative=["clutter"],
                per_page=6,
            )
        )  # fmt: skip
        found = negative_images(["shapes"], limit=None, seed=0)
        assert found and all(p.is_file() for p in found)
        with pytest.raises(InputError, match="neither a directory nor a dataset"):
            negative_images(["no-such-dataset"], limit=None, seed=0)
    finally:
        get_settings.cache_clear()


class _Brightness:
    """A stand-in classifier: brighter frames are likelier to hold the object."""

    input_size, threshold = 32, 0.5

    def predict_proba(self, arrays):
        return np.array([a.mean() / 255.0 for a in arrays])


def test_confident_empty_frames_are_the_least_likely_under_the_threshold(tmp_path):
    folder = tmp_path / "card"
    folder.mkdir()
    for index, level in enumerate((10, 40, 200, 250)):
        Image.fromarray(np.full((20, 20, 3), level, np.uint8)).save(folder / f"f{index}.png")
    (folder / "notes.jpg").write_text("not an image")
    ranked = rank_frames(str(folder), _Brightness())
    assert [p.name for p, _ in ranked] == ["f0.png", "f1.png", "f2.png", "f3.png"]
    assert [p.name for p in confident_empty(ranked, 0.5, share=0.5)] == ["f0.png", "f1.png"]
    assert [p.name for p in confident_empty(ranked, 0.1, share=1.0)] == ["f0.png"]
    (tmp_path / "nothing").mkdir()
    with pytest.raises(InputError, match="no images"):
        rank_frames(str(tmp_path / "nothing"), _Brightness())


def test_pasted_objects_land_inside_grey_backgrounds_with_their_boxes(tmp_path):
    coco_path, _ = make_dataset(tmp_path / "web", 4, size=64, seed=3)
    coco = json.loads(coco_path.read_text())
    for image in coco["images"]:
        image["file_name"] = str(tmp_path / "web" / "images" / image["file_name"])
    backgrounds = _noise_frames(tmp_path / "night", 3, grey=True)
    pasted = paste_objects(coco, backgrounds, count=6, out_dir=tmp_path / "pastes", seed=1)
    assert len(pasted["images"]) == 6 and len(pasted["annotations"]) == 6
    for image, ann in zip(pasted["images"], pasted["annotations"], strict=True):
        x, y, w, h = ann["bbox"]
        assert x >= 0 and y >= 0 and x + w <= image["width"] and y + h <= image["height"]
        assert w >= 8 and h >= 8
        pixels = np.asarray(Image.open(image["file_name"]), dtype=int)
        assert np.abs(pixels[..., 0] - pixels[..., 2]).mean() < 4  # grey stays grey
    merged = merge_coco(coco, pasted)
    assert len({img["id"] for img in merged["images"]}) == 10
    assert len({ann["id"] for ann in merged["annotations"]}) == 10
    image_ids = {img["id"] for img in merged["images"]}
    assert all(ann["image_id"] in image_ids for ann in merged["annotations"])
    assert paste_objects(coco, [], 5, tmp_path / "none")["images"] == []


def test_pasted_object_keeps_its_shape_and_gets_a_tight_box(tmp_path):
    from nolabel.components.lime.boxes import box_masks

    web = tmp_path / "web.png"
    pixels = np.zeros((80, 80, 3), np.uint8)
    pixels[20:60, 30:50] = 255  # a tall white object in a wide box of dark background
    Image.fromarray(pixels).save(web)
    mask = pixels[..., 0] > 0
    ann = {"id": 1, "image_id": 1, "bbox": [10.0, 10.0, 60.0, 60.0]}
    ann["segmentation"] = box_masks(mask, [ann])[0]
    coco = {
        "images": [{"id": 1, "file_name": str(web), "width": 80, "height": 80}],
        "annotations": [ann],
        "categories": [{"id": 1, "name": "object"}],
    }
    backgrounds = _noise_frames(tmp_path / "night", 2, grey=True, size=(240, 320))
    pasted = paste_objects(coco, backgrounds, count=4, out_dir=tmp_path / "p", seed=2)
    assert len(pasted["annotations"]) == 4
    for image, ann in zip(pasted["images"], pasted["annotations"], strict=True):
        x, y, w, h = ann["bbox"]
        assert h > 1.3 * w  # the tall object, not its square box
        composite = np.asarray(Image.open(image["file_name"]).convert("L"), dtype=float)
        inside = composite[int(y) : int(y + h), int(x) : int(x + w)]
        assert inside.mean() > composite.mean() + 20  # the bright object is where the box says
