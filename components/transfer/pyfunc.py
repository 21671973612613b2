"""MLflow pyfunc flavour of the classifier: images (bytes or paths) in, probabilities out."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from nolabel.components.common import tracking
from nolabel.components.common.images import DEFAULT_MAX_PIXELS, load_rgb, to_array
from nolabel.components.common.names import CANDIDATE
from nolabel.components.transfer.classifier import MODEL_NAME, ImageClassifier

PIP_REQUIREMENTS = [
    "numpy",
    "pandas",
    "pillow",
    "onnxruntime",
    "torch",
    "efficientnet-lite-pytorch",
]


def _images_from_input(model_input: Any, max_pixels: int) -> list[np.ndarray]:

    if isinstance(model_input, pd.DataFrame):
        column = next(
            (c for c in ("image", "images", "path", "bytes") if c in model_input.columns),
            model_input.columns[0],
        )
        values = list(model_input[column])
    elif isinstance(model_input, pd.Series):
        values = list(model_input)
    elif isinstance(model_input, bytes | str | Path):
        values = [model_input]
    else:
        values = list(model_input)
    images = []
    for value in values:
        if isinstance(value, np.ndarray) and value.ndim == 3:
            images.append(value.astype(np.uint8, copy=False))
        else:
            images.append(to_array(load_rgb(value, max_pixels)))
    return images


warnings.filterwarnings("ignore", message=r".*type hints to the `predict` method.*")


class ClassifierPyfunc(mlflow.pyfunc.PythonModel):
    """Pyfunc wrapper: ``predict`` takes a DataFrame (column ``image``: bytes or paths), a list
    of bytes/paths, or HxWx3 arrays, and returns a DataFrame with ``probability`` and ``label``."""

    def load_context(self, context) -> None:
        self.classifier = ImageClassifier.from_dir(context.artifacts["classifier"])

    def predict(self, context, model_input, params: dict[str, Any] | None = None) -> pd.DataFrame:
        images = _images_from_input(
            model_input, (params or {}).get("max_pixels", DEFAULT_MAX_PIXELS)
        )
        probability = self.classifier.predict_proba(images)
        return pd.DataFrame(
            {
                "probability": probability,
                "label": (probability >= self.classifier.threshold).astype(int),
            }
        )


def log_classifier(
    model_dir: str | Path,
    register: bool = True,
    alias: str = CANDIDATE,
    name: str = MODEL_NAME,
) -> tuple[str, str | None]:
    """Log a classifier directory as a pyfunc in the active run; register it; (uri, version)."""

    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=ClassifierPyfunc(),
        artifacts={"classifier": str(model_dir)},
        pip_requirements=PIP_REQUIREMENTS,
    )
    version = tracking.register_model(info.model_uri, name, alias) if register else None
    uri = f"models:/{name}/{version}" if version else info.model_uri
    return uri, version
