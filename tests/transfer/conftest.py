"""Transfer fixtures: one Spark session for the test session and generated toy datasets."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from nolabel.components.common.datasets import (
    MANIFEST_COLUMNS,
    NEGATIVE,
    POSITIVE,
    image_key,
    manifest_key,
    write_parquet,
)


def blob_image(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A light noisy background with a red disc somewhere."""
    image = (rng.integers(170, 230, (size, size, 3))).astype(np.uint8)
    cy, cx = rng.integers(size // 4, 3 * size // 4, 2)
    radius = rng.integers(size // 8, size // 4)
    yy, xx = np.mgrid[:size, :size]
    image[(yy - cy) ** 2 + (xx - cx) ** 2 < radius**2] = (210, 30, 30)
    return image


def stripes_image(rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A light noisy background with blue vertical stripes."""
    image = (rng.integers(170, 230, (size, size, 3))).astype(np.uint8)
    period = int(rng.integers(6, 12))
    offset = int(rng.integers(0, period))
    for column in range(offset, size, period):
        image[:, column : column + 2] = (30, 40, 200)
    return image


def toy_images(n_per_class: int, seed: int = 0, size: int = 64):
    """(images, labels): red blobs (positive) then blue stripes (negative)."""
    rng = np.random.default_rng(seed)
    images = [blob_image(rng, size) for _ in range(n_per_class)]
    images += [stripes_image(rng, size) for _ in range(n_per_class)]
    return images, [1] * n_per_class + [0] * n_per_class


def write_toy_dataset(
    name: str,
    n_per_class: int = 20,
    *,
    seed: int = 0,
    groups: int = 0,
    corrupt: int = 0,
    missing: int = 0,
) -> pd.DataFrame:
    """Write a generated dataset (manifest + JPEGs) into the current store; return the manifest.

    ``groups``: images per group key (0 = no group key); ``corrupt``: rows whose stored bytes
    are not an image; ``missing``: rows whose image is not in the store.
    """
    from PIL import Image

    from nolabel.components.common.images import encode_jpeg
    from nolabel.components.common.store import open_store

    store = open_store()
    images, labels = toy_images(n_per_class, seed)
    rows = []
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        data = encode_jpeg(Image.fromarray(image))
        sha = hashlib.sha256(data + str(index).encode()).hexdigest()
        key = image_key(name, sha)
        store.put_bytes(key, data)
        label_name = POSITIVE if label else NEGATIVE
        group = f"{label_name}-{index // groups}" if groups else ""
        rows.append({"sha256": sha, "key": key, "label": label_name, "group": group})
    for index in range(corrupt + missing):
        sha = hashlib.sha256(f"bad-{index}".encode()).hexdigest()
        key = image_key(name, sha)
        if index < corrupt:
            store.put_bytes(key, b"this is not an image at all")
        rows.append({"sha256": sha, "key": key, "label": NEGATIVE, "group": ""})
    frame = pd.DataFrame(rows)
    for column in MANIFEST_COLUMNS:
        if column not in frame:
            frame[column] = 0 if column in ("rank", "width", "height") else ""
    frame = frame[list(MANIFEST_COLUMNS)]
    write_parquet(store, manifest_key(name), frame)
    return frame


@pytest.fixture(scope="session")
def spark() -> Iterator:
    """One local Spark session shared by every transfer test."""
    from nolabel.components.transfer.featurize import spark_session

    session = spark_session("local[2]", "nolabel-transfer-tests")
    yield session
    session.stop()
