"""MegaDetector batch-output format 1.6 (https://lila.science/megadetector-output-format), read by
Timelapse, AddaxAI and MegaDetector's postprocessing tools.

Detections are the boxes ``score`` kept (policy applied: none on a frame that is not an animal
frame), category ``1`` animal, ``conf`` the fused box score; people and vehicles the COCO
detector saw are categories ``2`` and ``3`` (``conf`` its own score), as MegaDetector reports
them. ``bbox`` ``[x_min, y_min, width, height]`` normalised to [0, 1]; each animal detection
carries the classifier's probability on its crop (else on the whole frame) as its
``classifications``. A frame that could not be scored has ``failure`` and ``detections: null``.
"""

from __future__ import annotations

import time
from typing import Any

from nolabel.components.results.records import ScoreResults

FORMAT_VERSION = "1.6"
ANIMAL_CATEGORY = "1"  # "0" is informally reserved for "empty"
OTHER_CATEGORIES = {"person": "2", "vehicle": "3"}
CLASS_CATEGORY = "1"


def _normalised(bbox: list[float], width: float, height: float) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in bbox)
    x0, x1 = min(max(x0, 0.0), width), min(max(x1, 0.0), width)
    y0, y1 = min(max(y0, 0.0), height), min(max(y1, 0.0), height)
    return [
        round(x0 / width, 4),
        round(y0 / height, 4),
        round((x1 - x0) / width, 4),
        round((y1 - y0) / height, 4),
    ]


def _image_entry(record: dict[str, Any]) -> dict[str, Any]:
    width, height = float(record["width"]), float(record["height"])
    detections = []
    for box in record.get("boxes", []):
        detection: dict[str, Any] = {
            "category": ANIMAL_CATEGORY,
            "conf": round(float(box["score"]), 4),
            "bbox": _normalised(box["bbox"], width, height),
        }
        probability = box.get("crop_probability", record.get("probability"))
        if probability is not None:
            detection["classifications"] = [[CLASS_CATEGORY, round(float(probability), 4)]]
        detections.append(detection)
    for other in record.get("others", []):
        if other.get("category") in OTHER_CATEGORIES and other.get("bbox") is not None:
            detections.append(
                {
                    "category": OTHER_CATEGORIES[other["category"]],
                    "conf": round(float(other["score"]), 4),
                    "bbox": _normalised(other["bbox"], width, height),
                }
            )
    detections.sort(key=lambda d: -d["conf"])
    return {"file": record["path"], "detections": detections, "failure": None}


def to_megadetector(results: ScoreResults) -> dict[str, Any]:
    """The results as a MegaDetector 1.6 batch-output document (``file`` relative to the root)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    models = results.models
    info: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "detector": models.get("detector") or "none",
        "detection_completion_time": stamp,
        "detector_metadata": {
            "typical_detection_threshold": results.min_score,
            "conservative_detection_threshold": round(results.min_score / 2, 4),
        },
    }
    document: dict[str, Any] = {
        "info": info,
        "detection_categories": {
            ANIMAL_CATEGORY: "animal",
            **{v: k for k, v in OTHER_CATEGORIES.items()},
        },
        "images": [_image_entry(r) for r in results.images],
    }
    if models.get("classifier"):
        info["classifier"] = models["classifier"]
        info["classification_completion_time"] = stamp
        if results.threshold is not None:
            info["classifier_metadata"] = {"typical_classification_threshold": results.threshold}
        document["classification_categories"] = {CLASS_CATEGORY: results.label}
    for failure in results.failures:
        reason = f"{failure.get('reason', 'failed')}: {failure.get('message', '')}".strip(": ")
        document["images"].append({"file": failure["path"], "failure": reason, "detections": None})
    return document


def _category_ids(mapping: Any, what: str) -> list[str]:
    errors = []
    if not isinstance(mapping, dict):
        return [f"{what} is not an object"]
    for key, name in mapping.items():
        if not (isinstance(key, str) and key.isdigit()):
            errors.append(f"{what} id {key!r} is not a non-negative integer string")
        if not (isinstance(name, str) and name.strip()):
            errors.append(f"{what} {key!r} has a blank name")
    return errors


def _detection_errors(doc: dict[str, Any], file: str, det: Any) -> list[str]:
    if not isinstance(det, dict):
        return [f"{file}: a detection is not an object"]
    errors = []
    if det.get("category") not in doc.get("detection_categories", {}):
        errors.append(f"{file}: detection category {det.get('category')!r} is not mapped")
    if not isinstance(det.get("conf"), float) or not 0.0 <= det["conf"] <= 1.0:
        errors.append(f"{file}: conf {det.get('conf')!r} is not a float in [0, 1]")
    bbox = det.get("bbox")
    if not (isinstance(bbox, list) and len(bbox) == 4):
        errors.append(f"{file}: bbox is not [x_min, y_min, width, height]")
    else:
        x, y, w, h = bbox
        if min(x, y, w, h) < 0 or x + w > 1.0001 or y + h > 1.0001:
            errors.append(f"{file}: bbox {bbox} is not normalised to the image")
    classes = doc.get("classification_categories", {})
    scores = [c[1] for c in det.get("classifications") or []]
    for pair in det.get("classifications") or []:
        if not (isinstance(pair, list) and len(pair) == 2 and pair[0] in classes):
            errors.append(f"{file}: classification {pair!r} is not [mapped id, confidence]")
    if scores != sorted(scores, reverse=True):
        errors.append(f"{file}: classifications are not in descending confidence")
    return errors


def format_errors(doc: Any) -> list[str]:
    """Every rule of the 1.6 format this document breaks (empty: valid)."""
    if not isinstance(doc, dict):
        return ["the document is not an object"]
    errors = [
        f"missing {key!r}" for key in ("info", "detection_categories", "images") if key not in doc
    ]
    info = doc.get("info", {})
    try:
        if float(info.get("format_version")) < 1.3 or not isinstance(info["format_version"], str):
            errors.append("info.format_version is not a string-formatted float ≥ 1.3")
    except (TypeError, ValueError, KeyError):
        errors.append("info.format_version is missing or not a number")
    errors += _category_ids(doc.get("detection_categories"), "detection category")
    if "classification_categories" in doc:
        errors += _category_ids(doc["classification_categories"], "classification category")
    if not isinstance(doc.get("images"), list):
        return errors + ["images is not a list"]
    for image in doc["images"]:
        file = image.get("file") if isinstance(image, dict) else None
        if not isinstance(file, str) or not file:
            errors.append("an image has no file")
            continue
        failure, detections = image.get("failure"), image.get("detections", "missing")
        if failure is not None:
            if not isinstance(failure, str):
                errors.append(f"{file}: failure is not a string")
            if detections not in (None, "missing"):
                errors.append(f"{file}: a failed image must have null detections")
            continue
        if not isinstance(detections, list):
            errors.append(f"{file}: a processed image needs a detections list")
            continue
        for det in detections:
            errors += _detection_errors(doc, file, det)
    return errors
