"""Generated detection data: one bright rectangle or ellipse per dark, noisy image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw


def make_image(rng: np.random.Generator, size: int) -> tuple[Image.Image, list[float]]:
    """A noisy dark image with one bright shape; its box as COCO ``[x, y, w, h]``."""
    noise = rng.integers(0, 60, size=(size, size, 3), dtype=np.uint8)
    image = Image.fromarray(noise, "RGB")
    w, h = (int(v) for v in rng.integers(size // 4, size // 2, size=2))
    x, y = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
    colour = tuple(int(c) for c in rng.integers(180, 256, size=3))
    draw = ImageDraw.Draw(image)
    if rng.random() < 0.5:
        draw.rectangle([x, y, x + w - 1, y + h - 1], fill=colour)
    else:
        draw.ellipse([x, y, x + w - 1, y + h - 1], fill=colour)
    return image, [float(x), float(y), float(w), float(h)]


def make_dataset(
    root: Path, count: int, size: int = 96, seed: int = 0, image_root: str | None = None
) -> tuple[Path, dict[str, Any]]:
    """Write ``count`` images under ``root/images`` and ``root/boxes.coco.json``."""
    rng = np.random.default_rng(seed)
    images_dir = root / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    coco: dict[str, Any] = {
        "info": {"image_root": image_root or str(images_dir)},
        "images": [],
        "annotations": [],
        "categories": [{"id": 1, "name": "shape"}],
    }
    for index in range(count):
        image, box = make_image(rng, size)
        name = f"shape-{seed}-{index:04d}.jpg"
        image.save(images_dir / name, quality=95)
        coco["images"].append({"id": index + 1, "file_name": name, "width": size, "height": size})
        coco["annotations"].append(
            {
                "id": index + 1,
                "image_id": index + 1,
                "category_id": 1,
                "bbox": box,
                "area": box[2] * box[3],
                "iscrowd": 0,
                "score": 1.0,
            }
        )
    path = root / "boxes.coco.json"
    path.write_text(json.dumps(coco), encoding="utf-8")
    return path, coco
