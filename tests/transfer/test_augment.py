"""Augmentations: ImageSetAugmenter semantics (rows double, ids kept) and each transform."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from nolabel.components.common.errors import InputError
from nolabel.components.transfer.augment import augment_dataframe, augment_frame, augment_image


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _frame(n: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (20, 30, 3), dtype=np.uint8) for _ in range(n)]
    return pd.DataFrame(
        {"id": [f"img{i}" for i in range(n)], "label": ["positive", "negative", "positive"][:n],
         "image": [_png(im) for im in images]}
    )  # fmt: skip


def test_flip_doubles_rows_keeps_ids_and_columns() -> None:
    frame = _frame()
    out = augment_frame(frame, ["flip"])
    assert len(out) == 2 * len(frame)
    assert sorted(out["id"]) == sorted(list(frame["id"]) * 2)
    assert set(out.columns) == set(frame.columns) | {"augmentation"}
    original = out[out["augmentation"] == "none"].set_index("id")
    flipped = out[out["augmentation"] == "flip"].set_index("id")
    for image_id in frame["id"]:
        assert original.loc[image_id, "label"] == flipped.loc[image_id, "label"]
        a = np.asarray(Image.open(io.BytesIO(original.loc[image_id, "image"])))
        b = np.asarray(Image.open(io.BytesIO(flipped.loc[image_id, "image"])))
        np.testing.assert_array_equal(a[:, ::-1], b)


@pytest.mark.slow
def test_spark_augmenter_doubles_rows(spark) -> None:
    frame = _frame()
    sdf = spark.createDataFrame(frame)
    out = augment_dataframe(sdf, ["flip"]).toPandas()
    assert len(out) == 6
    assert out.groupby("id").size().to_dict() == {"img0": 2, "img1": 2, "img2": 2}
    assert sorted(out["augmentation"].unique()) == ["flip", "none"]


def test_each_augmentation() -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    grey = augment_image(image, "grey", "a")
    assert grey.shape == image.shape and np.all(grey[..., 0] == grey[..., 2])
    crop = augment_image(image, "crop", "a")
    assert crop.shape[0] < 64 and crop.shape[1] < 80
    np.testing.assert_array_equal(crop, augment_image(image, "crop", "a"))  # seeded by id
    blur = augment_image(image, "blur", "a")
    assert blur.shape == image.shape and blur.std() < image.std()
    with pytest.raises(InputError, match="unknown augmentation"):
        augment_frame(_frame(), ["rotate"])
