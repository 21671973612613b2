"""Box rules on synthetic superpixel weights: which superpixels form the object."""

from __future__ import annotations

import numpy as np
import pytest

from nolabel.components.lime.boxes import boxes_from_weights, select_superpixels


def _grid(rows: int = 4, cols: int = 4, cell: int = 10) -> np.ndarray:
    """Segment map of a rows×cols grid of cell×cell superpixels, numbered row by row."""
    return np.kron(np.arange(rows * cols).reshape(rows, cols), np.ones((cell, cell), int))


def test_relative_rule_leaves_out_weak_superpixels_that_coverage_swallows():
    weights = np.full(16, 0.05)  # many weak positives spread over the frame…
    weights[[5, 6]] = 1.0  # …and the object: two strong neighbours
    coverage = select_superpixels(weights, coverage=0.75)
    relative = select_superpixels(weights, coverage=0.75, rule="relative", cut=0.5)
    assert coverage.sum() > 2  # 75 % of the weight needs weak ones too
    assert np.flatnonzero(relative).tolist() == [5, 6]
    (box,) = boxes_from_weights(weights, _grid(), rule="relative", cut=0.5)
    assert box["bbox"] == [10.0, 10.0, 20.0, 10.0]
    wide = boxes_from_weights(weights, _grid(), coverage=0.75, split=False)
    assert wide[0]["bbox"][2] * wide[0]["bbox"][3] > 200


def test_percentile_rule_keeps_the_top_decile():
    weights = np.linspace(-1, 1, 20)
    chosen = select_superpixels(weights, coverage=0.75, rule="percentile", cut=0.9)
    assert np.flatnonzero(chosen).tolist() == [18, 19]


def test_no_positive_weight_no_superpixel_and_unknown_rule_refused():
    assert not select_superpixels(-np.ones(5), 0.75, rule="relative").any()
    with pytest.raises(ValueError, match="unknown box rule"):
        select_superpixels(np.ones(3), 0.75, rule="otsu")


def test_box_masks_hold_the_object_pixels_inside_each_box():
    from pycocotools import mask as rle

    from nolabel.components.lime.boxes import box_masks

    mask = np.zeros((30, 40), dtype=bool)
    mask[5:10, 5:15] = True  # object 1
    mask[20:28, 30:38] = True  # object 2, outside the first box
    (code,) = box_masks(mask, [{"bbox": [0.0, 0.0, 20.0, 15.0]}])
    assert code["size"] == [30, 40] and isinstance(code["counts"], str)
    decoded = rle.decode({"size": code["size"], "counts": code["counts"].encode()})
    assert decoded.sum() == 50 and decoded[5:10, 5:15].all()
