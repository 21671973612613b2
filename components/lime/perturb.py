"""Perturbed images: on/off samples, fills, vectorised composition and batched scoring."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

ScoreFn = Callable[[np.ndarray], np.ndarray]


def fill_image(image: np.ndarray, how: str) -> np.ndarray:
    """The picture shown where superpixels are switched off."""
    if how == "black":
        return np.zeros_like(image)
    if how == "mean":
        mean = image.reshape(-1, 3).mean(axis=0)
        return np.broadcast_to(mean.round().astype(np.uint8), image.shape).copy()
    from PIL import Image, ImageFilter

    radius = max(2.0, 0.04 * max(image.shape[:2]))
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius)))


def sample_masks(num_features: int, params: Any, seed: int) -> np.ndarray:
    """num_samples × num_features on/off matrix; row 0 is all on (the original image)."""
    rng = np.random.default_rng(seed)
    masks = rng.random((params.num_samples, num_features)) < params.keep_probability
    masks[0] = True
    return masks


def _pack(rgb: np.ndarray) -> np.ndarray:
    """HxW uint32 view of an RGB image padded to 4 bytes per pixel (one word per pixel)."""
    padded = np.zeros(rgb.shape[:2] + (4,), dtype=np.uint8)
    padded[..., :3] = rgb
    return padded.view(np.uint32)[..., 0]


def compose(image: np.ndarray, fill: np.ndarray, segments: np.ndarray, masks: np.ndarray):
    """Perturbed images (N×H×W×3 uint8): pixels of 'on' superpixels from image, else fill.

    Pixels are moved as packed 32-bit words (several times faster than per-channel selection);
    the result is a strided N×H×W×3 view of that buffer.
    """
    on = masks[:, segments]
    packed = np.where(on, _pack(image)[None], _pack(fill)[None])
    return packed[..., None].view(np.uint8)[..., :3]


def score_masks(
    image: np.ndarray,
    fill: np.ndarray,
    segments: np.ndarray,
    masks: np.ndarray,
    score_fn: ScoreFn,
    batch_size: int,
    timings: dict[str, float],
) -> np.ndarray:
    """Scores of the perturbed images, composed and scored ``batch_size`` at a time."""
    scores = np.empty(len(masks), dtype=float)
    packed_image, packed_fill = _pack(image)[None], _pack(fill)[None]
    for start in range(0, len(masks), batch_size):
        t0 = time.perf_counter()
        on = masks[start : start + batch_size][:, segments]
        batch = np.where(on, packed_image, packed_fill)[..., None].view(np.uint8)[..., :3]
        t1 = time.perf_counter()
        values = np.asarray(score_fn(batch), dtype=float).reshape(-1)
        timings["score"] += time.perf_counter() - t1
        timings["compose"] += t1 - t0
        if len(values) != len(batch):
            raise ValueError(f"score_fn returned {len(values)} scores for {len(batch)} images")
        scores[start : start + len(batch)] = values
    return scores
