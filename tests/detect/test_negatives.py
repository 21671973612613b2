"""A detector trained with images holding nothing boxes nothing on an empty frame."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.detect.conftest import nolabel_home
from tests.detect.shapes import make_dataset

pytestmark = pytest.mark.slow
SURE = 0.5  # a detector score this high, alone, is half-way to score's frame gate


def _distractor(rng: np.random.Generator, size: int = 64) -> Image.Image:
    """A dark noisy frame with a dim grey blob: no bright shape, so nothing to find."""
    image = Image.fromarray(rng.integers(0, 60, size=(size, size, 3), dtype=np.uint8))
    w, h = (int(v) for v in rng.integers(size // 4, size // 2, size=2))
    x, y = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
    level = int(rng.integers(70, 110))
    ImageDraw.Draw(image).ellipse([x, y, x + w - 1, y + h - 1], fill=(level, level, level))
    return image


def _frames(folder, count, seed):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        _distractor(rng).save(folder / f"empty_{index:03d}.jpg", quality=95)
    return folder


@pytest.fixture(scope="module")
def negatives_detector(tmp_path_factory):
    """Trained like the session's detector, plus 40 empty frames, with the camera-trap config."""
    from nolabel.components.detect.predictor import load_detector
    from nolabel.components.detect.step import DetectTrainParams, run

    root = tmp_path_factory.mktemp("negatives")
    boxes, _ = make_dataset(root / "lime", 40, size=64, seed=1)
    with nolabel_home(root / "home"):
        result = run(
            DetectTrainParams(
                boxes=str(boxes), config="faster-rcnn_effnet-lite0_fpn_camtrap", epochs=6,
                image_size=64, batch_size=4, overlays=0, register_model=False,
                negatives=[str(_frames(root / "empty", 40, seed=3))], max_negatives=40,
            )
        )  # fmt: skip
        yield result, load_detector(result.model_uri)


def _top_scores(detector, images) -> np.ndarray:
    found = detector.predict([np.asarray(image) for image in images])
    return np.array([float(f["scores"].max()) if len(f["scores"]) else 0.0 for f in found])


def test_empty_frames_get_no_box_and_shapes_are_still_found(
    negatives_detector, trained_detector, detector_home
):
    from nolabel.components.detect.predictor import load_detector

    result, detector = negatives_detector
    assert result.negative_images == 40 and result.train_images == 32 + 40
    rng = np.random.default_rng(11)
    empty = [_distractor(rng) for _ in range(20)]
    with_negatives = _top_scores(detector, empty)
    # Most empty frames get no sure box. A detector this small varies
    # from machine to machine (on one: 1 of these 20 frames at the config's lr, 3 after 8
    # epochs, 14 at lr 0.01, which passed elsewhere); the issue's ≤ 5 % on real frames is
    # measured by benchmarks/camtrap_quality.py.
    assert (with_negatives >= SURE).mean() <= 0.2, with_negatives
    # The session's detector never saw an empty frame: it boxes more of them, more surely.
    without = _top_scores(load_detector(trained_detector.result.model_uri), empty)
    assert with_negatives.mean() < without.mean(), (with_negatives, without)
    from tests.detect.shapes import make_image

    shapes = [make_image(rng, 64)[0] for _ in range(10)]
    assert (_top_scores(detector, shapes) >= SURE).mean() >= 0.8
