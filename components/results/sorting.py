"""``nolabel sort``: links (or copies) of the scored frames in ``animal/``, ``empty/`` and
``review/``, keeping the sub-folders; the originals never move.

Frames follow their verdict, as the CSVs, the report and the MegaDetector file do: ``animal``
to ``animal/``, ``candidate`` (a weaker view in a burst holding an animal frame, or weak
evidence) to ``review/``, ``empty`` to ``empty/``; files that could not be scored to ``review/``.
``animal_at`` and ``empty_below`` only make it more cautious: an ``animal`` frame whose evidence
(``animal_score``, else the larger of its and its burst's probability) is under ``animal_at``,
and an ``empty`` one whose evidence reaches ``empty_below``, go to ``review/``. A frame of a
burst with an animal frame never lands in ``empty/``. A re-run first removes what the previous
run put there (listed in ``.nolabel-sort.json``).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from nolabel.components.common.errors import InputError
from nolabel.components.results.records import ScoreResults

FOLDERS = ("animal", "empty", "review")
VERDICT_FOLDERS = {"animal": "animal", "candidate": "review", "empty": "empty"}
MANIFEST = ".nolabel-sort.json"
SortMode = Literal["link", "copy", "hardlink"]


def folder_for(
    results: ScoreResults,
    record: dict[str, Any],
    animal_at: float | None = None,
    empty_below: float | None = None,
) -> str:
    """``animal``, ``empty`` or ``review`` for one scored frame (module docstring)."""
    folder = VERDICT_FOLDERS[record["verdict"]]
    evidence = results.evidence(record)
    if evidence is None:
        return folder
    if folder == "animal" and animal_at is not None and evidence < animal_at:
        return "review"
    if folder == "empty" and empty_below is not None and evidence >= empty_below:
        return "review"
    return folder


def _inside(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def _remove_previous(into: Path) -> None:
    manifest = into / MANIFEST
    if not manifest.exists():
        return
    try:
        made = json.loads(manifest.read_text(encoding="utf-8")).get("made", [])
    except (OSError, json.JSONDecodeError):
        raise InputError(
            f"{manifest} is unreadable; remove {into} or sort into a new folder"
        ) from None
    for rel in made:
        path = into / rel
        if _inside(path.parent.resolve(), into.resolve()) and (path.is_symlink() or path.is_file()):
            path.unlink()
    manifest.unlink()


def _place(source: Path, target: Path, mode: SortMode) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() or target.is_symlink():
        raise InputError(f"{target} already exists and was not made by nolabel sort; not replaced")
    if mode == "link":
        target.symlink_to(source)
    elif mode == "hardlink":
        try:
            os.link(source, target)
        except OSError as exc:
            raise InputError(
                f"cannot hard-link {source} into {target.parent}: {exc.strerror}"
            ) from None
    else:
        shutil.copy2(source, target)


def sort_frames(
    results: ScoreResults,
    into: str | Path,
    *,
    mode: SortMode = "link",
    animal_at: float | None = None,
    empty_below: float | None = None,
) -> dict[str, Any]:
    """Sort the frames of ``results`` into ``into``; returns counts per folder."""
    target = Path(into).expanduser().resolve()
    if _inside(target, results.root) or _inside(results.root, target):
        raise InputError(
            f"sort into a folder outside the scored one ({results.root}), not {target}"
        )
    low = 0.0 if empty_below is None else empty_below
    high = 1.0 if animal_at is None else animal_at
    if not 0 <= low <= high <= 1:
        raise InputError("need 0 ≤ --empty-below ≤ --animal-at ≤ 1")
    target.mkdir(parents=True, exist_ok=True)
    _remove_previous(target)
    plan = [(folder_for(results, r, animal_at, empty_below), r["path"]) for r in results.images]
    plan += [("review", f["path"]) for f in results.failures]
    made, missing = [], []
    try:
        for folder, rel in plan:
            source = results.root / rel
            if not source.is_file():
                missing.append(rel)
                continue
            _place(source, target / folder / rel, mode)
            made.append(f"{folder}/{rel}")
    finally:
        (target / MANIFEST).write_text(json.dumps({"made": made}, indent=0), encoding="utf-8")
    counts = Counter(folder for folder, rel in plan if rel not in set(missing))
    return {
        "into": str(target),
        "mode": mode,
        "animal_at": animal_at,
        "empty_below": empty_below,
        **{folder: counts.get(folder, 0) for folder in FOLDERS},
        "missing": len(missing),
    }
