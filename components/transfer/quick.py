"""A small real classifier in seconds, without Spark: for other steps' tests and demos."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nolabel.components.common import tracking
from nolabel.components.common.datasets import POSITIVE
from nolabel.components.common.errors import InputError
from nolabel.components.common.names import CANDIDATE
from nolabel.components.transfer.classifier import ImageClassifier, save_classifier
from nolabel.components.transfer.metrics import calibrate_threshold
from nolabel.components.transfer.runtime import FeatureExtractor, cached_onnx


@dataclass
class QuickClassifier:
    """What ``train_classifier_from_arrays`` made: the loaded classifier and where it lives."""

    classifier: ImageClassifier
    model_dir: Path
    model_uri: str | None
    model_version: str | None
    run_id: str | None


def _as_binary(labels: Sequence) -> np.ndarray:
    values = [(1 if v == POSITIVE else 0) if isinstance(v, str) else int(bool(v)) for v in labels]
    return np.asarray(values, dtype=int)


def train_classifier_from_arrays(
    images: np.ndarray | Sequence[np.ndarray],
    labels: Sequence,
    *,
    backbone: str = "efficientnet-lite0",
    cut_layers: int = 1,
    input_size: int = 96,
    weights: str | None = None,
    reg_param: float = 0.01,
    register: bool = True,
    alias: str = CANDIDATE,
    model_dir: str | Path | None = None,
) -> QuickClassifier:
    """Featurize uint8 RGB images, fit a logistic regression (scikit-learn), save the model and,
    with ``register``, log it to MLflow and register it as ``nolabel-classifier@alias``.

    ``labels``: 1/0 or "positive"/"negative". The threshold is calibrated (max F1) on the
    training images. Typical cost: a few seconds for 20–40 small images at ``input_size=96``.
    """
    from sklearn.linear_model import LogisticRegression

    y = _as_binary(labels)
    if len(y) != len(images) or len(np.unique(y)) < 2:
        raise InputError("need one label per image and both classes present")
    onnx_path = (
        None if backbone == "pixels" else cached_onnx(backbone, (cut_layers,), input_size, weights)
    )
    extractor = FeatureExtractor(backbone, (cut_layers,), input_size, weights, onnx_path=onnx_path)
    features = extractor.extract(images)[extractor.cuts[0]]
    model = LogisticRegression(C=1.0 / max(reg_param * len(y), 1e-9), max_iter=2000)
    model.fit(features, y)
    prob = model.predict_proba(features)[:, 1]
    config = {
        "backbone": backbone,
        "cut_layers": extractor.cuts[0],
        "input_size": input_size,
        "weights": weights,
        "coefficients": model.coef_[0].astype(float).tolist(),
        "intercept": float(model.intercept_[0]),
        "threshold": calibrate_threshold(y, prob),
        "variant": f"quick-cut{extractor.cuts[0]}",
        "ensemble_key": None,
    }
    target = Path(model_dir or tempfile.mkdtemp(prefix="nolabel-classifier-"))
    save_classifier(target, config, onnx_path=onnx_path, weights=weights)
    uri = version = run_id = None
    if register:
        from nolabel.components.transfer.pyfunc import log_classifier

        with tracking.start_run("transfer-quick", tags={"step": "transfer"}) as run:
            tracking.log_params({k: config[k] for k in ("backbone", "cut_layers", "input_size")})
            uri, version = log_classifier(target, alias=alias)
            run_id = run.info.run_id
    classifier = ImageClassifier.from_dir(target, version=version)
    return QuickClassifier(classifier, target, uri, version, run_id)
