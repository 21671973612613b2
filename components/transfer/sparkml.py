"""Spark ML pieces: the logistic-regression pipeline, class weights, ensemble-by-key, splits."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nolabel.components.common.datasets import POSITIVE

SMALL_ROWS = 20_000


def class_weights(labels: np.ndarray) -> dict[int, float]:
    """Balanced weights ``n / (2 n_class)`` so both classes count equally."""
    labels = np.asarray(labels).astype(int)
    total = len(labels)
    return {c: total / (2.0 * max(int((labels == c).sum()), 1)) for c in (0, 1)}


def to_spark(spark, frame: pd.DataFrame, balance: bool = True):
    """Spark DataFrame (id, label, weight, features: Vector) from a pandas feature table."""
    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    labels = (frame["label"] == POSITIVE).astype(int).to_numpy()
    weights = class_weights(labels) if balance else {0: 1.0, 1: 1.0}
    pdf = pd.DataFrame(
        {
            "id": frame["id"].astype(str).to_numpy(),
            "group": frame["group"].astype(str).to_numpy(),
            "label": labels.astype(float),
            "weight": [weights[int(v)] for v in labels],
            "features": [np.asarray(v, dtype=np.float32) for v in frame["features"]],
        }
    )
    schema = "id string, group string, label double, weight double, features array<float>"
    sdf = spark.createDataFrame(pdf, schema=schema)
    if len(pdf) < SMALL_ROWS:  # one partition: each L-BFGS iteration is one task, not many
        sdf = sdf.coalesce(1)
    # Cut the lineage: a DataFrame made from pandas carries its rows inside every task, which
    # each optimizer iteration would otherwise ship again.
    return sdf.withColumn("features", array_to_vector(F.col("features"))).localCheckpoint()


def fit_pipeline(train_sdf, reg_param: float = 0.01, elastic_net: float = 0.0, max_iter: int = 100):
    """Fit a Spark ML Pipeline with a weighted LogisticRegression; return the PipelineModel."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression

    regression = LogisticRegression(
        featuresCol="features",
        labelCol="label",
        weightCol="weight",
        regParam=reg_param,
        elasticNetParam=elastic_net,
        maxIter=max_iter,
        standardization=True,
    )
    return Pipeline(stages=[regression]).fit(train_sdf)


def positive_probability(model, sdf) -> pd.DataFrame:
    """(id, group, label, probability) of the positive class, collected to pandas."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    scored = model.transform(sdf).select(
        "id", "group", "label", vector_to_array(F.col("probability"))[1].alias("probability")
    )
    return scored.toPandas()


def linear_coefficients(model) -> tuple[list[float], float]:
    """Coefficients and intercept of the pipeline's logistic regression (for numpy serving)."""
    regression = model.stages[-1]
    return [float(v) for v in regression.coefficients.toArray()], float(regression.intercept)


def ensemble_by_key(
    sdf,
    key_col: str = "group",
    prob_col: str = "probability",
    id_col: str = "id",
    collapse: bool = False,
    out_col: str = "ensemble_probability",
):
    """Mean probability over a key (MMLSpark's EnsembleByKey).

    ``collapse=False`` joins the mean back onto every row as ``out_col``; ``collapse=True``
    returns one row per key with ``out_col`` and ``count``. Rows whose key is empty or null are
    their own group (keyed by ``id_col``).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    key = F.when(F.col(key_col).isNull() | (F.col(key_col) == ""), F.col(id_col)).otherwise(
        F.col(key_col)
    )
    keyed = sdf.withColumn("_ensemble_key", key)
    if collapse:
        return (
            keyed.groupBy("_ensemble_key")
            .agg(F.mean(prob_col).alias(out_col), F.count(F.lit(1)).alias("count"))
            .withColumnRenamed("_ensemble_key", key_col)
        )
    window = Window.partitionBy("_ensemble_key")
    return keyed.withColumn(out_col, F.mean(prob_col).over(window)).drop("_ensemble_key")


def split_ids(rows: pd.DataFrame, test_fraction: float, seed: int) -> tuple[set[str], set[str]]:
    """Stratified (train ids, test ids); images sharing a non-empty ``group`` stay together."""
    from sklearn.model_selection import train_test_split

    unit = np.where(rows["group"].astype(str) != "", "g:" + rows["group"].astype(str), rows["id"])
    units = pd.DataFrame({"unit": unit, "y": (rows["label"] == POSITIVE).astype(int)})
    per_unit = units.groupby("unit")["y"].agg(lambda v: int(round(v.mean()))).reset_index()
    counts = per_unit["y"].value_counts()
    stratify = per_unit["y"] if len(counts) == 2 and counts.min() >= 2 else None
    n_test = max(1, int(round(len(per_unit) * test_fraction)))
    if stratify is not None:
        n_test = max(n_test, 2)
    train_units, test_units = train_test_split(
        per_unit["unit"], test_size=n_test, random_state=seed, stratify=stratify
    )
    test_set = set(test_units)
    is_test = np.isin(unit, list(test_set))
    ids = rows["id"].astype(str).to_numpy()
    return set(ids[~is_test]), set(ids[is_test])
