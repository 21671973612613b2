"""Detect fixtures: generated shape datasets and one detector trained once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.detect.shapes import make_dataset

pytest.importorskip("mmdet", reason="detect tests need the MMDetection extra")


@pytest.fixture(autouse=True, scope="package")
def _one_torch_thread() -> Iterator[None]:
    """One intra-op thread while detect tests run: far faster than two on shared cores."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@contextmanager
def nolabel_home(path: Path) -> Iterator[None]:
    """``NOLABEL_HOME`` set to ``path`` (settings re-read) for the block, then restored."""
    from nolabel.components.common.settings import get_settings

    previous = os.environ.get("NOLABEL_HOME")
    os.environ["NOLABEL_HOME"] = str(path)
    get_settings.cache_clear()
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("NOLABEL_HOME", None)
        else:
            os.environ["NOLABEL_HOME"] = previous
        get_settings.cache_clear()


@dataclass
class TrainedDetector:
    home: Path
    result: object  # DetectTrainResult
    gt_path: Path
    gt_images: Path


@pytest.fixture(scope="session")
def trained_detector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrainedDetector]:
    """A detector trained through the step on generated shapes, registered in its own home."""
    from nolabel.components.detect.step import DetectTrainParams, run

    root = tmp_path_factory.mktemp("detector")
    boxes, _ = make_dataset(root / "lime", 40, size=64, seed=1)
    gt, _ = make_dataset(root / "human", 16, size=64, seed=2)
    with nolabel_home(root / "home"):
        result = run(
            DetectTrainParams(
                boxes=str(boxes),
                epochs=6,
                image_size=64,
                batch_size=4,
                lr=0.01,
                gt=str(gt),
                images=str(root / "human" / "images"),
                overlays=4,
            )
        )
    yield TrainedDetector(root / "home", result, gt, root / "human" / "images")


@pytest.fixture
def detector_home(trained_detector: TrainedDetector, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point NOLABEL_HOME at the trained detector's home for one test."""
    from nolabel.components.common.settings import get_settings

    monkeypatch.setenv("NOLABEL_HOME", str(trained_detector.home))
    get_settings.cache_clear()
    return trained_detector.home
