"""What the models say about a frame, before any policy: degenerate boxes never get through."""

from __future__ import annotations

import numpy as np

from nolabel.components.detect.evidence import FrameModels, analyse


class SliverDetector:
    """A Faster R-CNN stand-in whose best box is a sliver that rounds to no width."""

    def predict(self, arrays):
        boxes = np.array([[0.0, 2.8, 0.01, 24.0], [10.0, 10.0, 60.0, 60.0]], dtype=np.float32)
        return [{"boxes": boxes, "scores": np.array([0.9, 0.8], dtype=np.float32)} for _ in arrays]


def test_a_box_that_rounds_to_no_area_is_dropped():
    array = np.zeros((64, 80, 3), dtype=np.uint8)
    (record,) = analyse([array], [(80, 64)], FrameModels(detector=SliverDetector()), box_floor=0.05)
    assert record["raw_boxes"] == [{"bbox": [10.0, 10.0, 60.0, 60.0], "score": 0.8}]
