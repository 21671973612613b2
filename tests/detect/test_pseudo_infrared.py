"""Pseudo-boxes come from the user's frames as taken: a lone infrared frame is equalized for the
finders when it is scored, never when the detector's training boxes are drawn from it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nolabel.components.detect import score
from nolabel.components.detect.contract import ScoreParams
from nolabel.components.detect.evidence import FrameModels
from nolabel.components.detect.pseudo import fused_pseudo_boxes
from nolabel.components.detect.target_refine import target_animals
from tests.seeing_models import SeeingModel


@pytest.fixture
def seeing(tmp_path, monkeypatch):
    """A card of one lone foggy grey frame (levels 100–120); the models ``score`` loads keep
    what they were shown."""
    card = tmp_path / "card"
    card.mkdir()
    levels = np.random.default_rng(0).integers(100, 121, (96, 128), dtype=np.uint8)
    Image.fromarray(levels).convert("RGB").save(card / "lone.png")
    models = FrameModels(classifier=SeeingModel(), detector=SeeingModel())
    monkeypatch.setattr(score, "load_models", lambda params: models)
    return card, models


def test_score_shows_the_finders_the_lone_frame_equalized(seeing, tmp_path):
    card, models = seeing
    score.run_score(ScoreParams(images=str(card), out=str(tmp_path / "s.json"), proposals=False))
    assert models.detector.spreads[0] > 60 and models.classifier.spreads == [20]


def test_the_pseudo_boxes_are_drawn_from_the_frame_as_taken(seeing, tmp_path):
    card, models = seeing
    fused_pseudo_boxes(card, None, tmp_path)
    target_animals(
        tmp_path, str(card), None, bursts="auto", burst_gap=10.0, out=tmp_path / "t.json"
    )
    assert models.detector.spreads == [20, 20]  # both scorings: the fog's 21 levels, as taken
