"""Reading the frames `nolabel score` scans, when the card may change under it.

The scan (``scan.py``) decides what is read: regular files, and links to files inside the
folder (read as their target). Between the scan and the read a file can be deleted or swapped
for a FIFO (a reader would hang), a device or a link out of the folder, so every frame is opened
with :func:`~nolabel.components.common.safe_files.open_regular`: no link is followed, only a
regular file is read. A refused frame becomes a failure with the scan's reason codes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from nolabel.components.common.images import ImageError, decode_scaled, sniff_image_type, to_array
from nolabel.components.common.safe_files import UnsafeFileError, open_regular
from nolabel.components.detect.scan import MESSAGES, _classify_link
from nolabel.components.results.schema import is_image_name

SNIFF_BYTES = 16


@dataclass
class Decoded:
    """An image's pixels (a large JPEG decoded reduced) and its full (width, height); ``seen``:
    what the finders see instead (a lone infrared frame equalized), None: the pixels."""

    array: np.ndarray
    size: tuple[int, int]
    seen: np.ndarray | None = None


def frame_location(root: Path, path: Path) -> Path:
    """Where to read the scanned ``path`` (under ``root``): a link to a file inside the folder
    (the scan lets those through) is its target under the real root, any other path itself."""
    try:
        if not path.is_symlink():
            return path
        real_root, target = root.resolve(), path.resolve(strict=True)
    except (OSError, RuntimeError):
        return path  # gone or a loop: the open refuses it with the reason
    return target if target.is_relative_to(real_root) else path


def _open_root(root: Path, location: Path) -> Path:
    """The folder ``location`` is opened below: ``root``, or the real root for a link's target."""
    return root if location.is_relative_to(root) else root.resolve()


def refusal_reason(root: Path, path: Path) -> str:
    """Why ``path`` (under ``root``) could not be opened as a plain file, in the scan's words:
    ``linked_folder``, ``broken_link``, ``link_outside_folder``, ``not_a_file`` or
    ``unreadable`` (deleted, say)."""
    real_root, current = root.resolve(), root
    parts = PurePosixPath(path.relative_to(root).as_posix()).parts
    for index, part in enumerate(parts):
        current = current / part
        last = index == len(parts) - 1
        try:
            mode = current.lstat().st_mode
        except OSError:
            return "unreadable"
        if stat.S_ISLNK(mode):
            return (_classify_link(current, real_root) or "unreadable") if last else "linked_folder"
        if last:
            return "unreadable" if stat.S_ISREG(mode) else "not_a_file"
        if not stat.S_ISDIR(mode):
            return "unreadable"
    return "unreadable"


def open_frame(root: Path, path: Path) -> int:
    """A blocking read-only descriptor of the scanned frame ``path``; :class:`UnsafeFileError`
    when it is no longer a regular file inside ``root`` (or is gone)."""
    location = frame_location(root, path)
    return open_regular(_open_root(root, location), location)


def load_image(root: Path, path: Path, max_pixels: int, min_side: int | None = None):
    """A :class:`Decoded` of the scanned frame ``path``, or (reason, message) when it is not a
    usable image or is no longer a regular file."""
    try:
        handle = open_frame(root, path)
    except UnsafeFileError as exc:
        reason = refusal_reason(root, path)
        if reason == "unreadable":
            return (reason, f"cannot read: {exc}")
        return (reason, f"{MESSAGES[reason]} (found after the scan): {exc}")
    try:
        with os.fdopen(handle, "rb") as stream:
            return decode_frame(
                path.name, stream.read(SNIFF_BYTES), stream.read, max_pixels, min_side
            )
    except OSError as exc:
        return ("unreadable", f"cannot read: {exc.strerror or exc}")


def decode_frame(
    name: str,
    head: bytes,
    read_rest: Callable[[], bytes],
    max_pixels: int,
    min_side: int | None = None,
):
    """A :class:`Decoded` of the frame called ``name`` whose first bytes are ``head``, or
    (reason, message) when it is no image; ``read_rest`` (the remaining bytes) is called only
    for an image."""
    if sniff_image_type(head) is None:
        return ("not_an_image", "content is not a JPEG/PNG/GIF/BMP/TIFF/WebP image")
    if not is_image_name(name):  # a results file lists images by their names
        return ("not_an_image_name", "an image without an image name (.jpg, .png ...)")
    try:
        image, size = decode_scaled(head + read_rest(), max_pixels, min_side)
        return Decoded(to_array(image), size)
    except ImageError as exc:
        return (exc.reason, str(exc))
