"""Image bytes → checked RGB images: magic-byte sniffing, pixel caps, metadata stripping."""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from nolabel.components.common.defaults import DEFAULT_MAX_PIXELS
from nolabel.components.common.errors import InputError

_MAGIC = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp"}


class ImageError(InputError):
    """An unusable image; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def sniff_image_type(data: bytes) -> str | None:
    """The image format named by the leading bytes, or None if it is not a known image."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS):
    """Decode bytes into an RGB ``PIL.Image``, refusing non-images, bombs and truncated files."""
    return decode_scaled(data, max_pixels)[0]


def decode_scaled(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS, min_side: int | None = None):
    """Like :func:`decode_image`, plus the full (EXIF-upright) size: ``(image, (width, height))``.

    With ``min_side`` a large JPEG is decoded at 1/2, 1/4 or 1/8 scale by libjpeg itself (much
    faster and smaller), never below ``min_side`` on either side; other formats decode in full
    and are then reduced by an integer factor to the same bound.
    Coordinates on the returned image map to the full size by the ratio of the two sizes.
    """
    from PIL import Image, ImageOps

    if not data:
        raise ImageError("empty", "empty image")
    kind = sniff_image_type(data)
    if kind is None:
        raise ImageError("not_an_image", "content is not a JPEG/PNG/GIF/BMP/TIFF/WebP image")
    width, height = image_size(data, max_pixels)
    try:
        with Image.open(io.BytesIO(data)) as image:
            if min_side and kind == "jpeg":
                image.draft("RGB", (min_side, min_side))
            image.load()
            swapped = image.getexif().get(0x0112) in (5, 6, 7, 8)  # rotated by 90 degrees
            image = _reduce(ImageOps.exif_transpose(image), min_side)
            return image.convert("RGB"), ((height, width) if swapped else (width, height))
    except Image.DecompressionBombError as exc:
        raise ImageError("too_many_pixels", str(exc)) from None
    except Exception as exc:
        raise ImageError("undecodable", f"cannot decode {kind}: {exc}") from None


def image_size(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) from the header alone; refuses non-images and sizes over the cap."""
    from PIL import Image

    kind = sniff_image_type(data)
    if kind is None:
        raise ImageError("not_an_image", "content is not a JPEG/PNG/GIF/BMP/TIFF/WebP image")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
    except Image.DecompressionBombError:  # over twice Pillow's own limit: size it ourselves
        raise ImageError("too_many_pixels", f"exceeds the pixel cap of {max_pixels}") from None
    except Exception as exc:
        raise ImageError("undecodable", f"cannot read {kind} header: {exc}") from None
    if width * height > max_pixels:
        raise ImageError(
            "too_many_pixels", f"{width}x{height} exceeds the pixel cap of {max_pixels}"
        )
    return width, height


def decode_cost(data: bytes, min_side: int | None, max_pixels: int = DEFAULT_MAX_PIXELS) -> int:
    """Pixels :func:`decode_scaled` holds at once for these bytes (a JPEG decodes reduced)."""
    width, height = image_size(data, max_pixels)
    scale = 1
    if min_side and sniff_image_type(data) == "jpeg":
        while scale < 8 and min(width, height) // (scale * 2) >= min_side:
            scale *= 2
    return -(-width // scale) * -(-height // scale)


def _reduce(image, min_side: int | None):
    """Shrink by an integer factor keeping both sides >= ``min_side`` (any format; a JPEG was
    already reduced by its decoder), so a large PNG is not held at full size."""
    if not min_side:
        return image
    factor = min(image.size) // min_side
    return image.reduce(factor) if factor >= 2 else image


@functools.lru_cache(maxsize=1)
def _libc():
    """glibc, loaded once (``find_library`` runs a subprocess); None elsewhere."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c"))
    except OSError:
        return None


def release_memory() -> None:
    """Hand freed heap pages back to the system (glibc keeps them after large decodes)."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:  # not glibc: nothing to do
        trim(0)


def models_side(classifier: Any = None, detector: Any = None, proposer: Any = None) -> int | None:
    """Pixels a side these models look at (``input_size`` / ``image_size`` / ``min_side``), so
    a larger JPEG can be decoded reduced; None when a given model does not say."""
    sides = [getattr(classifier, "input_size", None)] if classifier is not None else []
    if detector is not None:
        sides.append(getattr(detector, "image_size", None))
    if proposer is not None:
        sides.append(getattr(proposer, "min_side", None))
    if not sides or not all(isinstance(side, int) and side > 0 for side in sides):
        return None
    return max(sides)


def to_full_pixels(boxes: Any, array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """K×4 xyxy boxes on ``array`` (maybe a reduced decode) in the full image's pixels."""
    rows, cols = array.shape[:2]
    scale = np.array([size[0] / cols, size[1] / rows] * 2)
    return np.asarray(boxes, dtype=float).reshape(-1, 4) * scale


def encode_jpeg(image, quality: int = 92) -> bytes:
    """JPEG bytes of an RGB image with no EXIF/GPS or other metadata."""
    buffer = io.BytesIO()
    clean = image.convert("RGB")
    clean.info.pop("exif", None)
    clean.save(buffer, format="JPEG", quality=quality, exif=b"", icc_profile=None)
    return buffer.getvalue()


def load_rgb(source: bytes | str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_PIXELS):
    """An RGB ``PIL.Image`` from bytes or a file path (errors as ``ImageError``)."""
    if isinstance(source, bytes | bytearray):
        return decode_image(bytes(source), max_pixels)
    path = Path(source)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError("unreadable", f"cannot read {path}: {exc.strerror or exc}") from None
    return decode_image(data, max_pixels)


def to_array(image) -> np.ndarray:
    """HxWx3 uint8 array of an RGB image."""
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def list_images(root: str | os.PathLike[str], recursive: bool = True) -> list[Path]:
    """Image-like files under ``root`` by suffix, sorted (content is checked when read)."""
    base = Path(root)
    if not base.is_dir():
        raise InputError(f"{root} is not a directory")
    pattern = base.rglob("*") if recursive else base.glob("*")
    return sorted(p for p in pattern if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
