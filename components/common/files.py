"""Atomic local file writes: a temporary sibling renamed over the target (no half-written file).

The temporary file gets a fresh random name, is created exclusively (a link planted there is
never followed) and is removed on any failure, so nothing but the finished file is left.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, creating its folder; returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    handle = os.open(tmp, flags, 0o666)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically; characters UTF-8 cannot hold (the
    surrogate escapes of an undecodable file name) are written as ``\\udcff``-style escapes."""
    return write_bytes_atomic(path, text.encode("utf-8", "backslashreplace"))
