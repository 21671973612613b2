"""Input checks and resolution of the LIME COCO file (local paths and store URIs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nolabel.components.common.errors import InputError
from nolabel.components.detect.data import prepare, split_by_image
from tests.detect.shapes import make_dataset


def _write(path, coco):
    path.write_text(json.dumps(coco), encoding="utf-8")
    return str(path)


def test_empty_coco_is_refused(tmp_path):
    boxes = _write(tmp_path / "empty.json", {"images": [], "annotations": [], "categories": []})
    with pytest.raises(InputError, match="has no images"):
        prepare(boxes, tmp_path)


def test_coco_without_boxes_is_refused(tmp_path):
    path, coco = make_dataset(tmp_path, 3, size=48)
    coco["annotations"] = []
    with pytest.raises(InputError, match="no usable boxes"):
        prepare(_write(path, coco), tmp_path)


def test_degenerate_boxes_count_as_no_boxes(tmp_path):
    path, coco = make_dataset(tmp_path, 2, size=48)
    for ann in coco["annotations"]:
        ann["bbox"] = [100.0, 100.0, 10.0, 10.0]  # outside the 48x48 image
    with pytest.raises(InputError, match="no usable boxes"):
        prepare(_write(path, coco), tmp_path)


def test_missing_images_are_refused(tmp_path):
    path, _ = make_dataset(tmp_path, 3, size=48)
    (tmp_path / "images" / "shape-0-0001.jpg").unlink()
    with pytest.raises(InputError, match="1 of 3 images are missing.*shape-0-0001.jpg"):
        prepare(str(path), tmp_path)


def test_not_coco_is_refused(tmp_path):
    with pytest.raises(InputError, match="not COCO"):
        prepare(_write(tmp_path / "x.json", {"hello": 1}), tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        prepare(str(tmp_path / "nope.json"), tmp_path)


def test_prepare_normalises_boxes_and_paths(tmp_path):
    path, coco = make_dataset(tmp_path, 3, size=48)
    coco["categories"] = [{"id": 7, "name": "lion"}]
    for ann in coco["annotations"]:
        ann["category_id"] = 7
    coco["annotations"][0]["bbox"] = [-5.0, -5.0, 20.0, 20.0]  # clipped to the image
    normalised, written = prepare(_write(path, coco), tmp_path / "work")
    assert written.is_file()
    assert normalised["categories"] == [{"id": 1, "name": "object"}]
    assert {a["category_id"] for a in normalised["annotations"]} == {1}
    assert normalised["annotations"][0]["bbox"] == [0.0, 0.0, 15.0, 15.0]
    assert all(img["file_name"].startswith(str(tmp_path)) for img in normalised["images"])


def test_store_uris_for_boxes_and_image_root(tmp_path, s3_bucket):
    from nolabel.components.common.store import open_store

    store = open_store()
    path, coco = make_dataset(tmp_path / "src", 3, size=48)
    for image in coco["images"]:
        store.put_file(
            f"datasets/demo/images/{image['file_name']}",
            tmp_path / "src" / "images" / image["file_name"],
        )
    coco["info"] = {"image_root": store.uri("datasets/demo/images")}
    uri = store.put_bytes("datasets/demo/lime/boxes.coco.json", json.dumps(coco).encode())
    assert uri.startswith("s3://")
    normalised, _ = prepare(uri, tmp_path / "work")
    assert len(normalised["images"]) == 3 and len(normalised["annotations"]) == 3
    for image in normalised["images"]:
        assert Path(image["file_name"]).read_bytes()[:3] == b"\xff\xd8\xff"  # downloaded JPEG


def test_split_is_by_image_seeded_and_disjoint(tmp_path):
    path, _ = make_dataset(tmp_path, 10, size=48)
    coco, _ = prepare(str(path), tmp_path / "work")
    train, val = split_by_image(coco, 0.3, seed=3)
    again_train, _ = split_by_image(coco, 0.3, seed=3)
    train_ids = {img["id"] for img in train["images"]}
    val_ids = {img["id"] for img in val["images"]}
    assert len(val_ids) == 3 and not train_ids & val_ids
    assert train_ids | val_ids == {img["id"] for img in coco["images"]}
    assert {a["image_id"] for a in val["annotations"]} <= val_ids
    assert train_ids == {img["id"] for img in again_train["images"]}


def test_split_needs_two_boxed_images(tmp_path):
    path, _ = make_dataset(tmp_path, 1, size=48)
    coco, _ = prepare(str(path), tmp_path / "work")
    with pytest.raises(InputError, match="at least 2 images"):
        split_by_image(coco, 0.2, seed=0)
