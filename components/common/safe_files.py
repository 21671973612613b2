"""Reading a frame named by a scan or a results file without being led elsewhere.

A card can be written to while nolabel works on it, and a results file can be handed over by
anyone: a frame swapped for a symbolic link (to ``/etc/passwd``), a FIFO (which blocks a reader
forever) or a device must never be read. Each path component is opened from its parent's
descriptor with ``O_NOFOLLOW``, the file itself also with ``O_NONBLOCK``, and the opened
descriptor must be a regular file: what is checked is what is read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath

from nolabel.components.common.errors import InputError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class UnsafeFileError(InputError):
    """The named file is a link, not a regular file, or outside its folder."""


def relative_inside(name: object) -> PurePosixPath:
    """``name`` as a relative path that stays inside its root (no ``..``, no absolute path,
    no NUL); raises :class:`UnsafeFileError` otherwise."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise UnsafeFileError(f"{name!r} is not a file name")
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise UnsafeFileError(f"{name!r} is not inside the scored folder")
    return rel


def open_regular(root: str | os.PathLike[str], name: str | os.PathLike[str]) -> int:
    """A read-only descriptor of ``root/name``, never through a link: every component below
    ``root`` is opened with ``O_NOFOLLOW`` and the file must be regular (not a FIFO, device or
    folder). ``name`` may be absolute if it lies under ``root``. The caller closes it."""
    base = Path(root)
    path = Path(name)
    if path.is_absolute():
        try:
            path = path.relative_to(base)
        except ValueError:
            raise UnsafeFileError(f"{name} is not inside {base}") from None
    rel = relative_inside(path.as_posix())
    parts = rel.parts
    try:
        folder = os.open(base, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    except OSError as exc:
        raise UnsafeFileError(f"cannot open the folder {base}: {exc.strerror}") from None
    try:
        for part in parts[:-1]:
            try:
                inner = os.open(
                    part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=folder
                )
            except OSError as exc:
                raise UnsafeFileError(
                    f"{rel}: {part!r} is not a plain folder ({exc.strerror})"
                ) from None
            os.close(folder)
            folder = inner
        flags = os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _CLOEXEC
        try:
            handle = os.open(parts[-1], flags, dir_fd=folder)
        except OSError as exc:
            why = "it is a symbolic link" if exc.errno == errno.ELOOP else exc.strerror
            raise UnsafeFileError(f"{rel} cannot be opened as a plain file ({why})") from None
    finally:
        os.close(folder)
    if not stat.S_ISREG(os.fstat(handle).st_mode):
        os.close(handle)
        raise UnsafeFileError(f"{rel} is not a regular file")
    os.set_blocking(handle, True)
    return handle


def read_regular(
    root: str | os.PathLike[str], name: str | os.PathLike[str], limit: int | None = None
) -> bytes:
    """The bytes of ``root/name`` (at most ``limit``), opened as :func:`open_regular` does."""
    handle = open_regular(root, name)
    with os.fdopen(handle, "rb") as stream:
        return stream.read() if limit is None else stream.read(limit)
