"""Decoding, tiles and the proposer on a converted hand-written detector of bright blobs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from nolabel.components.common.errors import InputError
from nolabel.components.proposals.decode import decode_centernet, decode_nanodet, nms
from nolabel.components.proposals.proposer import AnimalProposer, network_size, tile_windows
from nolabel.components.proposals.tfjs import read_graph_model
from nolabel.components.proposals.tfjs_onnx import convert
from tests.proposals.tiny_graphs import blob_centernet


def test_nanodet_decoding_places_a_box_around_its_cell():
    width = height = 64
    outputs = []
    for stride in (8, 16, 32):
        cells = (width // stride) * (height // stride)
        cls = np.zeros((1, cells, 80), np.float32)
        reg = np.full((1, cells, 44), -20.0, np.float32)
        reg[..., [0, 11, 22, 33]] = 20.0  # every side at bin 0: a zero-size box
        if stride == 8:
            cell = 2 * 8 + 3  # row 2, column 3: centre (28, 20)
            cls[0, cell, 17] = 0.9  # horse
            cls[0, cell, 0] = 0.7  # person
            reg[0, cell] = -20.0
            reg[0, cell, [2, 11 + 1, 22 + 3, 33 + 4]] = 20.0  # sides 2, 1, 3, 4 bins
        outputs += [cls, reg]
    boxes, scores, classes = decode_nanodet(outputs, width, height, range(14, 24), 0.5)
    assert classes.tolist() == [17] and scores[0] == pytest.approx(0.9)
    np.testing.assert_allclose(boxes[0], [28 - 16, 20 - 8, 28 + 24, 20 + 32], atol=1e-3)
    _, person, _ = decode_nanodet(outputs, width, height, (0,), 0.5)
    assert person.tolist() == pytest.approx([0.7])


def test_centernet_decoding_keeps_local_maxima_only():
    heat = np.zeros((1, 8, 8, 80), np.float32)
    heat[0, 2, 3, 20], heat[0, 2, 4, 20] = 0.8, 0.6  # a peak and its shoulder
    heat[0, 6, 6, 18] = 0.4
    sizes = np.full((1, 8, 8, 4), 5.0, np.float32)
    boxes, scores, classes = decode_centernet(heat, sizes, range(14, 24), 0.1)
    assert scores.tolist() == pytest.approx([0.8, 0.4]) and classes.tolist() == [20, 18]
    np.testing.assert_allclose(boxes[0], [12 - 5, 8 - 5, 12 + 5, 8 + 5])


def test_nms_and_geometry():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], np.float32)
    assert nms(boxes, np.array([0.5, 0.9, 0.1], np.float32)).tolist() == [1, 2]
    assert network_size(1024, 768, 640) == (640, 480)
    assert network_size(100, 3000, 640) == (32, 640)
    windows = tile_windows(1000, 600, 2)
    assert len(windows) == 4 and windows[0][:2] == (0, 0) and windows[-1][2:] == (1000, 600)
    assert tile_windows(1000, 600, 0) == []


@pytest.fixture
def blob_model(tmp_path: Path) -> str:
    model_json, shards = blob_centernet().files(["tower_0/keypoints", "tower_0/wh"])
    model = convert(read_graph_model(model_json, shards), dynamic_axes={1: "h", 2: "w"})
    path = tmp_path / "blobs.onnx"
    onnx.save(model, str(path))
    return str(path)


def _frame(width: int, height: int, blobs: list[tuple[int, int]], side: int = 16) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    for x, y in blobs:
        image[y : y + side, x : x + side] = 255
    return image


def test_proposer_finds_each_blob_in_frame_pixels(blob_model: str):
    proposer = AnimalProposer(input_side=256, path=blob_model, min_score=0.5)
    found = proposer.propose(_frame(512, 384, [(100, 60), (400, 300)])).of("animal")
    assert len(found) == 2 and set(found.classes.tolist()) == {15}
    centres = sorted(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in found.boxes)
    np.testing.assert_allclose(centres, [(108, 68), (408, 308)], atol=12)
    assert proposer.propose(_frame(512, 384, [])).of("animal").boxes.shape == (0, 4)


def test_tiles_find_a_blob_too_small_for_the_whole_frame(blob_model: str):
    frame = _frame(1024, 768, [(700, 500)], side=8)  # 2 px at the frame's 256-px pass
    whole = AnimalProposer(input_side=256, path=blob_model, min_score=0.5)
    assert len(whole.propose(frame).of("animal")) == 0
    tiled = AnimalProposer(input_side=256, tiles=3, path=blob_model, min_score=0.5)
    (box,) = tiled.propose(frame).of("animal").boxes
    assert 690 <= (box[0] + box[2]) / 2 <= 720 and 490 <= (box[1] + box[3]) / 2 <= 520
    assert tiled.identity.endswith("@256x3t")


def test_bad_input_is_refused(blob_model: str):
    proposer = AnimalProposer(input_side=256, path=blob_model)
    with pytest.raises(InputError, match="uint8 RGB"):
        proposer.propose(np.zeros((10, 10), np.float32))
    with pytest.raises(InputError, match="unknown proposal model"):
        AnimalProposer("yolo", path=blob_model)
