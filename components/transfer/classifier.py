"""The trained classifier without Spark: images (numpy) in, P(positive) out.

A saved classifier is a directory holding ``classifier.json`` (featurizer spec, logistic
regression coefficients, calibrated threshold) and ``features.onnx`` (the feature network); it
is logged to MLflow as a pyfunc and registered as ``nolabel-classifier``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nolabel.components.common import tracking
from nolabel.components.common.errors import InputError
from nolabel.components.common.names import CLASSIFIER_MODEL
from nolabel.components.transfer.runtime import FeatureExtractor

MODEL_NAME = CLASSIFIER_MODEL
CONFIG_FILE = "classifier.json"
ONNX_FILE = "features.onnx"
WEIGHTS_FILE = "weights.pth"
FORMAT = "nolabel-classifier/1"


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    z = np.asarray(z, dtype=np.float64)
    out = np.empty_like(z)
    positive = z >= 0
    out[positive] = 1.0 / (1.0 + np.exp(-z[positive]))
    exp = np.exp(z[~positive])
    out[~positive] = exp / (1.0 + exp)
    return out


class ImageClassifier:
    """Backbone features → logistic regression → P(positive). Thread-safe, batched.

    ``predict_proba`` takes a uint8 N×H×W×3 array or a list of H×W×3 uint8 RGB arrays of any
    sizes and returns a float array of N probabilities of the positive class.
    """

    def __init__(
        self,
        config: dict[str, Any],
        model_dir: str | Path | None = None,
        *,
        runtime: str = "auto",
        threads: int | None = None,
        name: str | None = None,
        version: str | None = None,
    ) -> None:

        if config.get("format") != FORMAT:
            raise InputError(f"not a nolabel classifier (format {config.get('format')!r})")
        self.config = config
        self.backbone: str = config["backbone"]
        self.cut_layers: int = int(config["cut_layers"])
        self.input_size: int = int(config["input_size"])
        self.threshold: float = float(config.get("threshold", 0.5))
        self.variant: str = config.get("variant", "")
        self.coefficients = np.asarray(config["coefficients"], dtype=np.float32)
        self.intercept = float(config["intercept"])
        self.name = name or config.get("name") or MODEL_NAME
        self.version = version
        self.batch_size = int(config.get("batch_size", 32))
        base = Path(model_dir) if model_dir else None
        onnx_path = base / ONNX_FILE if base and (base / ONNX_FILE).is_file() else None
        weights = base / WEIGHTS_FILE if base and (base / WEIGHTS_FILE).is_file() else None
        if self.backbone != "pixels" and onnx_path is None and weights is None:
            weights = config.get("weights")
        if runtime == "onnx" and onnx_path is None and self.backbone != "pixels":
            raise InputError("this classifier has no ONNX feature network")
        cuts = config.get("onnx_cuts") if onnx_path is not None else None
        self.extractor = FeatureExtractor(
            self.backbone,
            tuple(cuts or (self.cut_layers,)),
            self.input_size,
            weights=str(weights) if weights else None,
            runtime=runtime if onnx_path is not None else "torch",
            onnx_path=onnx_path,
            threads=threads,
        )

    @property
    def runtime(self) -> str:
        """ "onnx", "torch" or "pixels": what computes the features."""
        return self.extractor.runtime

    def features(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """N×D features of the classifier's cut."""
        return self.extractor.extract(images, self.batch_size)[max(1, self.cut_layers)]

    def decision_function(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Logits of the positive class."""
        if len(images) == 0:
            return np.zeros(0, dtype=np.float64)
        feats = self.features(images)
        if feats.shape[1] != self.coefficients.shape[0]:
            raise InputError(
                f"feature size {feats.shape[1]} does not match the model "
                f"({self.coefficients.shape[0]})"
            )
        return feats.astype(np.float64) @ self.coefficients.astype(np.float64) + self.intercept

    def predict_proba(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """P(positive) per image, float64 array of length N."""
        return sigmoid(self.decision_function(images))

    def predict(self, images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """1 where P(positive) reaches the calibrated threshold, else 0."""
        return (self.predict_proba(images) >= self.threshold).astype(np.int64)

    @classmethod
    def from_dir(cls, model_dir: str | Path, **kwargs: Any) -> ImageClassifier:
        """Load a saved classifier directory (the one holding ``classifier.json``)."""
        path = find_model_dir(Path(model_dir))
        config = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
        return cls(config, path, **kwargs)

    def __repr__(self) -> str:
        return (
            f"ImageClassifier({self.backbone}, cut={self.cut_layers}, size={self.input_size}, "
            f"threshold={self.threshold:.3f}, runtime={self.runtime}, version={self.version})"
        )


def find_model_dir(root: Path) -> Path:
    """The directory under ``root`` that holds ``classifier.json``."""
    if (root / CONFIG_FILE).is_file():
        return root
    found = sorted(root.rglob(CONFIG_FILE)) if root.is_dir() else []
    if not found:
        raise InputError(f"{root} holds no {CONFIG_FILE}: not a nolabel classifier")
    return found[0].parent


def save_classifier(
    target: str | Path,
    config: dict[str, Any],
    onnx_path: str | Path | None = None,
    weights: str | Path | None = None,
) -> Path:
    """Write a classifier directory: config, the ONNX feature network and (optionally) weights."""
    path = Path(target)
    path.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT, **config}
    if onnx_path:
        shutil.copyfile(onnx_path, path / ONNX_FILE)
    if weights and not onnx_path:
        shutil.copyfile(weights, path / WEIGHTS_FILE)
    if onnx_path or weights:
        config.pop("weights", None)
    (path / CONFIG_FILE).write_text(json.dumps(config, indent=1), encoding="utf-8")
    return path


def _registry_identity(uri: str) -> tuple[str | None, str | None]:
    """(name, version) of a ``models:/`` URI, resolving aliases."""
    if not uri.startswith("models:/"):
        return None, None
    import mlflow

    ref = uri[len("models:/") :].strip("/")
    client = mlflow.MlflowClient()
    try:
        if "@" in ref:
            name, alias = ref.split("@", 1)
            return name, str(client.get_model_version_by_alias(name, alias).version)
        name, _, version = ref.partition("/")
        if version.isdigit():
            return name, version
        return name, str(client.get_latest_versions(name)[0].version)
    except Exception:
        return ref.split("@")[0].split("/")[0], None


def load_classifier(uri: str | None = None, **kwargs: Any) -> ImageClassifier:
    """Load a classifier: registry (None → ``nolabel-classifier`` @production else @candidate),
    ``models:/``, ``runs:/`` or a local model directory. Needs no Spark."""
    if uri and Path(uri).expanduser().exists():
        return ImageClassifier.from_dir(Path(uri).expanduser(), **kwargs)

    resolved = tracking.resolve_model_uri(uri, MODEL_NAME)
    name, version = _registry_identity(resolved)
    try:
        local = tracking.download_model(resolved)
    except Exception as exc:
        raise InputError(f"cannot load model {resolved}: {type(exc).__name__}: {exc}") from None
    return ImageClassifier.from_dir(local, name=name, version=version, **kwargs)
