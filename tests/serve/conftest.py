"""Serve fixtures: protocol-compatible small models, an app factory and image bytes helpers."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from nolabel.components.common.settings import Settings
from nolabel.components.proposals.proposer import Proposals
from nolabel.components.serve.app import create_app
from nolabel.components.serve.models import CLASSIFIER, DETECTOR, PROPOSER, ModelManager
from nolabel.components.serve.settings import ServeSettings


class RednessClassifier:
    """P(positive) = mean red share of the image; records how many images it saw."""

    def __init__(self, version: str = "1", threshold: float = 0.5, delay: float = 0.0) -> None:
        self.threshold = threshold
        self.name = "nolabel-classifier"
        self.version = version
        self.delay = delay
        self.calls = 0

    def predict_proba(self, images) -> np.ndarray:
        import time

        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        out = []
        for image in images:
            array = np.asarray(image, dtype=float)
            total = array.sum(axis=2) + 1e-6
            out.append(float((array[..., 0] / total).mean()))
        return np.asarray(out)


class BrightBoxDetector:
    """One box around the pixels brighter than average (in the image's own pixels)."""

    label = "lion"

    def __init__(self, version: str = "1") -> None:
        self.name = "nolabel-detector"
        self.version = version

    def predict(self, images) -> list[dict[str, np.ndarray]]:
        results = []
        for image in images:
            grey = np.asarray(image, dtype=float).mean(axis=2)
            ys, xs = np.nonzero(grey > grey.mean())
            if len(xs) == 0:
                results.append({"boxes": np.zeros((0, 4)), "scores": np.zeros(0)})
                continue
            box = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
            # A second, low-scoring box partly outside the image: must be clipped.
            results.append(
                {
                    "boxes": np.asarray([box, [-5, -5, 3, 3]], dtype=float),
                    "scores": np.asarray([0.9, 0.1]),
                }
            )
        return results


class RedBlobProposer:
    """Proposes the red pixels' bounding box as an animal (COCO 15, "cat") scoring 0.6."""

    name, version, min_side = "test-proposer", "1", None

    def propose(self, image) -> Proposals:
        array = np.asarray(image, dtype=int)
        red = (array[..., 0] > 150) & (array[..., 1] < 100)
        if not red.any():
            return Proposals()
        ys, xs = np.nonzero(red)
        box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
        return Proposals(box, np.array([0.6], np.float32), np.array([15]), ["animal"])


def image_bytes(
    width: int = 64, height: int = 48, fmt: str = "JPEG", square: tuple | None = None
) -> bytes:
    """A generated image: grey background with a bright red square (x0, y0, x1, y1)."""
    from PIL import Image

    array = np.full((height, width, 3), 60, dtype=np.uint8)
    x0, y0, x1, y1 = square or (width // 4, height // 4, width // 2, height // 2)
    array[y0:y1, x0:x1] = (250, 30, 30)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


class RegistryStub:
    """An in-memory alias table standing in for the MLflow registry lookups."""

    def __init__(self) -> None:
        self.aliases: dict[tuple[str, str], str] = {}
        self.lock = threading.Lock()

    def __call__(self, name: str, alias: str) -> str | None:
        with self.lock:
            return self.aliases.get((name, alias))


def fake_loaders(created: list | None = None) -> dict[str, Callable[[str], object]]:
    """Loaders that build small models whose version is the URI's last path part."""

    def version_of(uri: str) -> str:
        return uri.rstrip("/").rsplit("/", 1)[-1]

    def classifier(uri: str):
        model = RednessClassifier(version_of(uri))
        if created is not None:
            created.append((CLASSIFIER, uri))
        return model

    def detector(uri: str):
        model = BrightBoxDetector(version_of(uri))
        if created is not None:
            created.append((DETECTOR, uri))
        return model

    def proposer(uri: str):
        if created is not None:
            created.append((PROPOSER, uri))
        return RedBlobProposer()

    return {CLASSIFIER: classifier, DETECTOR: detector, PROPOSER: proposer}


@pytest.fixture
def registry() -> RegistryStub:
    stub = RegistryStub()
    stub.aliases[("nolabel-classifier", "production")] = "3"
    stub.aliases[("nolabel-detector", "candidate")] = "7"
    return stub


@pytest.fixture
def make_client(registry: RegistryStub) -> Iterator[Callable[..., TestClient]]:
    """``make_client(settings_overrides..., serve=dict(...))`` → a started TestClient."""
    clients: list[TestClient] = []

    def factory(serve: dict | None = None, loaders=None, **overrides) -> TestClient:
        overrides.setdefault("model_refresh_seconds", 0)
        settings = Settings(**overrides)
        serve_settings = ServeSettings(**(serve or {}))
        manager = ModelManager(
            settings, serve_settings, loaders=loaders or fake_loaders(), alias_lookup=registry
        )
        client = TestClient(create_app(settings, serve_settings=serve_settings, manager=manager))
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()
