"""Image augmentations (the seeds' ImageSetAugmenter and the web → camera-trap gap).

- ``flip``: horizontal mirror (the seeds' augmentation);
- ``grey``: luminance only, like night-time infrared frames;
- ``crop``: random scale/crop (small or partly visible animals);
- ``blur``: Gaussian blur plus sensor noise (motion blur, low light).

Randomness is seeded by the image id, so features are reproducible.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd

from nolabel.components.common.errors import InputError
from nolabel.components.common.images import decode_image, to_array

AUGMENTATIONS = ("flip", "grey", "crop", "blur")
ORIGINAL = "none"


def check_augmentations(names: Sequence[str]) -> tuple[str, ...]:
    """Validate augmentation names; return them de-duplicated in canonical order."""
    unknown = set(names) - set(AUGMENTATIONS)
    if unknown:
        raise InputError(
            f"unknown augmentation(s) {', '.join(sorted(unknown))}; use {', '.join(AUGMENTATIONS)}"
        )
    return tuple(name for name in AUGMENTATIONS if name in names)


def _rng(image_id: str, name: str) -> np.random.Generator:
    seed = int.from_bytes(hashlib.sha256(f"{image_id}:{name}".encode()).digest()[:8], "little")
    return np.random.default_rng(seed)


def augment_image(image: np.ndarray, name: str, image_id: str = "") -> np.ndarray:
    """One augmented copy of an H×W×3 uint8 image (deterministic per ``image_id``)."""
    from PIL import Image, ImageFilter

    rng = _rng(image_id, name)
    if name == "flip":
        return np.ascontiguousarray(image[:, ::-1])
    if name == "grey":
        grey = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        return np.repeat(grey.round().clip(0, 255).astype(np.uint8)[..., None], 3, axis=2)
    if name == "crop":
        height, width = image.shape[:2]
        scale = rng.uniform(0.45, 0.85)
        aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        ch = int(np.clip(round(height * scale / np.sqrt(aspect)), 8, height))
        cw = int(np.clip(round(width * scale * np.sqrt(aspect)), 8, width))
        top = int(rng.integers(0, height - ch + 1))
        left = int(rng.integers(0, width - cw + 1))
        return np.ascontiguousarray(image[top : top + ch, left : left + cw])
    if name == "blur":
        radius = rng.uniform(1.0, 2.5) * max(image.shape[:2]) / 224
        blurred = np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius)))
        noise = rng.normal(0.0, 8.0, size=image.shape)
        return (blurred.astype(np.float32) + noise).round().clip(0, 255).astype(np.uint8)
    raise InputError(f"unknown augmentation {name!r}")


def expand(
    ids: Sequence[str], images: Sequence[np.ndarray | None], augmentations: Sequence[str]
) -> Iterator[tuple[int, str, np.ndarray | None]]:
    """(row index, augmentation, image) for each original and each augmented copy."""
    for index, (image_id, image) in enumerate(zip(ids, images, strict=True)):
        yield index, ORIGINAL, image
        for name in augmentations:
            yield index, name, None if image is None else augment_image(image, name, image_id)


def _decode(data: bytes) -> np.ndarray:

    return to_array(decode_image(bytes(data)))


def _encode_png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def augment_frame(
    frame: pd.DataFrame,
    augmentations: Sequence[str] = ("flip",),
    image_col: str = "image",
    id_col: str = "id",
) -> pd.DataFrame:
    """Original rows ∪ augmented copies (ImageSetAugmenter): other columns kept, an
    ``augmentation`` column added (``none`` for originals). ``image_col`` holds encoded bytes;
    copies are PNG bytes."""
    names = check_augmentations(augmentations)
    ids = [str(v) for v in frame[id_col]] if id_col in frame else [str(i) for i in frame.index]
    parts = [frame.assign(augmentation=ORIGINAL)]
    for name in names:
        copy = frame.copy()
        copy[image_col] = [
            _encode_png(augment_image(_decode(data), name, image_id))
            for image_id, data in zip(ids, frame[image_col], strict=True)
        ]
        parts.append(copy.assign(augmentation=name))
    return pd.concat(parts, ignore_index=True)


def augment_dataframe(sdf, augmentations: Sequence[str] = ("flip",), image_col: str = "image"):
    """Spark version of :func:`augment_frame` (``mapInPandas``): rows × (1 + augmentations)."""
    from pyspark.sql.types import StringType, StructField, StructType

    names = check_augmentations(augmentations)
    schema = StructType([*sdf.schema.fields, StructField("augmentation", StringType(), False)])
    id_col = "id" if "id" in sdf.columns else None

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            if id_col is None:
                batch = batch.assign(id=[str(i) for i in range(len(batch))])
                yield augment_frame(batch, names, image_col).drop(columns="id")
            else:
                yield augment_frame(batch, names, image_col)

    return sdf.mapInPandas(run, schema)
