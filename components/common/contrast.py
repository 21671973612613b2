"""Local contrast for infrared frames: what fog and a dim night flash hide from the models.

A night camera-trap frame is infrared: grey, often low in contrast (fog, a far flash), the animal
a shade lighter than the ground. :func:`equalize_infrared` spreads the grey levels of each
region of such a frame (CLAHE, contrast-limited adaptive histogram equalization: OpenCV's
``createCLAHE(clip_limit, (8, 8))``, or the same in numpy where OpenCV is not installed) before
the detector and the proposer look for animals in it; a colour frame is returned as it is.
"""

from __future__ import annotations

import numpy as np

DEFAULT_CLIP_LIMIT = 3.0  # × the mean count of a tile's histogram bin (OpenCV's clipLimit)
TILE_GRID = 8  # tiles across and down
GREY_TOLERANCE = 3.0  # mean |R − G| and |G − B| (grey levels) under which a frame is grey
LEVELS = 256


def is_greyscale(array: np.ndarray, tolerance: float = GREY_TOLERANCE) -> bool:
    """Whether an HxWx3 uint8 frame is grey (an infrared frame stored as RGB): its channels
    differ by less than ``tolerance`` grey levels on average (sampled every 4th pixel)."""
    sample = np.asarray(array)[::4, ::4].astype(np.int16)
    if sample.ndim != 3 or sample.shape[2] != 3 or sample.size == 0:
        return False
    red_green = np.abs(sample[..., 0] - sample[..., 1]).mean()
    green_blue = np.abs(sample[..., 1] - sample[..., 2]).mean()
    return bool(red_green < tolerance and green_blue < tolerance)


def _tile_luts(padded: np.ndarray, tiles: int, clip_limit: float) -> np.ndarray:
    """tiles × tiles × 256 lookup tables of the clipped, redistributed tile histograms."""
    height, width = padded.shape
    tile_h, tile_w = height // tiles, width // tiles
    blocks = padded.reshape(tiles, tile_h, tiles, tile_w).transpose(0, 2, 1, 3)
    index = np.arange(tiles * tiles).reshape(tiles, tiles, 1, 1) * LEVELS + blocks
    hist = np.bincount(index.ravel(), minlength=tiles * tiles * LEVELS).reshape(-1, LEVELS)
    area = tile_h * tile_w
    limit = max(int(clip_limit * area / LEVELS), 1)
    excess = np.maximum(hist - limit, 0).sum(axis=1)
    hist = np.minimum(hist, limit) + (excess // LEVELS)[:, None]
    residual = excess % LEVELS
    for row, left in enumerate(residual):  # the remainder, one each on evenly spaced bins
        if left:
            step = max(LEVELS // int(left), 1)
            hist[row, np.arange(0, LEVELS, step)[:left]] += 1
    luts = np.clip(np.rint(np.cumsum(hist, axis=1) * (LEVELS - 1) / area), 0, LEVELS - 1)
    return luts.reshape(tiles, tiles, LEVELS)


def _axis_weights(size: int, tile: int, tiles: int):
    """Per pixel along one axis: the two neighbouring tile centres and the weight of the second."""
    position = np.arange(size) / tile - 0.5  # OpenCV's: pixel index over tile size, − ½
    first = np.floor(position).astype(int)
    weight = position - first
    return np.clip(first, 0, tiles - 1), np.clip(first + 1, 0, tiles - 1), weight


def clahe(grey: np.ndarray, clip_limit: float = DEFAULT_CLIP_LIMIT, tiles: int = TILE_GRID):
    """CLAHE of an HxW uint8 image: each pixel mapped by the bilinear blend of the lookup tables
    of the four nearest tiles (the image mirrored at its bottom and right edges to a multiple of
    ``tiles``, as OpenCV does)."""
    grey = np.asarray(grey, dtype=np.uint8)
    height, width = grey.shape
    padded = grey
    if height % tiles or width % tiles:  # as OpenCV: both sides grow, a whole tile if need be
        pad = ((0, tiles - height % tiles), (0, tiles - width % tiles))
        padded = np.pad(grey, pad, mode="reflect" if min(height, width) > tiles else "edge")
    luts = _tile_luts(padded, tiles, clip_limit)
    tile_h, tile_w = padded.shape[0] // tiles, padded.shape[1] // tiles
    y1, y2, wy = _axis_weights(height, tile_h, tiles)
    x1, x2, wx = _axis_weights(width, tile_w, tiles)

    def across(row: np.ndarray) -> np.ndarray:  # one row of tile centres, blended along x
        return (
            luts[row[:, None], x1[None, :], grey] * (1 - wx)
            + luts[row[:, None], x2[None, :], grey] * wx
        )

    blended = across(y1) * (1 - wy[:, None]) + across(y2) * wy[:, None]
    return np.clip(np.rint(blended), 0, LEVELS - 1).astype(np.uint8)


def _opencv():
    """OpenCV when it is installed (the ``detect`` extra brings it), else None."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def equalize_infrared(array: np.ndarray, clip_limit: float = DEFAULT_CLIP_LIMIT) -> np.ndarray:
    """A grey HxWx3 uint8 frame with its local contrast equalized (:func:`clahe`); any other
    frame (colour, too small to tile) unchanged, as the same object."""
    array = np.asarray(array)
    if array.ndim != 3 or min(array.shape[:2]) < 2 * TILE_GRID or not is_greyscale(array):
        return array
    grey = np.rint(array.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
    grey = np.ascontiguousarray(grey.astype(np.uint8))
    opencv = _opencv()
    if opencv is not None:  # ten times faster; equal to :func:`clahe` within one grey level
        equalized = opencv.createCLAHE(clip_limit, (TILE_GRID, TILE_GRID)).apply(grey)
    else:
        equalized = clahe(grey, clip_limit)
    return np.ascontiguousarray(np.repeat(equalized[..., None], 3, axis=2))
