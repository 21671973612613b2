"""The records of a ``nolabel score`` results file, checked one by one.

A results file can be hand-edited or handed over by anyone, so every field the exports read is
checked before anything is written: one :class:`InputError` naming the file, the record (index
and path) and the field. Unknown extra fields are kept. The whole file's model (version,
settings) is :mod:`.file_format`.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from nolabel.components.common.defaults import VERDICTS
from nolabel.components.common.errors import InputError
from nolabel.components.common.safe_files import UnsafeFileError, relative_inside


def _corners(bbox: list[float]) -> list[float]:
    if len(bbox) != 4 or bbox[0] > bbox[2] or bbox[1] > bbox[3]:
        raise ValueError("not [x0, y0, x1, y1]")
    return bbox


Share = Annotated[float, Field(ge=0.0, le=1.0)]
Corners = Annotated[list[float], AfterValidator(_corners)]
Positive = Annotated[float, Field(gt=0.0)]
_STRICT = ConfigDict(strict=True, extra="allow", allow_inf_nan=False)

RULES = {
    "width": "a positive number",
    "height": "a positive number",
    "probability": "a number between 0 and 1",
    "burst_probability": "a number between 0 and 1 or null",
    "animal_score": "a number between 0 and 1 or null",
    "crop_probability": "a number between 0 and 1 or null",
    "score": "a number between 0 and 1",
    "verdict": "one of " + ", ".join(VERDICTS),
    "burst": "a text",
    "burst_size": "a whole number ≥ 0",
    "boxes": "a list of boxes",
    "others": "a list of detections",
    "bbox": "four numbers [x0, y0, x1, y1] with x0 ≤ x1 and y0 ≤ y1",
    "category": "a text",
    "reason": "a text",
    "message": "a text",
}


class Box(BaseModel):
    """A kept (fused) box: pixel corners and score."""

    model_config = _STRICT
    bbox: Corners
    score: Share
    crop_probability: Share | None = None


class Other(BaseModel):
    """A person or vehicle the COCO detector saw."""

    model_config = _STRICT
    category: str
    score: Share
    bbox: Corners | None = None


class Frame(BaseModel):
    """One frame record (a partial one from score's log has no verdict yet)."""

    model_config = _STRICT
    width: Positive
    height: Positive
    probability: Share | None = None
    burst_probability: Share | None = None
    animal_score: Share | None = None
    verdict: Literal["animal", "candidate", "empty"] | None = None
    burst: str | None = None
    burst_size: Annotated[int, Field(ge=0)] | None = None
    boxes: list[Box] = []
    others: list[Other] = []


class Failure(BaseModel):
    """A file that could not be scored."""

    model_config = _STRICT
    reason: str
    message: str = ""


def _checked_name(name: Any, where: str) -> str:
    """The path, if it is a relative name inside the scored folder that the OS can spell."""
    try:
        relative_inside(name)
    except UnsafeFileError as exc:
        raise InputError(f"{where}: path {exc}") from None
    try:
        os.fsencode(name)
    except UnicodeEncodeError:
        raise InputError(
            f"{where}: path {name!r} is not a file name this system can spell"
        ) from None
    return name


def _field(loc: tuple[Any, ...]) -> tuple[str, str]:
    """('boxes', 0, 'bbox', 2) → ('boxes[0].bbox', 'bbox')."""
    text, last = "", ""
    for part in loc:
        if isinstance(part, int):
            if not last:  # an index into a list that is itself the field
                continue
            text += f"[{part}]"
        elif part in RULES or not last:
            text += ("." if text else "") + str(part)
            last = str(part)
    return text or "record", last


def _raise(error: ValidationError, where: str) -> None:
    first = error.errors()[0]
    if first["type"] == "model_type":
        loc = first["loc"]
        name, _ = _field(loc) if loc else ("record", "")
        raise InputError(f"{where}: {name} must be an object") from None
    name, last = _field(first["loc"])
    if first["type"] == "missing":
        raise InputError(f"{where}: {name} is missing") from None
    rule = RULES.get(last, "valid")
    raise InputError(f"{where}: {name} must be {rule}, not {_shown(first.get('input'))}") from None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _label(record: Any, where: str) -> str:
    path = record.get("path") if isinstance(record, dict) else None
    return f"{where} {path!r}" if isinstance(path, str) else where


def validate_record(record: Any, where: str, *, finished: bool = False) -> dict[str, Any]:
    """Check one frame record (``where`` names it in errors, e.g. ``"r.json: images[3]"``);
    ``finished`` also requires a verdict (a results file, not score's partial log). Returns the
    record as a dict (unknown fields kept); raises :class:`InputError`."""
    if not isinstance(record, dict):
        raise InputError(f"{where}: a frame record must be an object, not {_shown(record)}")
    label = _label(record, where)
    name = _checked_name(record.get("path"), label)
    if finished and "verdict" not in record:
        raise InputError(f"{label}: verdict is missing (an old results file?)")
    try:
        Frame.model_validate(record)
    except ValidationError as error:
        _raise(error, label)
    if finished and not is_image_name(name):
        raise InputError(f"{label}: path must name an image (.jpg, .png, .tif, .webp ...)")
    return dict(record)


def is_image_name(name: str) -> bool:
    """Whether ``name`` ends in one of the extensions ``nolabel score`` reads as images."""
    from nolabel.components.common.images import IMAGE_SUFFIXES  # numpy: not at --help time

    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def validate_failure(failure: Any, where: str) -> dict[str, Any]:
    """Check one failure (``{path, reason, message}``); returns it with ``message`` defaulting
    to ``""``; raises :class:`InputError`."""
    if not isinstance(failure, dict):
        raise InputError(f"{where}: a failure must be an object, not {_shown(failure)}")
    label = _label(failure, where)
    _checked_name(failure.get("path"), label)
    try:
        Failure.model_validate(failure)
    except ValidationError as error:
        _raise(error, label)
    return {**failure, "message": failure.get("message", "")}
