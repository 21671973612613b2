"""Where `nolabel score` reads its frames: a local folder, or a prefix of the artifact store.

``--images`` is a folder (:class:`LocalFrames`: the scan and the link-safe reads of ``scan.py``
and ``score_frames.py``) or a store URI (``s3://bucket/prefix/``, ``file://…``: any URI the
configured store names; :class:`StoreFrames`), read object by object without copying the card
first. Both give the scan as paths below ``root`` and read a frame by that path; the results'
``root`` records :attr:`uri`.

On the store an object is a failure for the reasons the local scan uses: a key that cannot name
a file below the prefix (``..``, ``.``, an empty or padded part, a control character) is
skipped as ``not_a_file`` and never read (its failure's path is percent-encoded, one safe
name); an object gone since the listing is ``unreadable``; zero bytes or other content are
``not_an_image``. Hidden keys (a part starting with ``.``) are skipped silently, as on disk. A
network or S3 fault stops the run (the partial log keeps what was scored): it would otherwise
be recorded as a failure of every frame.
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urlparse

from nolabel.components.common.bursts import burst_keys, exif_time_of
from nolabel.components.common.change import change_boxes
from nolabel.components.common.errors import InputError
from nolabel.components.common.images import sniff_image_type
from nolabel.components.common.store import ArtifactStore, LocalStore, normalize_key, open_store
from nolabel.components.detect.scan import Scan, Skipped, scan_folder
from nolabel.components.detect.score_frames import (
    SNIFF_BYTES,
    decode_frame,
    frame_location,
    load_image,
)

STORE_SCHEMES = ("s3://", "file://")
EXIF_HEAD = 128 * 1024  # a JPEG's EXIF segment (at most 64 KiB) sits at its start
CACHE_BYTES = 256 * 1024 * 1024  # frames of the current burst kept between change and decode


class LocalFrames:
    """The frames of a local folder (see ``scan.py`` and ``score_frames.py``)."""

    def __init__(self, images: str) -> None:
        self.root = Path(images).expanduser().absolute()
        self.uri = str(self.root.resolve())
        self.stamp = None  # ``burst_keys`` reads EXIF times under ``root``

    def scan(self) -> Scan:
        """The files to score and the entries skipped."""
        return scan_folder(self.root)

    def burst_keys(self, rels: Sequence[str], mode: str, gap_seconds: float) -> dict[str, str]:
        """Burst key of each frame (``common.bursts.burst_keys``)."""
        return burst_keys(self.root, rels, mode=mode, gap_seconds=gap_seconds)

    def change_boxes(self, paths: Sequence[Path]) -> list[list[Any]]:
        """Changed regions of each frame of one burst."""
        return change_boxes([frame_location(self.root, p) for p in paths])

    def load_image(self, path: Path, max_pixels: int, min_side: int | None = None):
        """A decoded frame, or (reason, message)."""
        return load_image(self.root, path, max_pixels, min_side)


class StoreFrames:
    """The objects under a prefix of the artifact store, as frames below ``root`` (``/``)."""

    def __init__(self, store: ArtifactStore, uri: str) -> None:
        self.store = store
        root, text = store.root_uri(), uri if uri.endswith("/") else uri + "/"
        if not text.startswith(root):
            raise InputError(f"{uri} is not in this store ({root})")
        rest = text[len(root) :].rstrip("/")
        if rest and normalize_key(rest) != rest:
            raise InputError(f"--images {uri}: the prefix is no plain folder name")
        self.prefix = rest + "/" if rest else ""
        self.uri = root + self.prefix
        self.root = PurePosixPath("/")
        self._stamps: dict[str, datetime | None] = {}
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self.stamp = self.timestamp  # the ``stamp`` of ``burst_keys``: EXIF from the store

    def scan(self) -> Scan:
        """Every object under the prefix (sorted), odd keys skipped as ``not_a_file``."""
        scan = Scan()
        for key in self.store.list(self.prefix):
            if not key.startswith(self.prefix) or key == self.prefix:
                continue
            rel = key[len(self.prefix) :]
            parts = rel.split("/")
            if any(part.startswith(".") and part not in (".", "..") for part in parts):
                continue  # hidden, as on disk
            problem = _key_problem(key, rel)
            if problem:
                message = f"object key {rel!r} cannot name a file below the prefix ({problem})"
                spelled = quote(rel, safe="").replace(".", "%2E")  # one safe name in results
                scan.skipped.append(Skipped(spelled, "not_a_file", message + "; not read"))
                continue
            scan.files.append(self.root / rel)
        scan.files.sort()
        scan.skipped.sort(key=lambda s: s.path)
        return scan

    def _rel(self, path: PurePosixPath) -> str:
        return path.relative_to(self.root).as_posix()

    def _read(self, rel: str) -> bytes:
        """The whole object (``KeyError`` when it is gone), kept for the next read of it."""
        if rel in self._cache:
            return self._cache[rel]
        data = self.store.get_bytes(self.prefix + rel)
        self._cache[rel] = data
        while sum(len(v) for v in self._cache.values()) > CACHE_BYTES and len(self._cache) > 1:
            self._cache.popitem(last=False)
        return data

    def timestamp(self, rel: str) -> datetime | None:
        """EXIF time of a frame from its first bytes (all of them for a long non-JPEG image)."""
        if rel not in self._stamps:
            try:
                head = self.store.read_head(self.prefix + rel, EXIF_HEAD)
                stamp = exif_time_of(io.BytesIO(head))
                kind = sniff_image_type(head)
                if stamp is None and len(head) == EXIF_HEAD and kind not in (None, "jpeg"):
                    whole = self.store.get_bytes(self.prefix + rel)  # EXIF may be anywhere
                    stamp = exif_time_of(io.BytesIO(whole))
            except KeyError:
                stamp = None  # gone: the read of the frame records it
            self._stamps[rel] = stamp
        return self._stamps[rel]

    def burst_keys(self, rels: Sequence[str], mode: str, gap_seconds: float) -> dict[str, str]:
        """Burst key of each frame, by the rules of ``common.bursts.burst_keys``."""
        return burst_keys(self.root, rels, mode=mode, gap_seconds=gap_seconds, stamp=self.timestamp)

    def change_boxes(self, paths: Sequence[PurePosixPath]) -> list[list[Any]]:
        """Changed regions of each frame of one burst (a gone frame takes no part)."""
        frames: list[bytes] = []
        for path in paths:
            try:
                frames.append(self._read(self._rel(path)))
            except KeyError:
                frames.append(b"")
        return change_boxes(frames)

    def load_image(self, path: PurePosixPath, max_pixels: int, min_side: int | None = None):
        """A decoded frame, or (reason, message) as ``score_frames.load_image`` gives them."""
        rel = self._rel(path)
        try:
            data = self._cache.pop(rel, None)
            if data is None:
                head = self.store.read_head(self.prefix + rel, SNIFF_BYTES)
                return decode_frame(
                    path.name, head, lambda: self._read(rel)[len(head) :], max_pixels, min_side
                )
            return decode_frame(path.name, data, lambda: b"", max_pixels, min_side)
        except KeyError:
            return ("unreadable", f"cannot read: {self.uri}{rel} is gone from the store")
        finally:
            self._cache.pop(rel, None)


def _key_problem(key: str, rel: str) -> str | None:
    """Why an object key cannot be read as a file below the prefix, or None."""
    if any(ord(char) < 32 or ord(char) == 127 for char in key):
        return "a control character"
    parts = rel.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "an empty, '.' or '..' part"
    try:
        if normalize_key(key) != key:
            return "a leading slash"
    except InputError:
        return "padded with spaces"
    return None


def open_frames(images: str, crops: str | None = None) -> LocalFrames | StoreFrames:
    """The frames ``--images`` names: a local folder, or a store URI (``s3://`` read from the
    store; a ``file://`` URI, in the local store or not, is read as the folder it names).
    ``crops`` (``--crops``) needs the frames on disk: refused for a store prefix."""
    if not images.startswith(STORE_SCHEMES):
        return LocalFrames(images)
    store = open_store()
    try:
        frames = StoreFrames(store, images)
    except InputError:
        if images.startswith("file://"):
            return LocalFrames(unquote(urlparse(images).path))
        raise InputError(
            f"--images {images} is not in the configured store ({store.root_uri()}); "
            "set NOLABEL_S3_BUCKET / NOLABEL_S3_ENDPOINT to its bucket"
        ) from None
    if isinstance(store, LocalStore):  # on disk: read with the link-safe local scan
        return LocalFrames(str(store.root / frames.prefix))
    if crops is not None:
        raise InputError(
            f"--crops reads the frames from disk, and --images {images} is in the store: "
            "copy the card locally to crop it (or score without --crops)"
        )
    return frames
