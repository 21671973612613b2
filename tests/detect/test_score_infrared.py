"""`nolabel score`: the finders see a lone grey frame equalized; the classifier sees it as taken,
and a burst's frames are left as taken for every model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nolabel.components.detect.contract import ScoreParams
from nolabel.components.detect.evidence import FrameModels, analyse
from nolabel.components.detect.frame_source import open_frames
from nolabel.components.detect.score import score_bursts
from tests.seeing_models import SeeingModel


def foggy(path, seed: int) -> None:
    """A grey frame of fog: levels 100–120."""
    levels = np.random.default_rng(seed).integers(100, 121, (96, 128), dtype=np.uint8)
    Image.fromarray(levels).convert("RGB").save(path)  # PNG: the levels survive exactly


@pytest.mark.parametrize("equalize", [True, False])
def test_only_the_lone_grey_frame_is_equalized_and_only_for_the_finders(tmp_path, equalize):
    card = tmp_path / "card"
    card.mkdir()
    names = ("lone.png", "burst_1.png", "burst_2.png")
    for index, name in enumerate(names):
        foggy(card / name, index)
    lone, first, second = (card / name for name in names)
    classifier, detector = SeeingModel(), SeeingModel()
    params = ScoreParams(
        images=str(card), out=str(tmp_path / "out.json"), burst_change=False,
        equalize_infrared=equalize, batch_size=1,
    )  # fmt: skip
    done, scored, _ = score_bursts(
        open_frames(str(card)), [[lone], [first, second]],
        FrameModels(classifier=classifier, detector=detector), {"models": "seeing"},
        tmp_path / "out.partial.jsonl", params, resume=False,
    )  # fmt: skip
    assert scored == 3 and set(done) == set(names)
    lone_seen, *burst_seen = detector.spreads
    assert (lone_seen > 60) == equalize  # CLAHE spreads the fog's 21 levels
    assert burst_seen == [20, 20]
    assert classifier.spreads == [20, 20, 20]  # the frames as taken


def test_the_finders_view_must_match_the_frames():
    frame = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="one for one"):
        analyse([frame], [(16, 16)], FrameModels(), 0.05, views=[frame[:8]])
    with pytest.raises(ValueError, match="one for one"):
        analyse([frame], [(16, 16)], FrameModels(), 0.05, views=[frame, frame])


def test_the_option_is_on_by_default_and_can_be_turned_off():
    assert ScoreParams(images="card", out="out.json").equalize_infrared is True
    off = ScoreParams(images="card", out="out.json", equalize_infrared=False)
    assert off.equalize_infrared is False
