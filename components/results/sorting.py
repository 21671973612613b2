"""``nolabel sort``: links (or copies) of the scored frames in ``animal/``, ``empty/`` and
``review/``, keeping the sub-folders; the originals never move.

Frames follow their verdict, as the CSVs, the report and the MegaDetector file do: ``animal``
to ``animal/``, ``candidate`` (a weaker view in a burst holding an animal frame, or weak
evidence) to ``review/``, ``empty`` to ``empty/``; files that could not be scored to ``review/``.
``animal_at`` and ``empty_below`` only make it more cautious: an ``animal`` frame whose evidence
(``animal_score``, else the larger of its and its burst's probability) is under ``animal_at``,
and an ``empty`` one whose evidence reaches ``empty_below``, go to ``review/``. A frame of a
burst with an animal frame never lands in ``empty/``. A re-run first removes what the previous
run put there and is unchanged (:mod:`.sort_manifest`); a copy the user edited is kept.

A results file is not trusted: each frame is opened below the scored root without following a
link and must be a regular file (a link, FIFO or device is refused, never linked or copied);
each written file is created below ``--into`` without following a link (:mod:`.folders`).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from nolabel.components.common.errors import InputError
from nolabel.components.common.safe_files import UnsafeFileError
from nolabel.components.results.folders import open_subfolder, output_folder
from nolabel.components.results.records import ScoreResults
from nolabel.components.results.schema import is_image_name
from nolabel.components.results.sort_manifest import (
    FOLDERS,
    MANIFEST,
    remove_previous,
    write_manifest,
)

__all__ = ["FOLDERS", "MANIFEST", "folder_for", "sort_frames"]
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
VERDICT_FOLDERS = {"animal": "animal", "candidate": "review", "empty": "empty"}
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


def _copy(source: int, folder: int, name: str) -> None:
    out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666, dir_fd=folder)
    try:
        with os.fdopen(os.dup(source), "rb") as reader, os.fdopen(out, "wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
            writer.flush()
            info = os.fstat(source)
            os.utime(writer.fileno(), ns=(info.st_atime_ns, info.st_mtime_ns))
    except BaseException:
        os.unlink(name, dir_fd=folder)
        raise


def _hardlink(path: Path, source: int, folder: int, name: str) -> None:
    try:
        os.link(path, name, dst_dir_fd=folder, follow_symlinks=False)
    except OSError as exc:
        if isinstance(exc, FileExistsError):
            raise
        raise InputError(f"cannot hard-link {path}: {exc.strerror}") from None
    made, checked = os.stat(name, dir_fd=folder, follow_symlinks=False), os.fstat(source)
    if (made.st_dev, made.st_ino) != (checked.st_dev, checked.st_ino):
        os.unlink(name, dir_fd=folder)
        raise UnsafeFileError(f"{path} changed while it was linked; not sorted")


def _place(results: ScoreResults, rel: str, target: Path, dest: str, mode: SortMode) -> dict:
    """Link or copy the regular, non-link frame ``rel`` to ``target/dest``; its manifest entry."""
    source = results.open_frame(rel)
    parts = PurePosixPath(dest).parts
    try:
        folder = open_subfolder(target, parts[:-1])
        try:
            if mode == "link":
                os.symlink(results.root / rel, parts[-1], dir_fd=folder)
            elif mode == "hardlink":
                _hardlink(results.root / rel, source, folder, parts[-1])
            else:
                _copy(source, folder, parts[-1])
            info = os.stat(parts[-1], dir_fd=folder, follow_symlinks=False)
        except FileExistsError:
            raise InputError(
                f"{target / dest} already exists and was not made by nolabel sort; not replaced"
            ) from None
        finally:
            os.close(folder)
    finally:
        os.close(source)
    if mode == "link":
        return {"path": dest, "kind": "link"}
    return {"path": dest, "kind": mode, "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def _target(into: str | Path, root: Path) -> Path:
    """The resolved --into: a folder outside the scored one, its sort folders not links."""
    target = Path(into).expanduser().resolve()
    if _inside(target, root) or _inside(root, target):
        raise InputError(f"sort into a folder outside the scored one ({root}), not {target}")
    target = output_folder(target, "--into")
    for folder in FOLDERS:
        if (target / folder).is_symlink() or (target / folder).is_file():
            raise InputError(f"{target / folder} is a link or file, not a plain folder")
    return target


def sort_frames(
    results: ScoreResults,
    into: str | Path,
    *,
    mode: SortMode = "link",
    animal_at: float | None = None,
    empty_below: float | None = None,
) -> dict[str, Any]:
    """Sort the frames of ``results`` into ``into``; returns counts per folder, the names
    missing or refused (links, non-regular files) and the user's edited files kept."""
    low = 0.0 if empty_below is None else empty_below
    high = 1.0 if animal_at is None else animal_at
    if not 0 <= low <= high <= 1:
        raise InputError("need 0 ≤ --empty-below ≤ --animal-at ≤ 1")
    target = _target(into, results.root)
    try:
        kept = remove_previous(target)
        keeping = set(kept)
    except OSError as exc:
        raise InputError(f"cannot clear the previous sort in {target}: {exc.strerror}") from None
    plan = [(folder_for(results, r, animal_at, empty_below), r["path"]) for r in results.images]
    plan += [("review", f["path"]) for f in results.failures if is_image_name(f["path"])]
    made: list[dict[str, Any]] = []
    missing, refused, placed = [], [], Counter()
    try:
        for folder, rel in plan:
            dest = f"{folder}/{rel}"
            if dest in keeping:
                placed[folder] += 1
                continue
            try:
                made.append(_place(results, rel, target, dest, mode))
            except UnsafeFileError as exc:
                gone = not os.path.lexists(results.root / rel)
                (missing if gone else refused).append(rel if gone else str(exc))
                continue
            except OSError as exc:
                raise InputError(f"cannot write {target / dest}: {exc.strerror}") from None
            placed[folder] += 1
    finally:
        try:
            write_manifest(target, made, kept)
        except OSError as exc:
            raise InputError(f"cannot write in {target}: {exc.strerror}") from None
    return {
        "into": str(target),
        "mode": mode,
        "animal_at": animal_at,
        "empty_below": empty_below,
        **{folder: placed.get(folder, 0) for folder in FOLDERS},
        "missing": len(missing),
        "refused": refused,
        "kept": kept,
    }
