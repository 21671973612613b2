"""The files `nolabel score` reads under a folder, and what it skips and why.

Symbolic links are followed only to files inside the folder; links leading out of it, broken
links, links to folders, FIFOs, sockets, devices and folders that cannot be read are skipped and
reported (so a results file says what was not scored), never opened: reading a FIFO would hang.
Hidden files and folders (a leading ``.``) are skipped silently, as a camera's own files are.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from nolabel.components.common.errors import InputError


@dataclass
class Skipped:
    """A path under the folder that is not scored: relative path, reason code, sentence."""

    path: str
    reason: str
    message: str


@dataclass
class Scan:
    """Regular files to score (sorted) and the entries skipped."""

    files: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _classify_link(path: Path, root: Path) -> str | None:
    """None if a link may be scored, else the reason it is skipped."""
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return "broken_link"
    if not target.is_relative_to(root):
        return "link_outside_folder"
    if target.is_dir():
        return "linked_folder"
    return None if target.is_file() else "not_a_file"


MESSAGES = {
    "broken_link": "symbolic link to nothing",
    "link_outside_folder": "symbolic link leading out of the scored folder; not followed",
    "linked_folder": "symbolic link to a folder; not followed",
    "not_a_file": "not a regular file (FIFO, socket or device); not read",
    "unreadable_folder": "folder cannot be read",
}


def scan_folder(root: Path) -> Scan:
    """Walk ``root`` without following links out of it; see the module docstring."""
    if not root.is_dir():
        raise InputError(f"{root} is not a directory")
    real_root = root.resolve()
    scan = Scan()

    def skip(path: Path, reason: str, detail: str = "") -> None:
        message = MESSAGES[reason] + (f": {detail}" if detail else "")
        scan.skipped.append(Skipped(path.relative_to(root).as_posix(), reason, message))

    def unreadable(error: OSError) -> None:
        skip(Path(error.filename), "unreadable_folder", error.strerror or str(error))

    for folder, dirs, names in os.walk(root, onerror=unreadable, followlinks=False):
        base = Path(folder)
        dirs[:] = sorted(d for d in dirs if not _hidden(d))
        for name in [d for d in dirs if (base / d).is_symlink()]:
            dirs.remove(name)
            reason = _classify_link(base / name, real_root) or "linked_folder"
            skip(base / name, reason)
        for name in names:
            if _hidden(name):
                continue
            path = base / name
            try:
                mode = path.lstat().st_mode
            except OSError as exc:
                skip(path, "not_a_file", exc.strerror or str(exc))
                continue
            if stat.S_ISLNK(mode):
                reason = _classify_link(path, real_root)
                if reason:
                    skip(path, reason)
                    continue
            elif not stat.S_ISREG(mode):
                skip(path, "not_a_file")
                continue
            scan.files.append(path)
    scan.files.sort()
    scan.skipped.sort(key=lambda s: s.path)
    return scan
