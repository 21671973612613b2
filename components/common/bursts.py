"""Camera-trap bursts: group near-identical frames and aggregate their probabilities."""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

from nolabel.components.common.defaults import DEFAULT_BURST_GAP
from nolabel.components.common.errors import InputError
from nolabel.components.common.safe_files import open_regular

if TYPE_CHECKING:
    import numpy as np

BURST_MODES = ("auto", "exif", "name", "folder", "none")
BURST_METHODS = ("mean", "max", "top")

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 36867
_DATETIME_DIGITIZED = 36868
_DATETIME = 306
_EXIF_FORMAT = "%Y:%m:%d %H:%M:%S"
_NAME_BURST = re.compile(r"^(?P<prefix>.*\d.*?)[_-](?P<n>\d{1,3})$")
_DATE_LIKE = re.compile(r"\d{4}[-_.]\d{1,2}$")  # 2024-05-01: a date, not a burst counter
_CLIP = 1e-6


def _parse_exif_time(value: object) -> datetime | None:
    """A datetime from an EXIF ``YYYY:MM:DD HH:MM:SS`` value, or None if it is not one."""
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="ignore")
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip("\x00 ")[:19], _EXIF_FORMAT)
    except ValueError:
        return None


def exif_timestamp(path: Path) -> datetime | None:
    """EXIF DateTimeOriginal (else DateTimeDigitized, else DateTime) of an image file, or None.

    Only the header is read; bad or missing EXIF and unreadable files give None, never an error.
    """
    try:  # never through a link, never a FIFO (a card can change while it is read)
        with os.fdopen(open_regular(path.parent, path.name), "rb") as stream:
            return exif_time_of(stream)
    except Exception:
        return None


def exif_time_of(stream: BinaryIO) -> datetime | None:
    """:func:`exif_timestamp` of an open image stream (the bytes of a frame from the store)."""
    from PIL import Image

    try:
        with Image.open(stream) as image:
            exif = image.getexif()
            sub = exif.get_ifd(_EXIF_IFD)
            tags = (sub.get(_DATETIME_ORIGINAL), sub.get(_DATETIME_DIGITIZED), exif.get(_DATETIME))
    except Exception:
        return None
    for value in tags:
        stamp = _parse_exif_time(value)
        if stamp is not None:
            return stamp
    return None


def name_burst(relative: str) -> str | None:
    """Burst key of a name with a shared burst prefix: ``cam/SEQ75023_01.jpg`` -> ``cam/SEQ75023``.

    The stem must be ``<prefix with a digit>[_-]<1-3 digits>``; the folder part is kept. None
    without such a prefix: ``IMG_0001.JPG`` (sequential numbering), ``deer.jpg``, ``001.jpg``.
    """
    path = PurePosixPath(relative)
    match = _NAME_BURST.match(path.stem)
    if match is None or _DATE_LIKE.search(match["prefix"]):
        return None
    return str(path.with_name(match["prefix"]))


def _folder(relative: str) -> str:
    return str(PurePosixPath(relative).parent)


def _exif_bursts(stamped: dict[str, datetime], gap_seconds: float) -> dict[str, str]:
    """Within each folder, chain frames at most ``gap_seconds`` apart; key = the first frame."""
    by_folder: dict[str, list[str]] = defaultdict(list)
    for relative in stamped:
        by_folder[_folder(relative)].append(relative)
    keys: dict[str, str] = {}
    for frames in by_folder.values():
        frames.sort(key=lambda rel: (stamped[rel], rel))
        key, previous = frames[0], stamped[frames[0]]
        for relative in frames:
            if (stamped[relative] - previous).total_seconds() > gap_seconds:
                key = relative
            keys[relative] = key
            previous = stamped[relative]
    return keys


def burst_keys(
    root: Path,
    relatives: Sequence[str],
    *,
    mode: str = "auto",
    gap_seconds: float = DEFAULT_BURST_GAP,
    stamp: Callable[[str], datetime | None] | None = None,
) -> dict[str, str]:
    """Burst key for each relative (posix) path under ``root``; frames sharing a key are a burst.
    ``stamp`` gives a frame's EXIF time by its relative path (default: read under ``root``).

    - ``exif``: per folder, frames sorted by EXIF time, consecutive ones at most ``gap_seconds``
      apart share a burst keyed by its first frame's relative path; frames without a time are alone.
    - ``name``: :func:`name_burst`, else the relative path.
    - ``folder``: the parent folder.
    - ``none``: every frame alone (its relative path).
    - ``auto``: ``exif`` for frames with an EXIF time, ``name`` for the rest.
    """
    if mode not in BURST_MODES:
        raise InputError(f"unknown burst mode {mode!r}; use one of {', '.join(BURST_MODES)}")
    if not gap_seconds >= 0:
        raise InputError(f"burst gap must be at least 0 seconds, got {gap_seconds}")
    if mode == "none":
        return {rel: rel for rel in relatives}
    if mode == "folder":
        return {rel: _folder(rel) for rel in relatives}
    if mode == "name":
        return {rel: name_burst(rel) or rel for rel in relatives}
    base = Path(root)
    stamp = stamp or (lambda rel: exif_timestamp(base / rel))
    stamps = {rel: stamp(rel) for rel in dict.fromkeys(relatives)}
    stamped = {rel: stamp for rel, stamp in stamps.items() if stamp is not None}
    keys = _exif_bursts(stamped, gap_seconds)
    fallback = name_burst if mode == "auto" else (lambda rel: None)
    return {rel: keys.get(rel) or fallback(rel) or rel for rel in relatives}


def burst_probability(
    probabilities: Sequence[float], keys: Sequence[str], method: str = "mean"
) -> np.ndarray:
    """Per-frame burst probability: the aggregate over every frame sharing the frame's key.

    ``mean``: mean logit (probabilities clipped to [1e-6, 1-1e-6]) mapped back by the sigmoid;
    ``max``: the highest probability; ``top``: mean of the top half of the burst (at least one).
    A frame alone in its burst keeps its own probability.
    """
    import numpy as np  # lazy: the CLI reads this module's names without numbers to crunch

    if method not in BURST_METHODS:
        raise InputError(f"unknown burst method {method!r}; use one of {', '.join(BURST_METHODS)}")
    probs = np.asarray(probabilities, dtype=float).reshape(-1)
    if len(probs) != len(keys):
        raise InputError(f"{len(probs)} probabilities but {len(keys)} burst keys")
    groups: dict[str, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        groups[key].append(index)
    result = np.empty_like(probs)
    for indices in groups.values():
        values = probs[indices]
        if len(values) == 1:
            value = values[0]
        elif method == "max":
            value = values.max()
        elif method == "top":
            value = np.sort(values)[::-1][: max(1, len(values) // 2)].mean()
        else:
            clipped = np.clip(values, _CLIP, 1 - _CLIP)
            logit = np.log(clipped / (1 - clipped)).mean()
            value = 1 / (1 + np.exp(-logit))
        result[indices] = value
    return result
