"""Reduced JPEG decoding: fewer pixels for the models, the full size kept for coordinates."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from nolabel.components.common.images import ImageError, decode_image, decode_scaled


def _encoded(width: int, height: int, fmt: str = "JPEG", orientation: int | None = None) -> bytes:
    array = np.full((height, width, 3), 40, dtype=np.uint8)
    array[: height // 2, : width // 4] = (250, 250, 250)  # bright block at the top left
    image = Image.fromarray(array)
    buffer = io.BytesIO()
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        image.save(buffer, format=fmt, exif=exif.tobytes())
    else:
        image.save(buffer, format=fmt)
    return buffer.getvalue()


def test_large_jpeg_decodes_reduced_but_never_below_min_side():
    data = _encoded(1600, 1000)
    image, size = decode_scaled(data, min_side=200)
    assert size == (1600, 1000)
    assert min(image.size) >= 200 and image.size[0] <= 800  # libjpeg scaled it by at least 2
    assert image.size[0] / image.size[1] == pytest.approx(1.6, rel=0.02)
    reduced, _ = decode_scaled(data, min_side=300)
    assert min(reduced.size) >= 300
    assert decode_scaled(data)[0].size == (1600, 1000)  # no min_side: full decode
    assert decode_image(data).size == (1600, 1000)


def test_bright_block_stays_in_place_and_png_is_reduced_after_decoding():
    image, size = decode_scaled(_encoded(1600, 1000), min_side=100)
    array = np.asarray(image, dtype=float).mean(axis=2)
    ys, xs = np.nonzero(array > 150)
    scale_x, scale_y = size[0] / image.size[0], size[1] / image.size[1]
    assert (xs.max() + 1) * scale_x == pytest.approx(400, abs=2 * scale_x)
    assert (ys.max() + 1) * scale_y == pytest.approx(500, abs=2 * scale_y)
    png, png_size = decode_scaled(_encoded(900, 600, fmt="PNG"), min_side=100)
    assert png_size == (900, 600) and png.size == (150, 100)  # reduced by 600 // 100 = 6
    small, _ = decode_scaled(_encoded(900, 150, fmt="PNG"), min_side=100)
    assert small.size == (900, 150)  # halving would go below 100 px


def test_decode_cost_and_images_over_pillows_own_limit():
    from nolabel.components.common.images import decode_cost

    assert decode_cost(_encoded(900, 600, fmt="PNG"), min_side=100) == 900 * 600
    assert decode_cost(_encoded(1600, 1000), min_side=100) == 200 * 125  # libjpeg 1/8
    assert decode_cost(_encoded(1600, 1000), min_side=None) == 1600 * 1000
    from PIL import Image

    huge = io.BytesIO()  # 200 megapixels: over twice Pillow's bomb limit, refused at open
    Image.new("1", (20_000, 10_000)).save(huge, format="PNG")
    with pytest.raises(ImageError) as error:
        decode_scaled(huge.getvalue(), max_pixels=50_000_000)
    assert error.value.reason == "too_many_pixels"


def test_exif_rotation_reports_the_upright_full_size():
    image, size = decode_scaled(_encoded(1200, 800, orientation=6), min_side=100)
    assert size == (800, 1200)  # rotated by 90 degrees: portrait
    assert image.size[1] > image.size[0]
    assert size[0] / image.size[0] == pytest.approx(size[1] / image.size[1], rel=0.02)


def test_pixel_cap_and_garbage_are_refused_before_any_reduced_decode():
    with pytest.raises(ImageError, match="pixel cap"):
        decode_scaled(_encoded(1600, 1000), max_pixels=1_000_000, min_side=100)
    with pytest.raises(ImageError, match="not a JPEG"):
        decode_scaled(b"<html>nope</html>", min_side=100)
