"""``nolabel classify``: score a folder of images with a registered classifier."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from nolabel.components.common.errors import InputError
from nolabel.components.common.images import ImageError, list_images, load_rgb, to_array
from nolabel.components.common.settings import get_settings
from nolabel.components.transfer.classifier import load_classifier
from nolabel.components.transfer.contract import ClassifyParams, ClassifyResult


def run_classify(params: ClassifyParams) -> ClassifyResult:
    """Classify every image under ``params.images``; write file, probability, label rows."""

    out = Path(params.out)
    if out.suffix.lower() not in (".csv", ".json"):
        raise InputError(f"--out must end in .csv or .json, not {out.name!r}")
    files = list_images(params.images)
    if not files:
        raise InputError(f"no images (jpg, png, gif, bmp, tiff, webp) under {params.images}")
    classifier = load_classifier(params.model)
    max_pixels = get_settings().max_image_pixels
    root = Path(params.images)
    records: list[dict] = []
    failures: Counter[str] = Counter()
    for start in range(0, len(files), params.batch_size):
        chunk = files[start : start + params.batch_size]
        images, names = [], []
        for path in chunk:
            name = path.relative_to(root).as_posix()
            try:
                images.append(to_array(load_rgb(path, max_pixels)))
                names.append(name)
            except ImageError as exc:
                failures[exc.reason] += 1
                records.append({"file": name, "probability": None, "label": None,
                                "error": exc.reason})  # fmt: skip
        if images:
            probability = classifier.predict_proba(images)
            for name, value in zip(names, probability, strict=True):
                label = "positive" if value >= classifier.threshold else "negative"
                records.append({"file": name, "probability": round(float(value), 6),
                                "label": label, "error": None})  # fmt: skip
    records.sort(key=lambda r: r["file"])
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        pd.DataFrame(records, columns=["file", "probability", "label", "error"]).to_csv(
            out, index=False
        )
    else:
        out.write_text(json.dumps(records, indent=1), encoding="utf-8")
    scored = [r for r in records if r["probability"] is not None]
    return ClassifyResult(
        out=str(out.resolve()),
        images=len(files),
        classified=len(scored),
        positives=int(np.sum([r["label"] == "positive" for r in scored])),
        failures=dict(failures),
        model_name=classifier.name,
        model_version=classifier.version,
        threshold=classifier.threshold,
    )
