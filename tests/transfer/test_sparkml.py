"""Spark ML pieces: ensemble-by-key, stratified group-aware split, class weights, threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nolabel.components.transfer.metrics import binary_metrics, calibrate_threshold
from nolabel.components.transfer.sparkml import class_weights, ensemble_by_key, split_ids


def test_ensemble_by_key_joins_back_and_collapses(spark) -> None:
    frame = pd.DataFrame(
        {"id": ["a", "b", "c", "d", "e"], "group": ["g1", "g1", "g2", "", ""],
         "probability": [0.2, 0.6, 0.9, 0.1, 0.7]}
    )  # fmt: skip
    sdf = spark.createDataFrame(frame)
    joined = ensemble_by_key(sdf).toPandas().set_index("id")
    assert len(joined) == 5
    assert joined.loc["a", "ensemble_probability"] == joined.loc["b", "ensemble_probability"]
    np.testing.assert_allclose(joined.loc["a", "ensemble_probability"], 0.4)
    np.testing.assert_allclose(joined.loc["c", "ensemble_probability"], 0.9)
    # empty keys are singletons, not one big group
    np.testing.assert_allclose(joined.loc["d", "ensemble_probability"], 0.1)
    np.testing.assert_allclose(joined.loc["e", "ensemble_probability"], 0.7)
    collapsed = ensemble_by_key(sdf, collapse=True).toPandas().set_index("group")
    assert len(collapsed) == 4
    assert collapsed.loc["g1", "count"] == 2
    np.testing.assert_allclose(collapsed.loc["g1", "ensemble_probability"], 0.4)


def test_split_is_stratified_and_keeps_groups_together() -> None:
    rows = pd.DataFrame(
        {"id": [f"i{k}" for k in range(40)],
         "label": ["positive"] * 20 + ["negative"] * 20,
         "group": [f"g{k // 4}" for k in range(40)]}
    )  # fmt: skip
    train, test = split_ids(rows, 0.25, seed=1)
    assert train.isdisjoint(test) and len(train | test) == 40
    test_rows = rows[rows["id"].isin(test)]
    assert set(test_rows["label"]) == {"positive", "negative"}
    for _, members in rows.groupby("group"):
        assert members["id"].isin(test).all() or not members["id"].isin(test).any()
    again = split_ids(rows, 0.25, seed=1)
    assert again == (train, test)


def test_class_weights_balance_classes() -> None:
    weights = class_weights(np.array([1, 0, 0, 0]))
    assert weights[1] * 1 == weights[0] * 3


def test_threshold_calibration_and_metrics() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    prob = np.array([0.1, 0.2, 0.3, 0.35, 0.8, 0.9])
    cut = calibrate_threshold(y, prob, "f1")
    assert 0.3 < cut <= 0.35
    youden = calibrate_threshold(y, prob, "youden")
    assert 0.3 < youden <= 0.35
    metrics = binary_metrics(y, prob, cut)
    assert metrics["accuracy"] == 1.0 and metrics["roc_auc"] == 1.0
    assert metrics["confusion_matrix"] == [[3, 0], [0, 3]]
    assert binary_metrics(y, prob, 0.5)["recall"] == 2 / 3
