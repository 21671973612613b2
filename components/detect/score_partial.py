"""`nolabel score`'s partial log: one raw record a line, appended as each batch finishes.

``--resume`` reads it back. A last line cut by an interruption (a crash mid-write) is dropped
and its frame scored again; any other line that is not a record `score` wrote (not UTF-8, not
JSON, a field missing or of the wrong type) stops the run with the file, the line and the field,
before anything is written. Records of other models or options are skipped (scored again).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from nolabel.components.common.errors import InputError
from nolabel.components.common.safe_files import UnsafeFileError, relative_inside

BOX_LISTS = ("raw_boxes", "proposals", "change_boxes", "others")


def partial_path(out: Path) -> Path:
    """Where per-file results accumulate before the final JSON is written."""
    return out.with_name(out.name + ".partial.jsonl")


class BadLine(ValueError):
    """A partial-log line that is no record: ``field`` and what is wrong with it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


def _number(value: Any, field: str, low: float | None = None, high: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadLine(field, f"is not a number ({value!r})")
    if (low is not None and value < low) or (high is not None and value > high):
        raise BadLine(field, f"is out of range ({value!r})")


def _text(record: dict[str, Any], field: str) -> None:
    if not isinstance(record.get(field), str):
        raise BadLine(field, "is missing or not a string")


def _check_box(box: Any, field: str, needs_category: bool) -> None:
    if not isinstance(box, dict):
        raise BadLine(field, "is not a box object")
    bbox = box.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise BadLine(f"{field}.bbox", "is not a list of 4 numbers")
    for value in bbox:
        _number(value, f"{field}.bbox")
    _number(box.get("score"), f"{field}.score")
    if "crop_probability" in box:
        _number(box["crop_probability"], f"{field}.crop_probability", 0.0, 1.0)
    if (needs_category or "category" in box) and not isinstance(box.get("category"), str):
        raise BadLine(f"{field}.category", "is missing or not a string")


def check_record(record: Any, models: dict[str, Any]) -> dict[str, Any] | None:
    """``record`` if it is a raw record (or failure) of these ``models``, None if it is one of
    other models or options; :class:`BadLine` when it is not a record `score` wrote."""
    if not isinstance(record, dict):
        raise BadLine("line", "is not a JSON object")
    try:
        relative_inside(record.get("path"))
    except UnsafeFileError as exc:
        raise BadLine("path", str(exc)) from None
    if not isinstance(record.get("models"), dict):
        raise BadLine("models", "is missing or not an object")
    if record["models"] != models:
        return None
    if "error" in record:
        _text(record, "error")
        _text(record, "message")
        return record
    for field in ("width", "height"):
        value = record.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadLine(field, f"is not a positive whole number ({value!r})")
    if "probability" in record:
        _number(record["probability"], "probability", 0.0, 1.0)
    if not isinstance(record.get("positive", False), bool):
        raise BadLine("positive", "is not true or false")
    for field in BOX_LISTS:
        if field not in record:
            continue
        if not isinstance(record[field], list):
            raise BadLine(field, "is not a list")
        for index, box in enumerate(record[field]):
            _check_box(box, f"{field}[{index}]", needs_category=field == "others")
    return record


def read_partial(path: Path, models: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The records of ``models`` in the partial log at ``path`` by relative path (the last
    line for a path wins); :class:`InputError` naming the line and field of a bad line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InputError(f"cannot read the partial results {path}: {exc.strerror}") from None
    lines = data.split(b"\n")
    done: dict[str, dict[str, Any]] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if number == len(lines):
                continue  # the last line, cut short by an interruption: scored again
            problem = "is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "is not JSON"
            raise _bad(path, number, BadLine("line", problem)) from None
        try:
            checked = check_record(record, models)
        except BadLine as bad:
            raise _bad(path, number, bad) from None
        if checked is not None:
            done[checked["path"]] = checked
    return done


def _bad(path: Path, number: int, bad: BadLine) -> InputError:
    return InputError(
        f"{path}, line {number}: {bad.field} {bad.problem}; fix or delete that line, "
        "or score again with --restart"
    )


def end_cut_line(path: Path) -> None:
    """Let the next record start on its own line: a last line cut by an interruption is removed
    (its frame is scored again), a whole record missing only its newline gets one."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    if not data or data.endswith(b"\n"):
        return
    start = data.rfind(b"\n") + 1
    try:
        json.loads(data[start:].decode("utf-8"))
        whole = True
    except (UnicodeDecodeError, json.JSONDecodeError):
        whole = False
    with path.open("rb+") as handle:
        if whole:
            handle.seek(0, 2)
            handle.write(b"\n")
        else:
            handle.truncate(start)
