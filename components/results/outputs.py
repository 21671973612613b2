"""Files written beside a results JSON: MegaDetector JSON and the frame/burst CSV tables."""

from __future__ import annotations

from pathlib import Path

from nolabel.components.common.errors import InputError
from nolabel.components.common.files import write_text_atomic
from nolabel.components.results.megadetector import to_megadetector
from nolabel.components.results.records import ScoreResults
from nolabel.components.results.tables import json_text, table_texts


def sibling_paths(out: str | Path) -> dict[str, Path]:
    """``results.json`` → ``results.megadetector.json``, ``results.frames.csv``,
    ``results.bursts.csv``."""
    out = Path(out)
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return {
        "megadetector": out.with_name(f"{stem}.megadetector.json"),
        "frames_csv": out.with_name(f"{stem}.frames.csv"),
        "bursts_csv": out.with_name(f"{stem}.bursts.csv"),
    }


def write_exports(results: ScoreResults) -> dict[str, str]:
    """Write the MegaDetector JSON and both CSV tables beside ``results.path``; all three are
    built in full before the first is written."""
    paths = sibling_paths(results.path)
    frames, bursts = table_texts(results)
    texts = {
        "megadetector": json_text(to_megadetector(results)),
        "frames_csv": frames,
        "bursts_csv": bursts,
    }
    for key, text in texts.items():
        try:
            write_text_atomic(paths[key], text)
        except OSError as exc:
            raise InputError(f"cannot write {paths[key]}: {exc.strerror or exc}") from None
    return {key: str(path) for key, path in paths.items()}
