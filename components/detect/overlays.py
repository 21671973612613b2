"""Sample prediction overlays: predicted boxes (red) over reference boxes (green), as a grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nolabel.components.common.defaults import DEFAULT_MIN_SCORE
from nolabel.components.common.images import load_rgb, to_array

TILE = 256


def draw_tile(
    image: np.ndarray,
    predicted: dict[str, np.ndarray],
    reference: list[list[float]],
    min_score: float = DEFAULT_MIN_SCORE,
    max_boxes: int = 3,
):
    """One image with its reference boxes (xywh) and top predictions (xyxy) drawn on it."""
    from PIL import Image, ImageDraw

    tile = Image.fromarray(image)
    scale = TILE / max(tile.size)
    tile = tile.resize((max(1, round(tile.width * scale)), max(1, round(tile.height * scale))))
    draw = ImageDraw.Draw(tile)
    for x, y, w, h in reference:
        draw.rectangle(
            [x * scale, y * scale, (x + w) * scale, (y + h) * scale], outline=(0, 220, 0), width=2
        )
    pairs = zip(predicted["boxes"][:max_boxes], predicted["scores"][:max_boxes], strict=True)
    for box, score in pairs:
        if score < min_score:
            break
        x0, y0, x1, y1 = (float(v) * scale for v in box)
        draw.rectangle([x0, y0, x1, y1], outline=(230, 30, 30), width=2)
        draw.text((x0 + 3, y0 + 2), f"{score:.2f}", fill=(255, 255, 0))
    return tile


def overlay_grid(detector, coco: dict[str, Any], path: Path, limit: int = 8) -> Path | None:
    """Predict on up to ``limit`` images of a normalised COCO and save a PNG grid."""
    from PIL import Image

    images = coco["images"][:limit]
    if not images:
        return None
    arrays = [to_array(load_rgb(img["file_name"])) for img in images]
    predictions = detector.predict(arrays)
    boxes: dict[int, list[list[float]]] = {}
    for ann in coco["annotations"]:
        boxes.setdefault(ann["image_id"], []).append(ann["bbox"])
    tiles = [
        draw_tile(array, pred, boxes.get(img["id"], []))
        for array, pred, img in zip(arrays, predictions, images, strict=True)
    ]
    columns = min(4, len(tiles))
    rows = (len(tiles) + columns - 1) // columns
    grid = Image.new("RGB", (columns * TILE, rows * TILE), (30, 30, 30))
    for index, tile in enumerate(tiles):
        grid.paste(tile, ((index % columns) * TILE, (index // columns) * TILE))
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
    return path
