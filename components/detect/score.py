"""`nolabel score`: classifier probability + detector boxes for every image under a folder.

Results are appended to ``<out>.partial.jsonl`` as each batch finishes, so an interrupted run
(a full SD card, a power cut) resumes where it stopped; the final ``--out`` JSON is written
atomically at the end.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from components.common.errors import InputError
from components.common.images import models_side, to_full_pixels

SNIFF_BYTES = 16


class ScoreParams(BaseModel):
    """What `nolabel score` needs."""

    images: str = Field(..., description="Folder scanned recursively.")
    out: str = Field(..., description="Results JSON path.")
    classifier: str | None = Field(None, description="Classifier URI; None: the registry's.")
    detector: str | None = Field(None, description="Detector URI; None: the registry's.")
    batch_size: int = Field(16, ge=1, le=1024)
    min_score: float = Field(0.3, ge=0, le=1, description="Drop boxes scoring below this.")
    use_classifier: bool = True
    use_detector: bool = True
    resume: bool = Field(True, description="Skip files already scored in the partial results.")


class ScoreResult(BaseModel):
    out: str
    partial: str
    files: int
    scored: int
    resumed: int
    failed: int
    positives: int
    boxes: int
    seconds: float
    images_per_second: float
    classifier: str | None
    detector: str | None


def partial_path(out: Path) -> Path:
    """Where per-file results accumulate before the final JSON is written."""
    return out.with_name(out.name + ".partial.jsonl")


def _list_files(root: Path) -> list[Path]:
    if not root.is_dir():
        raise InputError(f"{root} is not a directory")
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def _read_partial(path: Path, models: dict[str, str | None]) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by an interruption
        if record.get("models") == models and "path" in record:
            done[record["path"]] = record
    return done


@dataclass
class Decoded:
    """An image's pixels (a large JPEG decoded reduced) and its full (width, height)."""

    array: np.ndarray
    size: tuple[int, int]


def _load_image(path: Path, max_pixels: int, min_side: int | None = None):
    """A :class:`Decoded`, or (reason, message) when the file is not a usable image."""
    from components.common.images import ImageError, decode_scaled, sniff_image_type, to_array

    try:
        with path.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
            if sniff_image_type(head) is None:
                return ("not_an_image", "content is not a JPEG/PNG/GIF/BMP/TIFF/WebP image")
            data = head + handle.read()
        image, size = decode_scaled(data, max_pixels, min_side)
        return Decoded(to_array(image), size)
    except ImageError as exc:
        return (exc.reason, str(exc))
    except OSError as exc:
        return ("unreadable", f"cannot read: {exc.strerror or exc}")


def _identity(model: Any) -> str | None:
    if model is None:
        return None
    return f"{model.name}:{model.version}"


def _score_batch(batch, classifier, detector, min_score: float) -> list[dict[str, Any]]:
    arrays = [decoded.array for _, decoded in batch]
    probabilities = classifier.predict_proba(arrays) if classifier is not None else None
    detections = detector.predict(arrays) if detector is not None else None
    records = []
    for index, (rel, decoded) in enumerate(batch):
        width, height = decoded.size
        record: dict[str, Any] = {"path": rel, "width": int(width), "height": int(height)}
        if probabilities is not None:
            p = float(probabilities[index])
            record["probability"] = round(p, 6)
            record["positive"] = bool(p >= classifier.threshold)
        if detections is not None:
            found = detections[index]
            keep = found["scores"] >= min_score
            boxes = to_full_pixels(found["boxes"][keep], decoded.array, decoded.size)
            record["boxes"] = [
                {"bbox": [round(float(v), 1) for v in box], "score": round(float(s), 4)}
                for box, s in zip(boxes, found["scores"][keep], strict=True)
            ]
        records.append(record)
    return records


def run_score(params: ScoreParams) -> ScoreResult:
    """Score every file under ``params.images``; see the module docstring."""
    from tqdm import tqdm

    from components.common.settings import get_settings

    if not (params.use_classifier or params.use_detector):
        raise InputError("nothing to do: both the classifier and the detector are disabled")
    root, out = Path(params.images).expanduser(), Path(params.out).expanduser()
    files = _list_files(root)
    classifier = detector = None
    if params.use_classifier:
        from components.transfer.classifier import load_classifier

        classifier = load_classifier(params.classifier)
    if params.use_detector:
        from components.detect.predictor import load_detector

        detector = load_detector(params.detector)
    models = {
        "classifier": _identity(classifier),
        "detector": _identity(detector),
        "min_score": str(params.min_score),
    }
    partial = partial_path(out)
    partial.parent.mkdir(parents=True, exist_ok=True)
    done = _read_partial(partial, models) if params.resume else {}
    if not params.resume and partial.exists():
        partial.unlink()
    todo = [p for p in files if p.relative_to(root).as_posix() not in done]
    max_pixels = get_settings().max_image_pixels
    min_side = models_side(classifier, detector)
    started, scored = time.monotonic(), 0
    with (
        partial.open("a", encoding="utf-8") as sink,
        tqdm(
            total=len(files),
            initial=len(files) - len(todo),
            unit="img",
            file=sys.stderr,
            desc="score",
            disable=None,
        ) as bar,
    ):
        batch: list[tuple[str, Any]] = []

        def flush() -> None:
            nonlocal scored
            if batch:
                for record in _score_batch(batch, classifier, detector, params.min_score):
                    record["models"] = models
                    sink.write(json.dumps(record) + "\n")
                    done[record["path"]] = record
                scored += len(batch)
                bar.update(len(batch))
                batch.clear()
            sink.flush()

        for path in todo:
            rel = path.relative_to(root).as_posix()
            loaded = _load_image(path, max_pixels, min_side)
            if isinstance(loaded, tuple):
                record = {"path": rel, "error": loaded[0], "message": loaded[1], "models": models}
                sink.write(json.dumps(record) + "\n")
                done[rel] = record
                bar.update(1)
                continue
            batch.append((rel, loaded))
            if len(batch) >= params.batch_size:
                flush()
        flush()
    seconds = time.monotonic() - started
    return _write_results(out, partial, files, root, done, models, scored, seconds, params)


def _write_results(out, partial, files, root, done, models, scored, seconds, params) -> ScoreResult:
    order = [p.relative_to(root).as_posix() for p in files]
    records = [{k: v for k, v in done[rel].items() if k != "models"} for rel in order]
    images = [r for r in records if "error" not in r]
    failures = [
        {"path": r["path"], "reason": r["error"], "message": r["message"]}
        for r in records
        if "error" in r
    ]
    payload = {
        "root": str(root.resolve()),
        "models": models,
        "images": images,
        "failures": failures,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    tmp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    os.replace(tmp, out)
    return ScoreResult(
        out=str(out),
        partial=str(partial),
        files=len(files),
        scored=scored,
        resumed=len(images) - scored,
        failed=len(failures),
        positives=sum(1 for r in images if r.get("positive")),
        boxes=sum(len(r.get("boxes", [])) for r in images),
        seconds=round(seconds, 2),
        images_per_second=round(scored / seconds, 2) if seconds > 0 and scored else 0.0,
        classifier=models["classifier"],
        detector=models["detector"],
    )
