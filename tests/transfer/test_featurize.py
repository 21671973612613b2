"""Spark featurizer: Parquet features next to the dataset, bad images reported, reuse."""

from __future__ import annotations

import numpy as np
import pytest

from nolabel.components.common.datasets import read_parquet
from nolabel.components.common.store import open_store
from nolabel.components.transfer.featurize import features_key, featurize_dataset, load_features
from tests.transfer.conftest import write_toy_dataset


@pytest.mark.slow
def test_featurizer_writes_features_and_reports_bad_images(spark) -> None:
    manifest = write_toy_dataset("toyfeat", 4, corrupt=1, missing=1)
    result = featurize_dataset(
        "toyfeat", cuts=(1, 2), input_size=64, augmentations=("flip",), batch_size=3, spark=spark
    )
    assert result.rows == 10
    assert result.errors == {"not_an_image": 1, "missing": 1}
    assert result.featurized == 16  # 8 good images, original + flipped
    assert result.feature_keys["cut2"] == features_key("toyfeat", "efficientnet-lite0", 2, 64)
    assert (
        result.feature_keys["cut2"]
        == "datasets/toyfeat/features/efficientnet-lite0-cut2-s64.parquet"
    )
    store = open_store()
    raw = read_parquet(store, result.feature_keys["cut1"])
    assert len(raw) == 10 and raw["error"].notna().sum() == 2
    cut1 = load_features(store, result.feature_keys["cut1"])
    cut2 = load_features(store, result.feature_keys["cut2"])
    assert len(cut1) == 8 and cut1["features"][0].shape == (1280,)
    assert cut2["features"][0].shape == (320,)
    assert set(cut1["id"]) <= set(manifest["sha256"])
    aug = load_features(store, result.feature_keys["cut2-aug"])
    assert len(aug) == 8 and set(aug["augmentation"]) == {"flip"}
    assert set(aug["id"]) == set(cut2["id"])
    # same images, same features (deterministic), and a second pass reuses the tables
    again = featurize_dataset(
        "toyfeat", cuts=(1, 2), input_size=64, augmentations=("flip",), spark=spark
    )
    assert again.reused
    fresh = featurize_dataset(
        "toyfeat", cuts=(2,), input_size=64, spark=spark, refresh=True, batch_size=8
    )
    redone = load_features(store, fresh.feature_keys["cut2"]).set_index("id")
    for image_id, feats in zip(cut2["id"], cut2["features"], strict=True):
        np.testing.assert_allclose(redone.loc[image_id, "features"], feats, rtol=1e-4, atol=1e-5)
