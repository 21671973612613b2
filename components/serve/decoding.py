"""Bounded image decoding: a pixel budget per request and for all decodes in flight.

A small PNG can hold 49 megapixels of black; decoded in full it takes ~150 MB. Each request's
images are sized from their headers first (a request over ``max_request_pixels`` is refused
with 413 before anything is decoded), then decoded one at a time under a process-wide
:class:`PixelGate`, so concurrent requests never hold more than ``max_decoding_pixels`` in
decoders at once; freed pages go back to the system after a large decode.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from nolabel.components.common.images import ImageError, decode_cost, release_memory
from nolabel.components.serve.errors import ApiError
from nolabel.components.serve.inputs import UploadedImage, check_bytes, decode_upload

LARGE_DECODE = 4_000_000  # pixels after which freed memory is handed back at once


class PixelGate:
    """A counting gate in pixels: ``hold(n)`` waits until ``n`` more fit under the capacity
    (one request larger than the capacity runs alone)."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.in_use = capacity, 0
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(
                lambda: self.in_use == 0 or self.in_use + pixels <= self.capacity
            )
            self.in_use += pixels
        try:
            yield
        finally:
            with self._changed:
                self.in_use -= pixels
                self._changed.notify_all()


def _label(filename: str | None) -> str:
    return repr(filename) if filename else "the body"


def decode_within_budget(
    uploads: list[tuple[bytes, str, str | None]],
    gate: PixelGate,
    max_pixels: int,
    max_request_pixels: int,
    min_side: int | None,
) -> list[UploadedImage]:
    """Check every upload's header, refuse the request if it is over budget, then decode
    them one by one under ``gate`` (blocking; run in a worker thread)."""
    costs = []
    for data, declared, filename in uploads:
        check_bytes(data, declared, filename)
        try:
            costs.append(decode_cost(data, min_side, max_pixels))
        except ImageError as exc:
            raise ImageError(exc.reason, f"{_label(filename)}: {exc}") from None
    total = sum(costs)
    if total > max_request_pixels:
        raise ApiError(
            413,
            "too_many_pixels",
            f"the request's images need {total} pixels decoded, over the limit of "
            f"{max_request_pixels} per request: send fewer or smaller images",
        )
    images = []
    for (data, declared, filename), cost in zip(uploads, costs, strict=True):
        with gate.hold(cost):
            images.append(decode_upload(data, declared, filename, max_pixels, min_side))
        if cost >= LARGE_DECODE:
            release_memory()
    return images
