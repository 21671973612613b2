"""Writing below an output folder (``sort --into``, ``--crops``) without being led out of it.

Each sub-folder is created or opened from its parent's descriptor with ``O_NOFOLLOW``: a link
planted as ``into/review`` (say, into the scored card) is refused, not written through.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from nolabel.components.common.errors import InputError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
DIR_FLAGS = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC


def output_folder(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` created if needed and resolved; a file there or no permission is an
    :class:`InputError`."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{what} {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot make {what} {folder}: {exc.strerror or exc}") from None
    return folder.resolve()


def open_subfolder(base: Path, parts: Iterable[str], create: bool = True) -> int:
    """A descriptor of ``base/parts...``, each part made (``create``) and opened without
    following links; the caller closes it. A link or file in the way is an :class:`InputError`;
    a missing part without ``create`` raises :class:`FileNotFoundError`."""
    folder = os.open(base, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    walked = base
    try:
        for part in parts:
            walked = walked / part
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=folder)
            try:
                inner = os.open(part, DIR_FLAGS, dir_fd=folder)
            except FileNotFoundError:
                raise
            except OSError as exc:
                raise InputError(
                    f"{walked} is a link or file, not a plain folder; not written into"
                    f" ({exc.strerror})"
                ) from None
            os.close(folder)
            folder = inner
    except BaseException:
        os.close(folder)
        raise
    return folder


def write_file_in(folder: int, name: str, data: bytes) -> None:
    """Replace ``name`` in the folder ``folder`` with ``data`` (a fresh file renamed over it)."""
    part = f".{name}.part"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    with contextlib.suppress(FileNotFoundError):
        os.unlink(part, dir_fd=folder)
    handle = os.open(part, flags, 0o666, dir_fd=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(part, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        os.unlink(part, dir_fd=folder)
        raise
