"""LIME's heat map choosing among animal proposals."""

from __future__ import annotations

import numpy as np

from nolabel.components.lime.proposals import choose_proposals
from nolabel.components.proposals.proposer import Proposals


class Fixed:
    """A proposer that always proposes the same boxes."""

    def __init__(self, boxes, scores):
        self.found = Proposals(
            np.asarray(boxes, np.float32), np.asarray(scores, np.float32),
            np.full(len(scores), 15), ["animal"] * len(scores),
        )  # fmt: skip

    def propose(self, image):
        return self.found


IMAGE = np.zeros((100, 200, 3), np.uint8)


def _heat(*regions, size=(100, 200)):
    heat = np.zeros(size, np.float32)
    for x1, y1, x2, y2, value in regions:
        heat[y1:y2, x1:x2] = value
    return heat


def test_the_proposal_holding_lime_s_evidence_is_chosen_over_a_surer_one_elsewhere():
    heat = _heat((30, 20, 70, 60, 1.0))  # LIME: the left animal
    proposer = Fixed([[150, 10, 190, 60], [25, 15, 75, 65]], [0.6, 0.25])
    mask = heat > 0
    (box,) = choose_proposals(IMAGE, heat, mask, proposer)
    assert box["bbox"] == [25.0, 15.0, 50.0, 50.0] and box["source"] == "proposal"
    assert box["score"] == 0.25  # all of the weight × the detector's 0.25
    assert box["segmentation"]["size"] == [100, 200]


def test_a_herd_keeps_every_sure_proposal_holding_evidence_and_lime_stays_without_one():
    heat = _heat((20, 20, 60, 60, 1.0), (120, 20, 160, 60, 0.8))
    proposer = Fixed([[18, 18, 62, 62], [118, 18, 162, 62], [0, 80, 10, 90]], [0.5, 0.4, 0.9])
    boxes = choose_proposals(IMAGE, heat, heat > 0, proposer)
    assert [b["bbox"][0] for b in boxes] == [18.0, 118.0]  # not the stray sure one
    assert choose_proposals(IMAGE, heat, heat > 0, Fixed([[0, 80, 10, 90]], [0.9])) is None
    assert choose_proposals(IMAGE, -heat, heat > 0, proposer) is None  # no positive evidence
