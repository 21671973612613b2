"""`nolabel score`: classifier probability + detector boxes for every image under a folder.

Results are appended to ``<out>.partial.jsonl`` as each batch finishes, so an interrupted run
(a full SD card, a power cut) resumes where it stopped; the final ``--out`` JSON is written
atomically at the end. The partial records keep the detector's raw boxes; the final JSON groups
frames into bursts (``nolabel.components.common.bursts``), adds each frame's burst probability and
applies the verdict policy of ``nolabel.components.detect.policy`` (no box on an ``empty`` frame).
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

from nolabel.components.common.errors import InputError
from nolabel.components.common.files import write_text_atomic
from nolabel.components.common.images import (
    ImageError,
    decode_scaled,
    models_side,
    sniff_image_type,
    to_array,
    to_full_pixels,
)
from nolabel.components.common.settings import get_settings
from nolabel.components.detect.contract import ScoreParams, ScoreResult
from nolabel.components.detect.policy import VERDICTS, finish_records
from nolabel.components.detect.scan import scan_folder
from nolabel.components.results.crops import write_crops
from nolabel.components.results.outputs import write_exports
from nolabel.components.results.records import load_results

SNIFF_BYTES = 16
RAW_BOX_FLOOR = 0.05  # detector boxes kept in the partial records (the policy filters later)


def partial_path(out: Path) -> Path:
    """Where per-file results accumulate before the final JSON is written."""
    return out.with_name(out.name + ".partial.jsonl")


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


def _end_cut_line(path: Path) -> None:
    """Finish a line an interruption cut short, so the next record starts on its own line."""
    if path.exists() and path.stat().st_size:
        with path.open("rb+") as handle:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                handle.write(b"\n")


@dataclass
class Decoded:
    """An image's pixels (a large JPEG decoded reduced) and its full (width, height)."""

    array: np.ndarray
    size: tuple[int, int]


def _load_image(path: Path, max_pixels: int, min_side: int | None = None):
    """A :class:`Decoded`, or (reason, message) when the file is not a usable image."""

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
            keep = found["scores"] >= min(min_score, RAW_BOX_FLOOR)
            boxes = to_full_pixels(found["boxes"][keep], decoded.array, decoded.size)
            record["raw_boxes"] = [
                {"bbox": [round(float(v), 1) for v in box], "score": round(float(s), 4)}
                for box, s in zip(boxes, found["scores"][keep], strict=True)
            ]
        records.append(record)
    return records


def run_score(params: ScoreParams) -> ScoreResult:
    """Score every file under ``params.images``; see the module docstring."""
    from tqdm import tqdm

    if not (params.use_classifier or params.use_detector):
        raise InputError("nothing to do: both the classifier and the detector are disabled")
    root, out = Path(params.images).expanduser(), Path(params.out).expanduser()
    scan = scan_folder(root)
    files = scan.files
    classifier = detector = None
    if params.use_classifier:
        from nolabel.components.transfer.classifier import load_classifier

        classifier = load_classifier(params.classifier)
    if params.use_detector:
        from nolabel.components.detect.predictor import load_detector

        detector = load_detector(params.detector)
    models = {
        "classifier": _identity(classifier),
        "detector": _identity(detector),
        "box_floor": str(min(params.min_score, RAW_BOX_FLOOR)),
    }
    partial = partial_path(out)
    partial.parent.mkdir(parents=True, exist_ok=True)
    done = _read_partial(partial, models) if params.resume else {}
    if not params.resume and partial.exists():
        partial.unlink()
    _end_cut_line(partial)
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
                records = _score_safely(batch, classifier, detector, params.min_score)
                for record in records:
                    record["models"] = models
                    sink.write(json.dumps(record) + "\n")
                    done[record["path"]] = record
                scored += sum("error" not in record for record in records)
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
    threshold = classifier.threshold if classifier is not None else None
    return _write_results(
        out, partial, scan, root, done, models, scored, seconds, params, threshold
    )


def _score_safely(batch, classifier, detector, min_score: float) -> list[dict[str, Any]]:
    """Score a batch; if the models fail on it, score its images one by one and record the
    ones they fail on (``model_error``) instead of stopping the run."""
    try:
        return _score_batch(batch, classifier, detector, min_score)
    except Exception as exc:
        if len(batch) == 1:
            first = (str(exc).strip().splitlines() or [""])[0]
            message = f"the models failed on it: {type(exc).__name__}: {first}"[:300]
            return [{"path": batch[0][0], "error": "model_error", "message": message}]
    return [r for item in batch for r in _score_safely([item], classifier, detector, min_score)]


def _write_results(
    out, partial, scan, root, done, models, scored, seconds, params, threshold
) -> ScoreResult:
    files: list[Path] = scan.files
    order = [p.relative_to(root).as_posix() for p in files]
    records = [{k: v for k, v in done[rel].items() if k != "models"} for rel in order]
    images = [r for r in records if "error" not in r]
    bursts, suppressed = finish_records(
        images,
        root,
        threshold,
        mode=params.bursts,
        gap_seconds=params.burst_gap,
        min_score=params.min_score,
        detector_gate=params.detector_gate,
        keep_negative=params.boxes_on_empty,
        with_boxes=params.use_detector,
    )
    failures = [
        {"path": r["path"], "reason": r["error"], "message": r["message"]}
        for r in records
        if "error" in r
    ] + [{"path": s.path, "reason": s.reason, "message": s.message} for s in scan.skipped]
    payload = {
        "root": str(root.resolve()),
        "models": models,
        "threshold": threshold,
        "min_score": params.min_score,
        "detector_gate": params.detector_gate,
        "label": params.label,
        "images": images,
        "failures": failures,
    }
    write_text_atomic(out, json.dumps(payload, indent=1))
    exports, crops = _write_exports(out, params)
    return ScoreResult(
        out=str(out),
        partial=str(partial),
        files=len(files),
        scored=scored,
        resumed=len(images) - scored,
        failed=len(failures),
        positives=sum(1 for r in images if r.get("positive")),
        verdicts={v: sum(r["verdict"] == v for r in images) for v in VERDICTS},
        bursts=bursts,
        boxes=sum(len(r.get("boxes", [])) for r in images),
        suppressed_boxes=suppressed,
        seconds=round(seconds, 2),
        images_per_second=round(scored / seconds, 2) if seconds > 0 and scored else 0.0,
        classifier=models["classifier"],
        detector=models["detector"],
        exports=exports,
        crops=crops,
    )


def _write_exports(out: Path, params: ScoreParams) -> tuple[dict[str, str], int | None]:
    """MegaDetector JSON and CSV tables beside ``out``; crops when asked for."""

    results = load_results(out)
    exports = write_exports(results)
    if params.crops is None:
        return exports, None
    return exports, write_crops(results, params.crops, params.crop_padding)["crops"]
