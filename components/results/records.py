"""Reading ``nolabel score``'s results JSON: checked once, then plain dicts for every export."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nolabel.components.common.defaults import VERDICTS
from nolabel.components.common.errors import InputError


@dataclass
class ScoreResults:
    """One results file: the scored root, its frames and failures, the models' threshold."""

    path: Path
    root: Path
    images: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    threshold: float | None
    min_score: float
    models: dict[str, Any] = field(default_factory=dict)
    label: str = "animal"

    def image_path(self, record: dict[str, Any]) -> Path:
        """Absolute path of a frame (``path`` is relative to the scored root)."""
        return self.root / record["path"]

    def evidence(self, record: dict[str, Any]) -> float | None:
        """The frame's ``animal_score`` (its best fused box), else the larger of its and its
        burst's probability; None when neither was scored."""
        if "animal_score" in record:
            return float(record["animal_score"])
        if "probability" not in record:
            return None
        return max(float(record["probability"]), float(record.get("burst_probability") or 0.0))


def _check_image(record: Any, index: int) -> dict[str, Any]:
    if not isinstance(record, dict) or not isinstance(record.get("path"), str):
        raise InputError(f"results image #{index} has no 'path'")
    if record.get("verdict") not in VERDICTS:
        raise InputError(f"results image {record['path']!r} has no verdict (an old results file?)")
    rel = Path(record["path"])
    if rel.is_absolute() or ".." in rel.parts:
        raise InputError(f"results image path {record['path']!r} is not inside the scored folder")
    for box in record.get("boxes", []):
        bbox = box.get("bbox") if isinstance(box, dict) else None
        if not (isinstance(bbox, list) and len(bbox) == 4):
            raise InputError(f"results image {record['path']!r} has a malformed box")
    return record


def load_results(path: str | Path, images: str | Path | None = None) -> ScoreResults:
    """Read and check a results JSON; ``images`` replaces the recorded root (a card mounted
    elsewhere)."""
    source = Path(path).expanduser()
    try:
        payload = json.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no results file at {source}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"cannot read results {source}: {exc}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("images"), list):
        raise InputError(f"{source} is not a `nolabel score` results file (no 'images' list)")
    root = Path(images).expanduser() if images else Path(payload.get("root") or source.parent)
    if not root.is_dir():
        raise InputError(f"the scored folder {root} is not there; pass --images DIR")
    threshold = payload.get("threshold")
    return ScoreResults(
        path=source,
        root=root.resolve(),
        images=[_check_image(r, i) for i, r in enumerate(payload["images"])],
        failures=[f for f in payload.get("failures", []) if isinstance(f, dict) and "path" in f],
        threshold=float(threshold) if threshold is not None else None,
        min_score=float(payload.get("min_score", 0.3)),
        models=payload.get("models") or {},
        label=str(payload.get("label") or "animal"),
    )
