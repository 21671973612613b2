"""Model calls behind the endpoints (blocking; the routes run them in worker threads)."""

from __future__ import annotations

import base64
import io
import time
from typing import Any

import numpy as np

from nolabel.components.common.contrast import equalize_infrared
from nolabel.components.common.defaults import DEFAULT_EQUALIZE_INFRARED
from nolabel.components.detect.evidence import FrameModels, analyse
from nolabel.components.detect.policy import judge_frame
from nolabel.components.lime.explain import LimeParams, explain_image
from nolabel.components.lime.overlay import heatmap_png
from nolabel.components.serve.errors import ApiError
from nolabel.components.serve.metrics import ServeMetrics
from nolabel.components.serve.models import LoadedModel, ModelSet
from nolabel.components.serve.schemas import Box, Prediction

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


def judge_images(
    models: ModelSet, images, metrics: ServeMetrics, equalize: bool = DEFAULT_EQUALIZE_INFRARED
) -> list[dict[str, Any]]:
    """Raw records (probability, detector boxes, proposals, crops judged) of decoded images;
    ``equalize``: the finders see grey (infrared) images with their local contrast equalized."""
    started = time.perf_counter()
    frame_models = FrameModels(
        models.classifier.model,
        models.detector.model if models.detector else None,
        models.proposer.model if models.proposer else None,
    )
    arrays = [image.array for image in images]
    seen = [equalize_infrared(a) for a in arrays] if equalize else arrays  # each stands alone
    sizes = [(image.width, image.height) for image in images]
    records = analyse(arrays, sizes, frame_models, box_floor=0.05, views=seen)
    metrics.inference.labels("predict").observe(time.perf_counter() - started)
    return records


def _box(bbox, score: float, label: str, **extra) -> Box:
    x1, y1, x2, y2 = (round(float(v), 2) for v in bbox)
    return Box(x1=x1, y1=y1, x2=x2, y2=y2, score=float(score), label=label, **extra)


def prediction(
    image, record: dict[str, Any], threshold: float, label: str, *, min_score: float,
    max_boxes: int, keep_negative: bool, frame_gate: float,
) -> Prediction:  # fmt: skip
    """One image's answer: the policy applied to its raw record (no burst: it stands alone)."""
    probability = float(np.clip(np.nan_to_num(record.get("probability", 0.0)), 0.0, 1.0))
    result = judge_frame(
        record, threshold, frame_gate=frame_gate, min_score=min_score, keep_negative=keep_negative
    )
    boxes = [
        _box(b["bbox"], b["score"], label, crop_probability=b.get("crop_probability"),
             sources=b.get("sources"))
        for b in result.boxes[:max_boxes]
    ]  # fmt: skip
    others = [_box(o["bbox"], o["score"], o["category"]) for o in record.get("others", [])]
    return Prediction(
        filename=image.filename,
        probability=probability,
        is_positive=bool(probability >= threshold),
        threshold=threshold,
        verdict=result.verdict,
        animal_score=result.animal_score,
        width=image.width,
        height=image.height,
        boxes=boxes,
        others=others[:max_boxes],
    )


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
