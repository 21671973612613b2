"""LIME for one image: superpixels, random on/off samples, batch scoring, weighted fit, boxes.

``explain_image(image, score_fn, params)`` is the core every path uses (CLI, Spark, serve).
Perturbed images are composed vectorised from an on/off matrix indexed by the segment map and
scored in batches; identical samples are scored once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nolabel.components.common.errors import InputError
from nolabel.components.lime.boxes import box_masks, boxes_from_weights, select_superpixels
from nolabel.components.lime.contract import LimeParams
from nolabel.components.lime.overlay import heatmap_png as render
from nolabel.components.lime.perturb import fill_image, sample_masks, score_masks

ScoreFn = Callable[[np.ndarray], np.ndarray]


@dataclass
class Explanation:
    """What LIME found in one image (boxes and segments in original-image pixels)."""

    boxes: list[dict[str, Any]]
    weights: np.ndarray
    intercept: float
    segments: np.ndarray
    r2: float
    base_score: float
    num_samples: int
    num_scored: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def heatmap(self) -> np.ndarray:
        """HxW float map of superpixel weights scaled to [-1, 1]."""
        scale = float(np.abs(self.weights).max()) or 1.0
        return (self.weights / scale)[self.segments].astype(np.float32)

    def to_record(self) -> dict[str, Any]:
        """JSON-ready summary (no segment map)."""
        return {
            "boxes": self.boxes,
            "weights": [round(float(w), 6) for w in self.weights],
            "intercept": float(self.intercept),
            "r2": float(self.r2),
            "base_score": float(self.base_score),
            "num_samples": self.num_samples,
            "num_scored": self.num_scored,
            "num_segments": len(self.weights),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


def check_image(image: np.ndarray) -> np.ndarray:
    """An HxWx3 uint8 RGB array (grey images are expanded), or InputError."""
    array = np.asarray(image)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or min(array.shape[:2]) < 2:
        raise InputError(f"expected an HxWx3 RGB image, got shape {array.shape}")
    if array.dtype != np.uint8:
        raise InputError(f"expected a uint8 image, got {array.dtype}")
    return np.ascontiguousarray(array[..., :3])


def resize_long_side(image: np.ndarray, long_side: int | None, square: bool = False) -> np.ndarray:
    """``image`` shrunk so its long side is ``long_side`` (never enlarged), or squashed to a
    ``long_side`` square with ``square``."""
    height, width = image.shape[:2]
    if not long_side or (max(height, width) <= long_side and not square):
        return image
    from PIL import Image

    if square:
        size = (long_side, long_side)
    else:
        scale = long_side / max(height, width)
        size = (max(2, round(width * scale)), max(2, round(height * scale)))
    if size == (width, height):
        return image
    return np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))


def segment(image: np.ndarray, params: LimeParams, seed: int = 0) -> np.ndarray:
    """Superpixel labels 0..K-1 (HxW int32) by SLIC or quickshift."""
    from skimage.segmentation import quickshift, slic

    if params.segmenter == "slic":
        labels = slic(
            image,
            n_segments=params.n_segments,
            compactness=params.compactness,
            sigma=params.sigma,
            start_label=0,
            channel_axis=-1,
        )
    else:
        labels = quickshift(
            image,
            kernel_size=params.kernel_size,
            max_dist=params.max_dist,
            ratio=params.ratio,
            rng=seed,
            channel_axis=-1,
        )
    _, dense = np.unique(labels, return_inverse=True)
    return dense.reshape(labels.shape).astype(np.int32)


def kernel_weights(masks: np.ndarray, kernel_width: float) -> np.ndarray:
    """LIME's kernel on the cosine distance between each sample and the all-on vector."""
    on = masks.sum(axis=1).astype(float)
    distance = 1.0 - np.sqrt(on / masks.shape[1])
    return np.sqrt(np.exp(-(distance**2) / kernel_width**2))


