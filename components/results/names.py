"""File names from a results file, made safe to show and to link: a name may hold bytes that are
not UTF-8 (kept surrogate-escaped in the JSON) or control characters such as a newline."""

from __future__ import annotations

import os
from urllib.parse import quote

__all__ = ["name_bytes", "printable", "url_path"]


def name_bytes(name: str) -> bytes:
    """A file name's bytes as on disk (a non-UTF-8 byte, held surrogate-escaped, restored)."""
    try:
        return os.fsencode(name)
    except UnicodeEncodeError:  # a lone surrogate no file name decodes to: no such file
        return name.encode("utf-8", "surrogatepass")


def printable(text: object) -> str:
    """``text`` as valid, printable UTF-8: undecodable bytes as ``\\xff``, control characters
    as ``\\n``, ``\\x1b``… (escape it for HTML as well)."""
    decoded = name_bytes(str(text)).decode("utf-8", "backslashreplace")
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in decoded
    )


def url_path(name: str) -> str:
    """``name``'s exact bytes, percent-encoded for a URL path (``/`` kept)."""
    return quote(name_bytes(name), safe="/")
