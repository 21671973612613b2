"""Crops of the kept detections (for individual identification), with padding, plus an index.

Each frame is read as a regular, non-link file below the scored root; each crop is written
below the crops folder without following a link; names stay unique when frames share a stem."""

from __future__ import annotations

import io
import os
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

from nolabel.components.common.errors import InputError
from nolabel.components.common.files import write_text_atomic
from nolabel.components.common.safe_files import read_regular
from nolabel.components.results.folders import open_subfolder, output_folder, write_file_in
from nolabel.components.results.records import ScoreResults
from nolabel.components.results.tables import csv_text, readable

CROP_COLUMNS = ("crop", "file", "box", "x0", "y0", "x1", "y1", "score", "verdict")


def padded_box(
    bbox: list[float], width: int, height: int, padding: float
) -> tuple[int, int, int, int]:
    """The box grown by ``padding`` × its size on each side, clipped to the image."""
    x0, y0, x1, y1 = (float(v) for v in bbox)
    pad_x, pad_y = (x1 - x0) * padding, (y1 - y0) * padding
    return (
        max(0, int(x0 - pad_x)),
        max(0, int(y0 - pad_y)),
        min(width, int(round(x1 + pad_x))),
        min(height, int(round(y1 + pad_y))),
    )


def crop_bases(results: ScoreResults) -> dict[str, str]:
    """Each boxed frame's crop name base: its stem (``x`` for ``x.jpg``), or its full name
    (``x.jpg``) when another frame in its folder shares the stem."""
    stems = Counter(
        (rel.parent, rel.stem) for rel in (PurePosixPath(r["path"]) for r in results.images)
    )
    bases = {}
    for record in results.images:
        rel = PurePosixPath(record["path"])
        shared = stems[(rel.parent, rel.stem)] > 1
        bases[record["path"]] = (rel.parent / (rel.name if shared else rel.stem)).as_posix()
    return bases


def _unique(base: str, box: int, used: set[str]) -> str:
    name, extra = f"{base}_{box}.jpg", 1
    while name in used:
        extra += 1
        name = f"{base}_{box}~{extra}.jpg"
    used.add(name)
    return name


def _frame(results: ScoreResults, record: dict[str, Any]) -> Any:
    """The frame upright in RGB, read as a regular non-link file below the root."""
    from nolabel.components.common.images import decode_image  # numpy, PIL: on use only

    return decode_image(read_regular(results.root, record["path"]))


def _save(target: Path, name: str, crop: Any, quality: int) -> None:
    buffer = io.BytesIO()
    crop.save(buffer, format="JPEG", quality=quality)
    rel = PurePosixPath(name)
    folder = open_subfolder(target, rel.parent.parts)
    try:
        write_file_in(folder, rel.name, buffer.getvalue())
    finally:
        os.close(folder)


def write_crops(
    results: ScoreResults, into: str | Path, padding: float = 0.1, quality: int = 92
) -> dict[str, Any]:
    """One JPEG per kept box (``<folder>/<stem>_<k>.jpg``, :func:`crop_bases`) and
    ``crops.csv``; returns counts."""
    if not 0 <= padding <= 1:
        raise InputError("crop padding must be between 0 and 1 (a share of the box size)")
    target = output_folder(into, "--crops")
    rows, failed, used = [], [], {"crops.csv"}
    bases = crop_bases(results)
    for record in results.images:
        if not record.get("boxes"):
            continue
        try:
            image = _frame(results, record)
        except (InputError, OSError) as exc:
            failed.append({"file": readable(record["path"]), "message": readable(exc)})
            continue
        sx, sy = image.width / float(record["width"]), image.height / float(record["height"])
        for k, box in enumerate(record["boxes"]):
            x0, y0, x1, y1 = box["bbox"]
            left, top, right, bottom = padded_box(
                [x0 * sx, y0 * sy, x1 * sx, y1 * sy], image.width, image.height, padding
            )
            if right - left < 2 or bottom - top < 2:
                continue
            name = _unique(bases[record["path"]], k, used)
            try:
                _save(target, name, image.crop((left, top, right, bottom)), quality)
            except OSError as exc:
                raise InputError(f"cannot write {target / name}: {exc.strerror or exc}") from None
            rows.append(
                {
                    "crop": name,
                    "file": record["path"],
                    "box": k,
                    "x0": left,
                    "y0": top,
                    "x1": right,
                    "y1": bottom,
                    "score": box["score"],
                    "verdict": record["verdict"],
                }  # fmt: skip
            )
    try:
        write_text_atomic(target / "crops.csv", csv_text(CROP_COLUMNS, rows))
    except OSError as exc:
        raise InputError(f"cannot write {target / 'crops.csv'}: {exc.strerror}") from None
    return {"crops": len(rows), "into": str(target), "failed": failed}
