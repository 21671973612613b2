"""Files written beside a results JSON: MegaDetector JSON and the frame/burst CSV tables."""

from __future__ import annotations

from pathlib import Path

from nolabel.components.results.megadetector import to_megadetector
from nolabel.components.results.records import ScoreResults
from nolabel.components.results.tables import write_json, write_tables


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
    """Write the MegaDetector JSON and both CSV tables beside ``results.path``."""
    paths = sibling_paths(results.path)
    write_json(paths["megadetector"], to_megadetector(results))
    write_tables(results, paths["frames_csv"], paths["bursts_csv"])
    return {key: str(path) for key, path in paths.items()}
