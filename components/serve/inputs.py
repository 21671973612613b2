"""Image uploads: multipart files or a raw image body, checked by content type AND magic bytes.

The byte cap is enforced by :class:`.middleware.RequestContextMiddleware` while
the body is read; here we check media types, sniff the bytes and decode with the pixel cap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from fastapi import Request
from starlette.datastructures import UploadFile

from nolabel.components.common.images import ImageError, decode_scaled, sniff_image_type, to_array
from nolabel.components.serve.errors import ApiError

# Declared media type → the format sniffed from the bytes that it may carry.
IMAGE_MEDIA_TYPES = {
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/pjpeg": "jpeg",
    "image/png": "png",
    "image/gif": "gif",
    "image/bmp": "bmp",
    "image/x-ms-bmp": "bmp",
    "image/tiff": "tiff",
    "image/webp": "webp",
}
GENERIC_MEDIA_TYPES = {"application/octet-stream", ""}  # trust the magic bytes alone
BINARY = {"type": "string", "format": "binary"}


def image_request_body(field: str, many: bool) -> dict:
    """OpenAPI ``requestBody`` for an endpoint reading images (documents both upload styles)."""
    file_schema = {"type": "array", "items": BINARY, "minItems": 1} if many else BINARY
    content = {
        "multipart/form-data": {
            "schema": {"type": "object", "properties": {field: file_schema}, "required": [field]}
        }
    }
    if not many:
        for media_type in ("image/jpeg", "image/png", "image/webp", "application/octet-stream"):
            content[media_type] = {"schema": BINARY}
    return {"requestBody": {"required": True, "content": content}}


@dataclass
class UploadedImage:
    """A decoded upload: RGB pixels (maybe a reduced decode), its full size, the client's name."""

    filename: str | None
    array: np.ndarray
    format: str
    size: tuple[int, int] | None = None  # full (width, height); None: that of ``array``

    @property
    def width(self) -> int:
        return int(self.size[0] if self.size else self.array.shape[1])

    @property
    def height(self) -> int:
        return int(self.size[1] if self.size else self.array.shape[0])


def media_type_of(header: str | None) -> str:
    """``image/JPEG; q=1`` → ``image/jpeg``."""
    return (header or "").split(";", 1)[0].strip().lower()


def check_bytes(data: bytes, declared: str, filename: str | None) -> str:
    """Check declared type against the magic bytes; return the sniffed format."""
    label = f"{filename!r}" if filename else "the body"
    if declared not in IMAGE_MEDIA_TYPES and declared not in GENERIC_MEDIA_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"content type {declared!r} of {label} is not an image type "
            f"(use one of {', '.join(sorted(set(IMAGE_MEDIA_TYPES)))} or multipart/form-data)",
        )
    if not data:
        raise ImageError("empty", f"{label} is empty")
    sniffed = sniff_image_type(data)
    if sniffed is None:
        raise ImageError("not_an_image", f"{label} is not a JPEG/PNG/GIF/BMP/TIFF/WebP image")
    expected = IMAGE_MEDIA_TYPES.get(declared)
    if expected is not None and expected != sniffed:
        raise ApiError(
            415,
            "content_type_mismatch",
            f"{label} is declared {declared} but its bytes are {sniffed}",
        )
    return sniffed


def decode_upload(
    data: bytes, declared: str, filename: str | None, max_pixels: int, min_side: int | None = None
):
    """Check and decode one upload into an :class:`UploadedImage` (blocking; run in a thread).

    ``min_side``: the models need no more than this many pixels a side, so a large JPEG is
    decoded reduced (libjpeg DCT scaling); width/height stay those of the full image.
    """
    kind = check_bytes(data, declared, filename)
    try:
        image, size = decode_scaled(data, max_pixels, min_side)
    except ImageError as exc:
        if filename:
            raise ImageError(exc.reason, f"{filename!r}: {exc}") from None
        raise
    return UploadedImage(filename, to_array(image), kind, size)


async def read_uploads(
    request: Request, field: str, max_files: int
) -> list[tuple[bytes, str, str | None]]:
    """The raw (bytes, declared media type, filename) of every image in the request.

    More than ``max_files`` files is refused by the multipart parser (400).
    """
    content_type = media_type_of(request.headers.get("content-type"))
    if content_type == "multipart/form-data":
        form = await request.form(max_files=max_files, max_fields=max_files + 8)
        try:
            uploads = [v for v in form.getlist(field) if isinstance(v, UploadFile)]
            if not uploads:
                strays = [v for v in form.getlist(field) if not isinstance(v, UploadFile)]
                what = "a text field, not a file" if strays else "missing"
                raise ApiError(422, "invalid_request", f"multipart field {field!r} is {what}")
            files = []
            for upload in uploads:
                data = await upload.read()
                declared = media_type_of(upload.content_type)
                files.append((data, declared, upload.filename or None))
            return files
        finally:
            await form.close()  # spooled temporary files
    if content_type in IMAGE_MEDIA_TYPES or content_type == "application/octet-stream":
        return [(await request.body(), content_type, None)]
    if not content_type:
        raise ApiError(
            415,
            "unsupported_media_type",
            "missing Content-Type: send multipart/form-data or an image/* body",
        )
    raise ApiError(
        415,
        "unsupported_media_type",
        f"content type {content_type!r} is not supported: send multipart/form-data "
        "(field 'file') or a raw image body (image/jpeg, image/png, ...)",
    )
