"""Model calls behind the endpoints (blocking; the routes run them in worker threads)."""

from __future__ import annotations

import base64
import io
import time
from typing import Any

import numpy as np

from nolabel.components.common.images import to_full_pixels
from nolabel.components.lime.explain import LimeParams, explain_image
from nolabel.components.lime.overlay import heatmap_png
from nolabel.components.serve.errors import ApiError
from nolabel.components.serve.metrics import ServeMetrics
from nolabel.components.serve.models import LoadedModel
from nolabel.components.serve.schemas import Box

MIN_EXPLAIN_SIDE = 16


def box_label(detector: Any) -> str:
    """The class name a detector reports for its boxes ("object" when it has none)."""
    for attr in ("label", "class_name", "category"):
        value = getattr(detector, attr, None)
        if isinstance(value, str) and value:
            return value
    classes = getattr(detector, "classes", None)
    if classes is None:  # an MMDetection model keeps them in its dataset meta
        meta = getattr(getattr(detector, "model", None), "dataset_meta", None)
        classes = meta.get("classes") if isinstance(meta, dict) else None
    if isinstance(classes, list | tuple) and classes and isinstance(classes[0], str):
        return classes[0]
    return "object"


def classify(loaded: LoadedModel, arrays: list[np.ndarray], metrics: ServeMetrics) -> np.ndarray:
    """P(positive) of each image."""
    started = time.perf_counter()
    probabilities = np.asarray(loaded.model.predict_proba(arrays), dtype=float).reshape(-1)
    metrics.inference.labels("classifier").observe(time.perf_counter() - started)
    if len(probabilities) != len(arrays):
        raise RuntimeError(f"classifier returned {len(probabilities)} scores for {len(arrays)}")
    return np.clip(np.nan_to_num(probabilities, nan=0.0), 0.0, 1.0)


def to_boxes(
    raw: dict[str, Any], width: int, height: int, label: str, min_score: float, max_boxes: int
) -> list[Box]:
    """Detector output (K×4 xyxy, K scores) → clipped, filtered, best-first :class:`Box` list."""
    coords = np.asarray(raw.get("boxes", np.zeros((0, 4))), dtype=float).reshape(-1, 4)
    scores = np.asarray(raw.get("scores", np.ones(len(coords))), dtype=float).reshape(-1)
    coords[:, [0, 2]] = np.clip(coords[:, [0, 2]], 0, width)
    coords[:, [1, 3]] = np.clip(coords[:, [1, 3]], 0, height)
    keep = (
        np.isfinite(scores)
        & (scores >= min_score)
        & (coords[:, 2] > coords[:, 0])
        & (coords[:, 3] > coords[:, 1])
    )
    order = [i for i in np.argsort(-scores, kind="stable") if keep[i]][:max_boxes]
    return [
        Box(
            x1=round(float(coords[i, 0]), 2),
            y1=round(float(coords[i, 1]), 2),
            x2=round(float(coords[i, 2]), 2),
            y2=round(float(coords[i, 3]), 2),
            score=float(scores[i]),
            label=label,
        )
        for i in order
    ]


def detect(
    loaded: LoadedModel,
    arrays: list[np.ndarray],
    metrics: ServeMetrics,
    min_score: float,
    max_boxes: int,
    sizes: list[tuple[int, int]] | None = None,
) -> list[list[Box]]:
    """Boxes of each image, in its original pixels (``sizes``: full (width, height) of arrays
    that were decoded reduced; boxes are scaled up to them)."""
    started = time.perf_counter()
    outputs = loaded.model.predict(arrays)
    metrics.inference.labels("detector").observe(time.perf_counter() - started)
    if len(outputs) != len(arrays):
        raise RuntimeError(f"detector returned {len(outputs)} results for {len(arrays)} images")
    label = box_label(loaded.model)
    sizes = sizes or [(a.shape[1], a.shape[0]) for a in arrays]
    found = []
    for raw, array, (width, height) in zip(outputs, arrays, sizes, strict=True):
        boxes = to_full_pixels(raw.get("boxes", np.zeros((0, 4))), array, (width, height))
        raw = {**raw, "boxes": boxes}
        found.append(to_boxes(raw, width, height, label, min_score, max_boxes))
    return found


def explain(
    loaded: LoadedModel,
    array: np.ndarray,
    metrics: ServeMetrics,
    num_samples: int,
    score_size: int,
    seed: int,
) -> dict[str, Any]:
    """LIME on one image: boxes (xyxy, original pixels), heat-map PNG (base64) and fit R²."""

    height, width = array.shape[:2]
    if min(height, width) < MIN_EXPLAIN_SIDE:
        raise ApiError(
            422,
            "image_too_small",
            f"image is {width}x{height}; LIME needs at least {MIN_EXPLAIN_SIDE} pixels a side",
        )
    started = time.perf_counter()
    params = LimeParams(
        num_samples=num_samples, score_size=score_size, seed=seed, batch_size=min(50, num_samples)
    )
    explanation = explain_image(array, loaded.model.predict_proba, params)
    png = heatmap_png(array, explanation)
    metrics.inference.labels("explain").observe(time.perf_counter() - started)
    boxes = []
    for box in explanation.boxes:
        x, y, w, h = (float(v) for v in box["bbox"])
        boxes.append(
            Box(x1=x, y1=y, x2=x + w, y2=y + h, score=float(box["score"]), label="explanation")
        )
    from PIL import Image

    with Image.open(io.BytesIO(png)) as probe:
        png_width, png_height = probe.size
    r2 = float(explanation.r2)
    return {
        "boxes": boxes,
        "heatmap_png_base64": base64.b64encode(png).decode("ascii"),
        "heatmap_width": png_width,
        "heatmap_height": png_height,
        "num_samples": int(explanation.num_samples),
        "r2": r2 if np.isfinite(r2) else None,
    }
