"""``.nolabel-sort.json``: what ``nolabel sort`` made, so a re-run removes exactly that.

Each made file is recorded with its kind (``link``, ``hardlink``, ``copy``) and, for files, its
size and modification time. A re-run removes a link that is still a link and a file that still
has its recorded size and time; a file the user edited (or put in place of a link) is kept, and
listed as kept from then on. Only names below ``animal/``, ``empty/`` and ``review/`` are
touched, each reached without following a link.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any

from nolabel.components.common.errors import InputError
from nolabel.components.common.files import write_text_atomic
from nolabel.components.common.safe_files import UnsafeFileError, read_regular, relative_inside
from nolabel.components.results.folders import open_subfolder

MANIFEST = ".nolabel-sort.json"
FOLDERS = ("animal", "empty", "review")


def _entries(target: Path) -> tuple[list[Any], list[str]]:
    """The previous run's made entries and kept names ([] when there was none)."""
    if not os.path.lexists(target / MANIFEST):
        return [], []
    try:
        document = json.loads(read_regular(target, MANIFEST).decode("utf-8"))
        made, kept = document.get("made", []), document.get("kept", [])
        if not isinstance(made, list) or not isinstance(kept, list):
            raise ValueError("not lists")
    except (OSError, InputError, ValueError, AttributeError):
        raise InputError(
            f"{target / MANIFEST} is unreadable; remove {target} or sort into a new folder"
        ) from None
    return made, [k for k in kept if isinstance(k, str)]


def _ours(entry: Any, info: os.stat_result) -> bool:
    """Whether the file found is still the one the previous run made."""
    if isinstance(entry, str):  # an old manifest: a name only
        return stat.S_ISLNK(info.st_mode) or stat.S_ISREG(info.st_mode)
    if entry.get("kind") == "link":
        return stat.S_ISLNK(info.st_mode)
    return (
        stat.S_ISREG(info.st_mode)
        and info.st_size == entry.get("size")
        and info.st_mtime_ns == entry.get("mtime_ns")
    )


def _name(entry: Any) -> PurePosixPath | None:
    raw = entry.get("path") if isinstance(entry, dict) else entry
    try:
        rel = relative_inside(raw)
    except UnsafeFileError:
        return None
    return rel if len(rel.parts) > 1 and rel.parts[0] in FOLDERS else None


def _lstat_in(target: Path, rel: PurePosixPath) -> tuple[int, os.stat_result] | None:
    """The parent folder's descriptor and the entry's lstat, or None when it is gone."""
    try:
        folder = open_subfolder(target, rel.parts[:-1], create=False)
    except (FileNotFoundError, InputError):
        return None
    try:
        return folder, os.stat(rel.name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        os.close(folder)
        return None


def remove_previous(target: Path) -> list[str]:
    """Remove what the previous run made and still is as made; returns the names kept."""
    made, kept = _entries(target)
    still_kept = []
    for entry, was_made in [(m, True) for m in made] + [(k, False) for k in kept]:
        rel = _name(entry)
        found = _lstat_in(target, rel) if rel is not None else None
        if found is None:
            continue
        folder, info = found
        try:
            if was_made and _ours(entry, info):
                os.unlink(rel.name, dir_fd=folder)
            elif not stat.S_ISDIR(info.st_mode):
                still_kept.append(rel.as_posix())
        finally:
            os.close(folder)
    if os.path.lexists(target / MANIFEST):
        os.unlink(target / MANIFEST)
    return still_kept


def write_manifest(target: Path, made: list[dict[str, Any]], kept: list[str]) -> None:
    """Record this run's made files and the user's kept ones."""
    write_text_atomic(target / MANIFEST, json.dumps({"made": made, "kept": kept}, indent=0))
