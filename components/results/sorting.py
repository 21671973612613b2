"""``nolabel sort``: links (or copies) of the scored frames in ``animal/``, ``empty/`` and
``review/``, keeping the sub-folders; the originals never move.

A frame goes to ``animal/`` when its probability reaches ``animal_at`` (default: the classifier's
threshold), to ``empty/`` when neither it nor its burst reaches ``empty_below`` (default: half
the threshold), and to ``review/`` otherwise — weak frames of a positive burst, the uncertain
band, and frames that could not be scored. Without a classifier a kept box means ``animal``.
A re-run first removes what the previous run put there (listed in ``.nolabel-sort.json``).
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
MANIFEST = ".nolabel-sort.json"
SortMode = Literal["link", "copy", "hardlink"]


def folder_for(
    results: ScoreResults, record: dict[str, Any], animal_at: float, empty_below: float
) -> str:
    """``animal``, ``empty`` or ``review`` for one scored frame."""
    evidence = results.evidence(record)
    if evidence is None:  # detector only
        return "animal" if record.get("boxes") else "empty"
    if float(record["probability"]) >= animal_at:
        return "animal"
    return "empty" if evidence < empty_below else "review"


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
    threshold = results.threshold if results.threshold is not None else 0.5
    animal_at = threshold if animal_at is None else animal_at
    empty_below = threshold / 2 if empty_below is None else empty_below
    if not 0 <= empty_below <= animal_at <= 1:
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
