"""Small real models for the serve tests: a classifier trained and registered through the transfer
step's public API on generated images, and (when the detect step is installed) a tiny detector."""

from __future__ import annotations

import io
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.conftest import FETCHED_WEIGHTS

SIZE = 64


def generated_image(rng: np.random.Generator, positive: bool, size: int = SIZE) -> np.ndarray:
    """Noise background; positives carry a bright red disc somewhere (the "object")."""
    return generated_with_box(rng, positive, size)[0]


def generated_with_box(
    rng: np.random.Generator, positive: bool, size: int = SIZE
) -> tuple[np.ndarray, list[float] | None]:
    """A generated image and the COCO ``[x, y, w, h]`` box of its disc (None for negatives)."""
    image = rng.integers(40, 120, size=(size, size, 3), dtype=np.uint8)
    image[..., 1] = np.clip(image[..., 1].astype(int) + 60, 0, 255).astype(np.uint8)  # greenish
    if not positive:
        return image, None
    radius = int(rng.integers(size // 6, size // 3))
    cy, cx = (int(v) for v in rng.integers(radius, size - radius, size=2))
    yy, xx = np.mgrid[:size, :size]
    image[(yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2] = (235, 25, 25)
    return image, [float(cx - radius), float(cy - radius), 2.0 * radius + 1, 2.0 * radius + 1]


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
    from nolabel.components.common.settings import get_settings
    from nolabel.components.transfer.quick import train_classifier_from_arrays

    os.environ["NOLABEL_HOME"] = str(home)
    get_settings.cache_clear()
    images, labels = generated_dataset()
    quick = train_classifier_from_arrays(images, labels, input_size=64, register=True)
    return TrainedModels(home, str(quick.model_version), train_detector(home))


def write_box_dataset(root: Path, count: int = 24, seed: int = 3) -> Path:
    """Generated positives and their disc boxes as COCO (the shape `nolabel explain` writes)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    images_dir = root / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    coco: dict = {"info": {"image_root": str(images_dir)}, "images": [], "annotations": [],
                  "categories": [{"id": 1, "name": "disc"}]}  # fmt: skip
    for index in range(count):
        image, box = generated_with_box(rng, True)
        name = f"disc-{index:03d}.jpg"
        Image.fromarray(image).save(images_dir / name, quality=95)
        coco["images"].append({"id": index + 1, "file_name": name, "width": SIZE, "height": SIZE})
        coco["annotations"].append(
            {"id": index + 1, "image_id": index + 1, "category_id": 1, "bbox": box,
             "area": box[2] * box[3], "iscrowd": 0, "score": 1.0}
        )  # fmt: skip
    path = root / "boxes.coco.json"
    path.write_text(json.dumps(coco), encoding="utf-8")
    return path


def train_detector(root: Path) -> str | None:
    """A tiny registered detector through the detect step's API (None without MMDetection)."""
    try:
        import mmdet  # noqa: F401

        from nolabel.components.detect.step import DetectTrainParams, run
    except ImportError:
        return None
    import torch

    boxes = write_box_dataset(root / "detector-data", count=8)
    params = DetectTrainParams(
        boxes=str(boxes), epochs=1, image_size=64, batch_size=4, lr=0.02, overlays=0
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # far faster than two on shared cores
    try:
        return str(run(params).model_version)
    finally:
        torch.set_num_threads(threads)


class Server:
    """A ``python -m nolabel.components.serve`` process and an HTTP client for it."""

    def __init__(self, process, port: int, log: Path) -> None:
        import httpx

        self.process, self.port, self.log = process, port, log
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.url, timeout=60)


@contextmanager
def running_server(trained: TrainedModels, log: Path, env: dict[str, str] | None = None):
    """A real uvicorn on 127.0.0.1 serving ``trained``'s models (``env``: extra settings);
    stopped with SIGTERM on exit."""
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT, free_port, wait_for_port

    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NOLABEL_")}
    full_env.update(
        NOLABEL_HOME=str(trained.home),
        NOLABEL_WEIGHTS_DIR=str(FETCHED_WEIGHTS),
        NOLABEL_SERVE_REQUIRE_DETECTOR="false" if trained.detector_version is None else "true",
        PYTHONUNBUFFERED="1",
        **(env or {}),
    )
    command = [sys.executable, "-m", "nolabel.components.serve", "--host", "127.0.0.1", "--port"]
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [*command, str(port)], cwd=REPO_ROOT, env=full_env, stdout=subprocess.PIPE,
            stderr=stderr,
        )  # fmt: skip
    try:
        wait_for_port(port, timeout=180, process=process)
        yield Server(process, port, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
