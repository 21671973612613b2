"""The demo's held-out "SD card": bursts of synthetic camera frames never seen in training.

Each burst is one rendered scene seen through a slightly moving window (the animal shifts a few
pixels between frames, as in a real burst); positive bursts come with their true boxes (COCO) so
the demo can score its detector against them. Deterministic from the seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from nolabel.components.crawl.demo_render import render

SEED_BASE = 7_000_000  # far from the crawl's hashed seeds
WIDTH, HEIGHT, MARGIN = 256, 192, 12


def _burst_frames(rng: np.random.Generator, positive: bool, seed: int, frames: int):
    scene, box = render(positive, seed, WIDTH + 2 * MARGIN, HEIGHT + 2 * MARGIN)
    for _ in range(frames):
        dx, dy = (int(v) for v in rng.integers(0, 2 * MARGIN + 1, size=2))
        crop = scene[dy : dy + HEIGHT, dx : dx + WIDTH]
        shifted = None
        if box is not None:
            x0, y0 = max(box[0] - dx, 0.0), max(box[1] - dy, 0.0)
            x1 = min(box[0] + box[2] - dx, float(WIDTH))
            y1 = min(box[1] + box[3] - dy, float(HEIGHT))
            shifted = [x0, y0, x1 - x0, y1 - y0]
        yield crop, shifted


def write_demo_card(folder: str | Path, bursts: int = 12, frames: int = 3, seed: int = 0) -> Path:
    """Write ``bursts`` bursts (half with the animal) under ``folder/DCIM``; returns the COCO
    file of the true boxes on the positive frames (``folder/truth.coco.json``)."""
    root = Path(folder)
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for burst in range(bursts):
        positive = burst % 2 == 0
        camera = f"DCIM/CAM{burst % 2 + 1:02d}"
        for index, (pixels, box) in enumerate(
            _burst_frames(rng, positive, SEED_BASE + seed * 1000 + burst, frames)
        ):
            name = f"{camera}/SEQ{burst + 1:04d}_{index + 1:02d}.jpg"
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(root / name, quality=92)
            if box is None or box[2] < 2 or box[3] < 2:
                continue
            images.append(
                {"id": len(images) + 1, "file_name": name, "width": WIDTH, "height": HEIGHT}
            )
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": len(images),
                    "category_id": 1,
                    "bbox": [round(v, 1) for v in box],
                    "area": round(box[2] * box[3], 1),
                    "iscrowd": 0,
                }
            )
    truth = root / "truth.coco.json"
    coco = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "animal"}],
    }
    truth.write_text(json.dumps(coco))
    return truth