def fit_weights(
    masks: np.ndarray, targets: np.ndarray, params: LimeParams
) -> tuple[np.ndarray, float, float]:
    """Kernel-weighted linear fit on/off → score: (weights, intercept, weighted R²)."""
    from sklearn.linear_model import Lasso, Ridge

    features = masks.astype(np.float64)
    sample_weight = kernel_weights(masks, params.kernel_width)
    if params.regressor == "lasso":
        model = Lasso(alpha=params.alpha or 0.001, max_iter=5000)
    else:
        model = Ridge(alpha=params.alpha or 1.0)
    model.fit(features, targets, sample_weight=sample_weight)
    r2 = float(model.score(features, targets, sample_weight=sample_weight))
    return np.asarray(model.coef_, dtype=float), float(model.intercept_), r2


def _upsample(segments: np.ndarray, height: int, width: int) -> np.ndarray:
    rows = np.minimum((np.arange(height) + 0.5) * segments.shape[0] / height, segments.shape[0] - 1)
    cols = np.minimum((np.arange(width) + 0.5) * segments.shape[1] / width, segments.shape[1] - 1)
    return segments[rows.astype(int)][:, cols.astype(int)]


def explain_image(
    image: np.ndarray, score_fn: ScoreFn, params: LimeParams | None = None, seed: int | None = None
) -> Explanation:
    """Explain ``score_fn`` on ``image`` (HxWx3 uint8) and box the regions that drive it.

    ``score_fn`` maps N×h×w×3 uint8 images to N scores (e.g. P(positive)). ``seed`` overrides
    ``params.seed`` (callers derive one per image so results do not depend on partitioning).
    """
    params = params or LimeParams()
    seed = params.seed if seed is None else seed
    timings = {"segment": 0.0, "compose": 0.0, "score": 0.0, "fit": 0.0, "boxes": 0.0}
    original = check_image(image)
    height, width = original.shape[:2]
    t0 = time.perf_counter()
    work = resize_long_side(original, params.score_size, params.square)
    segments = segment(work, params, seed)
    fill = fill_image(work, params.fill)
    timings["segment"] = time.perf_counter() - t0
    masks = sample_masks(int(segments.max()) + 1, params, seed)
    if params.dedupe:
        unique, inverse = np.unique(masks, axis=0, return_inverse=True)
        scores = score_masks(work, fill, segments, unique, score_fn, params.batch_size, timings)
        scores = scores[inverse.reshape(-1)]
        num_scored = len(unique)
    else:
        num_scored = len(masks)
        scores = score_masks(work, fill, segments, masks, score_fn, params.batch_size, timings)
    t0 = time.perf_counter()
    targets = scores
    if params.target == "logit":
        clipped = np.clip(scores, 1e-4, 1 - 1e-4)
        targets = np.log(clipped / (1 - clipped))
    weights, intercept, r2 = fit_weights(masks, targets, params)
    timings["fit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    boxes = boxes_from_weights(
        weights,
        segments,
        coverage=params.coverage,
        floor=params.weight_floor,
        rule=params.box_rule,
        cut=params.box_cut,
        split=params.split,
        merge_distance=params.merge_distance,
        min_area=params.min_box_area,
        min_score=params.min_box_score,
    )
    sx, sy = width / segments.shape[1], height / segments.shape[0]
    for box in boxes:
        x, y, w, h = box["bbox"]
        box["bbox"] = [round(x * sx, 2), round(y * sy, 2), round(w * sx, 2), round(h * sy, 2)]
    full_segments = _upsample(segments, height, width) if (sx, sy) != (1, 1) else segments
    chosen = select_superpixels(
        weights, params.coverage, params.weight_floor, params.box_rule, params.box_cut
    )
    for box, mask in zip(boxes, box_masks(chosen[full_segments], boxes), strict=True):
        box["segmentation"] = mask
    timings["boxes"] = time.perf_counter() - t0
    return Explanation(
        boxes=boxes,
        weights=weights,
        intercept=intercept,
        segments=full_segments,
        r2=r2,
        base_score=float(scores[0]),
        num_samples=len(masks),
        num_scored=num_scored,
        timings=timings,
    )


def heatmap_png(image: np.ndarray, explanation: Explanation, title: str | None = None) -> bytes:
    """PNG bytes of ``image`` under the explanation's heat map with its boxes (for serve)."""

    return render(image, explanation, title)
