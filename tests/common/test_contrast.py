"""Local contrast of infrared frames: grey frames equalized as OpenCV does, colour ones left be."""

from __future__ import annotations

import numpy as np
import pytest

from nolabel.components.common import contrast
from nolabel.components.common.contrast import clahe, equalize_infrared, is_greyscale


def foggy_frame(height: int = 96, width: int = 128) -> np.ndarray:
    """A grey frame of fog (levels 100–120) holding a faint animal two levels lighter."""
    rng = np.random.default_rng(0)
    grey = 100 + (20 * np.linspace(0, 1, width))[None, :] + rng.normal(0, 1, (height, width))
    grey[40:60, 50:80] += 2
    grey = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def test_an_infrared_frame_is_grey_and_a_colour_one_is_not():
    assert is_greyscale(foggy_frame())
    colour = foggy_frame().copy()
    colour[..., 0] //= 2  # a reddish cast
    assert not is_greyscale(colour)


def test_a_colour_frame_and_a_tiny_frame_are_returned_as_they_are():
    colour = foggy_frame().copy()
    colour[..., 2] = 0
    assert equalize_infrared(colour) is colour
    tiny = foggy_frame(8, 8)
    assert equalize_infrared(tiny) is tiny


def test_the_faint_animal_in_fog_stands_out_after_equalization():
    frame = foggy_frame()
    equalized = equalize_infrared(frame)
    assert equalized.shape == frame.shape and equalized.dtype == np.uint8
    assert is_greyscale(equalized)

    def lift(image):  # the animal's mean level above the fog around it
        grey = image[..., 0].astype(float)
        return grey[40:60, 50:80].mean() - grey[30:70, 40:90].mean()

    assert lift(equalized) > 3 * lift(frame)
    assert int(np.ptp(equalized)) > 1.5 * int(np.ptp(frame))  # the fog's few levels spread


@pytest.mark.parametrize("shape", [(64, 64), (64, 66), (66, 64), (448, 298), (17, 16), (9, 40)])
def test_numpy_clahe_matches_opencv_within_one_grey_level(shape):
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(1)
    grey = (rng.random(shape) * 120 + 40).astype(np.uint8)
    expected = cv2.createCLAHE(3.0, (8, 8)).apply(grey)
    difference = np.abs(expected.astype(int) - clahe(grey, 3.0))
    assert difference.max() <= 1
    assert (difference > 0).mean() < 0.03


def test_without_opencv_the_numpy_clahe_gives_the_same_frame(monkeypatch):
    pytest.importorskip("cv2")
    frame = foggy_frame()
    with_opencv = equalize_infrared(frame)
    monkeypatch.setattr(contrast, "_opencv", lambda: None)
    without = equalize_infrared(frame)
    assert np.abs(with_opencv.astype(int) - without).max() <= 1
