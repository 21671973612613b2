"""CSV tables of score results: one row per frame, one row per burst (spreadsheet-friendly)."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from nolabel.components.common.files import write_text_atomic
from nolabel.components.results.records import ScoreResults

FRAME_COLUMNS = (
    "file", "burst", "burst_size", "probability", "burst_probability", "animal_score",
    "verdict", "boxes", "top_box_score", "box_list", "others", "failure",
)  # fmt: skip
BURST_COLUMNS = (
    "burst", "frames", "first_file", "last_file", "burst_probability", "max_probability",
    "verdict", "animal_frames", "candidate_frames", "empty_frames", "boxes",
)  # fmt: skip


def readable(text: Any) -> str:
    """``text`` as a printable cell: the undecodable bytes of a file name (surrogate escapes)
    as ``\\xff``, any other lone surrogate as ``\\udc80``."""
    text = str(text)
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def csv_text(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    """A CSV document (every cell made :func:`readable`; newlines in a cell are quoted)."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows({key: readable(value) for key, value in row.items()} for row in rows)
    return buffer.getvalue()


def _number(value: Any) -> str:
    return "" if value is None else f"{float(value):.6g}"


def frame_rows(results: ScoreResults) -> list[dict[str, str]]:
    """One row per scored frame (boxes as ``x0 y0 x1 y1 score`` joined by ``;``), then failures."""
    rows = []
    for record in results.images:
        boxes = record.get("boxes", [])
        rows.append(
            {
                "file": record["path"],
                "burst": record.get("burst", ""),
                "burst_size": str(record.get("burst_size", "")),
                "probability": _number(record.get("probability")),
                "burst_probability": _number(record.get("burst_probability")),
                "animal_score": _number(record.get("animal_score")),
                "verdict": record["verdict"],
                "boxes": str(len(boxes)),
                "top_box_score": _number(max((b["score"] for b in boxes), default=None)),
                "box_list": ";".join(
                    " ".join(f"{v:.1f}" for v in b["bbox"]) + f" {b['score']:.4f}" for b in boxes
                ),
                "others": ";".join(
                    f"{o['category']} {o['score']:.4f}" for o in record.get("others", [])
                ),
                "failure": "",
            }
        )
    for failure in results.failures:
        row = dict.fromkeys(FRAME_COLUMNS, "")
        row.update(file=failure["path"], verdict="failed", failure=failure.get("reason", ""))
        rows.append(row)
    return rows


def burst_rows(results: ScoreResults) -> list[dict[str, str]]:
    """One row per burst: its frames, probabilities, verdict and box count."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in results.images:
        groups[record.get("burst") or record["path"]].append(record)
    rows = []
    for burst, frames in groups.items():
        verdicts = [f["verdict"] for f in frames]
        probabilities = [f["probability"] for f in frames if "probability" in f]
        verdict = (
            "animal" if "animal" in verdicts else ("review" if "candidate" in verdicts else "empty")
        )
        rows.append(
            {
                "burst": burst,
                "frames": str(len(frames)),
                "first_file": frames[0]["path"],
                "last_file": frames[-1]["path"],
                "burst_probability": _number(frames[0].get("burst_probability")),
                "max_probability": _number(max(probabilities, default=None)),
                "verdict": verdict,
                "animal_frames": str(verdicts.count("animal")),
                "candidate_frames": str(verdicts.count("candidate")),
                "empty_frames": str(verdicts.count("empty")),
                "boxes": str(sum(len(f.get("boxes", [])) for f in frames)),
            }
        )
    return rows


def table_texts(results: ScoreResults) -> tuple[str, str]:
    """The per-frame and per-burst CSV documents (built whole before anything is written)."""
    frames = csv_text(FRAME_COLUMNS, frame_rows(results))
    return frames, csv_text(BURST_COLUMNS, burst_rows(results))


def write_tables(results: ScoreResults, frames_csv: Path, bursts_csv: Path) -> None:
    """Write the per-frame and per-burst CSV files (atomically)."""
    frames, bursts = table_texts(results)
    write_text_atomic(frames_csv, frames)
    write_text_atomic(bursts_csv, bursts)


def json_text(document: dict[str, Any]) -> str:
    """A JSON document; undecodable file names keep their ``\\udcff`` escapes (they round-trip)."""
    return json.dumps(document, indent=1)


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Write a JSON document atomically."""
    write_text_atomic(path, json_text(document))
