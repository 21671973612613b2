"""The detector as an MLflow pyfunc model: images (bytes or paths) in, boxes and scores out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np

from nolabel.components.common.images import load_rgb, to_array
from nolabel.components.detect.predictor import Detector

PIP_REQUIREMENTS = [
    "torch==2.13.0",
    "mmengine>=0.10.4,<0.11",
    "mmcv==2.1.0",
    "mmdet==3.3.0",
    "efficientnet-lite-pytorch==0.1.0",
    "pillow",
    "numpy",
    "pandas",
]


def _to_array(item: Any) -> np.ndarray:

    if isinstance(item, np.ndarray):
        return item
    if isinstance(item, bytes | bytearray | str | Path):
        return to_array(load_rgb(bytes(item) if isinstance(item, bytearray) else item))
    raise TypeError(f"unsupported image input {type(item).__name__}")


class DetectorModel(mlflow.pyfunc.PythonModel):
    """pyfunc input: a DataFrame with an ``image`` column (bytes or file paths) or a list of
    bytes/paths/arrays. Output: a DataFrame with ``boxes`` (list of [x1, y1, x2, y2] in pixels)
    and ``scores`` (list of floats) per image."""

    def load_context(self, context) -> None:

        self.detector = Detector(context.artifacts["config"], context.artifacts["checkpoint"])

    def predict(self, context, model_input, params=None):
        import pandas as pd

        if isinstance(model_input, pd.DataFrame):
            column = "image" if "image" in model_input.columns else model_input.columns[0]
            items = list(model_input[column])
        else:
            items = list(model_input)
        results = self.detector.predict([_to_array(item) for item in items])
        return pd.DataFrame(
            {
                "boxes": [r["boxes"].round(2).tolist() for r in results],
                "scores": [r["scores"].round(4).tolist() for r in results],
            }
        )


def log_model(config_path: Path, checkpoint_path: Path):
    """Log the pyfunc model under the active run; return MLflow's ModelInfo."""
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=DetectorModel(),
        artifacts={"config": str(config_path), "checkpoint": str(checkpoint_path)},
        pip_requirements=PIP_REQUIREMENTS,
    )
