"""Reading ``nolabel score``'s results JSON: checked once (:mod:`.file_format`), then plain
dicts for every export; the scored root must be an absolute folder other than the filesystem
root."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nolabel.components.common.defaults import DEFAULT_LABEL, VERDICTS
from nolabel.components.common.errors import InputError
from nolabel.components.common.safe_files import open_regular
from nolabel.components.results.file_format import parse_results

__all__ = ["VERDICTS", "ScoreResults", "load_results", "scored_root"]


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
    label: str = DEFAULT_LABEL

    def image_path(self, record: dict[str, Any]) -> Path:
        """Absolute path of a frame (``path`` is relative to the scored root)."""
        return self.root / record["path"]

    def open_frame(self, name: str) -> int:
        """A read-only descriptor of the regular, non-link file ``name`` below the root."""
        return open_regular(self.root, name)

    def evidence(self, record: dict[str, Any]) -> float | None:
        """The frame's ``animal_score`` (its best fused box), else the larger of its and its
        burst's probability; None when neither was scored."""
        if "animal_score" in record:
            return float(record["animal_score"])
        if "probability" not in record:
            return None
        return max(float(record["probability"]), float(record.get("burst_probability") or 0.0))


def _read_payload(source: Path) -> Any:
    """The JSON of a regular file (a FIFO or device is refused, never read)."""
    try:
        handle = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise InputError(f"no results file at {source}") from None
    except OSError as exc:
        raise InputError(f"cannot read results {source}: {exc.strerror}") from None
    with os.fdopen(handle, "rb") as stream:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            raise InputError(f"cannot read results {source}: not a regular file")
        os.set_blocking(handle, True)
        try:
            return json.loads(stream.read().decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read results {source}: {exc}") from None


def scored_root(folder: str | os.PathLike[str], what: str) -> Path:
    """``folder`` as the absolute, existing scored folder; the filesystem root is refused."""
    if not isinstance(folder, str | os.PathLike) or "\x00" in os.fspath(folder):
        raise InputError(f"{what} {folder!r} is not a folder name")
    if "://" in os.fspath(folder):
        raise InputError(
            f"{what} {os.fspath(folder)} is in an artifact store: copy the card locally to sort "
            "it (or to report on or crop it) and pass --images DIR"
        )
    path = Path(folder).expanduser()
    if not path.is_absolute():
        raise InputError(f"{what} {os.fspath(folder)!r} is not an absolute path")
    if not path.is_dir():
        raise InputError(f"the scored folder {path} is not there; pass --images DIR")
    real = path.resolve()
    if real == Path(real.anchor):
        raise InputError(f"{what} {path} is the filesystem root; pass --images DIR")
    return real


def load_results(path: str | Path, images: str | Path | None = None) -> ScoreResults:
    """Read and check a results JSON (:mod:`.file_format`); ``images`` replaces the recorded root
    (a card mounted elsewhere)."""
    source = Path(path).expanduser()
    checked = parse_results(_read_payload(source), str(source))
    if images:
        root = scored_root(Path(images).expanduser().absolute(), "--images")
    else:
        root = scored_root(checked.root or source.absolute().parent, f"{source}: root")
    return ScoreResults(
        path=source,
        root=root,
        images=checked.images,
        failures=checked.failures,
        threshold=checked.threshold,
        min_score=checked.min_score,
        models=checked.models,
        label=checked.label,
    )
