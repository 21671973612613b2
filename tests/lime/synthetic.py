"""Synthetic images and score functions where known regions drive the score."""

from __future__ import annotations

import numpy as np

RED = np.array([220, 30, 30], dtype=np.uint8)


def textured_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth grey-green background with mild noise (no red anywhere)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    coarse = rng.integers(60, 160, size=(5, 6, 3)).astype(np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BILINEAR))
    noisy = smooth.astype(np.int16) + rng.integers(-12, 13, size=(height, width, 3))
    image = np.clip(noisy, 0, 255).astype(np.uint8)
    image[..., 0] = image[..., 1] // 2  # keep red low so only the objects are red
    return image


def paint_boxes(image: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Paint red rectangles ``(x, y, w, h)`` on a copy of ``image``."""
    out = image.copy()
    for x, y, w, h in boxes:
        out[y : y + h, x : x + w] = RED
    return out


def red_fraction(batch: np.ndarray) -> np.ndarray:
    """Share of strongly red pixels in each image of an N×H×W×3 batch."""
    batch = np.asarray(batch).astype(np.int16)
    red = (batch[..., 0] > 150) & (batch[..., 1] < 90) & (batch[..., 2] < 90)
    return red.reshape(len(batch), -1).mean(axis=1)


def redness_score_fn(full_fraction: float):
    """score_fn: sigmoid of the red share relative to the red share of the unperturbed image."""

    def score(batch: np.ndarray) -> np.ndarray:
        ratio = red_fraction(batch) / full_fraction
        return 1.0 / (1.0 + np.exp(-10.0 * (ratio - 0.5)))

    return score
