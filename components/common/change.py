"""Boxes from change within a burst: what differs from the burst's still background.

A camera trap shoots a burst of frames from a fixed place; the scene stays, the animal moves.
The per-pixel median of the burst is the background; in each frame the regions that stand out
from it, relative to the frame's own noise level (median absolute deviation), are the moving
things. No model and no label: it works on any species, by night and by day, and gives boxes on
the user's own frames that the detector can learn from.

A burst needs at least ``MIN_FRAMES`` frames of one size (with two the median is their mean and
each frame shows both positions); fewer give no boxes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nolabel.components.common.safe_files import UnsafeFileError, open_regular

MIN_FRAMES = 3
SCALE = 4  # frames are compared at 1/4 of their size: noise drops, small animals survive
SMOOTH_SIGMA = 2.0  # Gaussian smoothing of the difference, in downscaled pixels
Z_THRESHOLD = 5.0  # a pixel changed if it is this many deviations above the frame's median
MIN_AREA = 0.001  # a region smaller than this share of the frame is noise
ROW_GAIN_ROUNDS = 2  # rounds of evening out each row's brightness (flash fall-off)
CORE_SHARE = 0.1  # a region's box spans its pixels at least this share of its peak change


@dataclass(frozen=True)
class ChangeBox:
    """A changed region: ``[x, y, w, h]`` in the frame's pixels and its strength.

    ``score`` = mean deviation of the region × √(its share of the frame): strong and large
    changes first. Typical animals score 3–50, noise and light flicker under 2.
    """

    bbox: tuple[float, float, float, float]
    score: float


def _load_grey(path: Path | bytes, scale: int) -> np.ndarray | None:
    """The frame (a file, or its bytes) in grey at 1/``scale``; None when it is unreadable or
    no longer a regular file (never through a link, never a FIFO: see ``common.safe_files``)."""
    from PIL import Image

    try:
        if isinstance(path, bytes):
            stream = io.BytesIO(path)
        else:
            stream = os.fdopen(open_regular(path.parent, path.name), "rb")
    except (OSError, UnsafeFileError):
        return None
    try:
        with stream, Image.open(stream) as image:
            width, height = image.size
            small = image.convert("L").resize(
                (max(8, width // scale), max(8, height // scale)), Image.BILINEAR
            )
            return np.asarray(small, dtype=np.float32)
    except (OSError, ValueError):
        return None  # an unreadable frame takes no part


def _regions(deviation: np.ndarray, scale: int, z_threshold: float, min_area: float):
    from scipy import ndimage

    changed = ndimage.binary_opening(deviation >= z_threshold, iterations=1)
    labels, _ = ndimage.label(changed)
    boxes = []
    for index, window in enumerate(ndimage.find_objects(labels), start=1):
        if window is None:
            continue
        inside = labels[window] == index
        share = float(inside.sum()) / changed.size
        if share < min_area:
            continue
        values = deviation[window]
        strength = float(values[inside].mean()) * share**0.5
        # Smoothing spreads a strong change beyond the animal: box its core only.
        core = inside & (values >= max(z_threshold, CORE_SHARE * float(values[inside].max())))
        rows, cols = np.nonzero(core)
        top, left = window[0].start + rows.min(), window[1].start + cols.min()
        bbox = (
            float(left * scale),
            float(top * scale),
            float((cols.max() - cols.min() + 1) * scale),
            float((rows.max() - rows.min() + 1) * scale),
        )
        boxes.append(ChangeBox(bbox, round(strength, 3)))
    return sorted(boxes, key=lambda box: -box.score)


def change_boxes(
    paths: Sequence[Path | bytes],
    *,
    z_threshold: float = Z_THRESHOLD,
    min_area: float = MIN_AREA,
    scale: int = SCALE,
) -> list[list[ChangeBox]]:
    """For each frame of one burst (a file, or its bytes), its changed regions (strongest first).

    Frames of another size than the burst's most common one, unreadable frames and bursts of
    fewer than ``MIN_FRAMES`` usable frames get no boxes.
    """
    from scipy import ndimage

    grey = [_load_grey(p if isinstance(p, bytes) else Path(p), scale) for p in paths]
    shapes = [g.shape for g in grey if g is not None]
    result: list[list[ChangeBox]] = [[] for _ in paths]
    if len(shapes) < MIN_FRAMES:
        return result
    common = max(set(shapes), key=shapes.count)
    members = [i for i, g in enumerate(grey) if g is not None and g.shape == common]
    if len(members) < MIN_FRAMES:
        return result
    stack = np.stack([grey[i] for i in members])
    # Infrared flashes and clouds change a frame's brightness as a whole: even it out first.
    stack = stack / (stack.mean(axis=(1, 2), keepdims=True) + 1e-6) * 128.0
    background = np.median(stack, axis=0)
    # An infrared flash fades with distance, which runs down the frame: a brighter or dimmer
    # flash changes whole rows. Each row's gain against the background (its median ratio, which
    # an animal covering under half the row does not move) is evened out too.
    for _ in range(ROW_GAIN_ROUNDS):
        gain = np.median((stack + 4.0) / (background + 4.0), axis=2, keepdims=True)
        stack = (stack + 4.0) / gain - 4.0
        background = np.median(stack, axis=0)
    for index, frame in zip(members, stack, strict=True):
        difference = ndimage.gaussian_filter(np.abs(frame - background), SMOOTH_SIGMA)
        level = np.median(difference)
        spread = np.median(np.abs(difference - level)) + 1e-6
        result[index] = _regions((difference - level) / spread, scale, z_threshold, min_area)
    return result
