"""Adaptation to the user's cameras without labels: their own frames teach the detector.

Given a folder of the user's unlabeled frames (``--target``) and the classifier:

- the frames the classifier is most sure hold nothing (the lowest ``empty_share`` of them, and
  under its threshold) become negatives: the detector learns what these cameras' empty scenes,
  night infrared and other animals look like;
- the same frames become backgrounds for copy-paste: objects cut from the boxed web photos (the
  localizer's object mask when the box has one, else a feathered ellipse) are pasted onto them,
  small, cut off at the edges, grey on infrared frames and matched in brightness, so the
  detector sees the object in the users' scenes with a box known for free.

No human label is used: frames are picked by the classifier alone.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np

from nolabel.components.common.defaults import DEFAULT_MAX_PIXELS
from nolabel.components.common.errors import InputError
from nolabel.components.common.images import ImageError, decode_scaled, list_images, to_array

PASTE_LONG_SIDE = 640  # composites are stored at most this large (the detector sees 256–512)


def rank_frames(
    target: str, classifier, batch_size: int = 16, max_pixels: int = DEFAULT_MAX_PIXELS
) -> list[tuple[Path, float]]:
    """(frame, P(object)) for every readable image under ``target``, least likely first."""

    paths = list_images(Path(target).expanduser())
    if not paths:
        raise InputError(f"no images under target {target}")
    scored: list[tuple[Path, float]] = []
    for start in range(0, len(paths), batch_size):
        batch, arrays = [], []
        for path in paths[start : start + batch_size]:
            try:
                image, _ = decode_scaled(path.read_bytes(), max_pixels, classifier.input_size)
            except (ImageError, OSError):
                continue  # an unreadable frame is simply not used
            batch.append(path)
            arrays.append(to_array(image))
        if arrays:
            probabilities = classifier.predict_proba(arrays)
            scored.extend(zip(batch, (float(p) for p in probabilities), strict=True))
    return sorted(scored, key=lambda item: item[1])


def confident_empty(ranked: list[tuple[Path, float]], threshold: float, share: float) -> list[Path]:
    """The lowest ``share`` of the ranked frames that are also under ``threshold``."""
    count = int(round(share * len(ranked)))
    return [path for path, p in ranked[:count] if p < threshold]


def _is_grey(image: np.ndarray) -> bool:
    spread = image.astype(np.int16).max(axis=2) - image.astype(np.int16).min(axis=2)
    return float(spread.mean()) < 6.0


def _feathered_mask(height: int, width: int) -> np.ndarray:
    """An ellipse filling the box with soft edges (the box corners are mostly background)."""
    from scipy import ndimage

    yy, xx = np.mgrid[0:height, 0:width]
    inside = ((yy + 0.5 - height / 2) / (height / 2)) ** 2 + (
        (xx + 0.5 - width / 2) / (width / 2)
    ) ** 2
    mask = (inside <= 1.0).astype(np.float32)
    return ndimage.gaussian_filter(mask, sigma=max(1.0, min(height, width) / 12))[..., None]


def _cut_object(path: Path, ann: dict[str, Any]):
    """The box's pixels (PIL) and its object mask (H×W float in [0, 1], or None: no shape)."""
    from PIL import Image

    x, y, w, h = (int(round(v)) for v in ann["bbox"])
    with Image.open(path) as image:
        piece = image.convert("RGB").crop((x, y, x + w, y + h))
    mask = ann.get("segmentation")
    if not isinstance(mask, dict):
        return piece, None
    from pycocotools import mask as rle

    full = rle.decode({"size": mask["size"], "counts": mask["counts"].encode()})
    shape = full[y : y + h, x : x + w].astype(np.float32)
    return piece, shape if shape.shape == (h, w) and shape.mean() > 0.05 else None


def _paste_one(background, cutout, shape: np.ndarray | None, rng: random.Random):
    """Paste ``cutout`` (its object ``shape`` when known, else a feathered ellipse) on
    ``background`` (PIL images); return the new image and the pasted object's box."""
    from PIL import Image
    from scipy import ndimage

    canvas = np.asarray(background, dtype=np.float32).copy()
    height, width = canvas.shape[:2]
    scale = float(np.exp(rng.uniform(np.log(0.12), np.log(0.5)))) * height / cutout.height
    new_w = max(8, min(int(cutout.width * scale), int(0.8 * width)))
    new_h = max(8, min(int(cutout.height * scale), int(0.9 * height)))
    piece = np.asarray(cutout.resize((new_w, new_h), Image.BILINEAR), dtype=np.float32)
    if _is_grey(canvas.astype(np.uint8)):
        grey = piece @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        piece = np.repeat(grey[..., None], 3, axis=2)
    # Cut off at an edge now and then, like an animal leaving the frame.
    x0 = rng.randint(-new_w // 3, width - 2 * new_w // 3)
    y0 = rng.randint(height // 4 - new_h // 2, height - 2 * new_h // 3)
    x1, y1 = max(0, x0), max(0, y0)
    x2, y2 = min(width, x0 + new_w), min(height, y0 + new_h)
    if x2 - x1 < 8 or y2 - y1 < 8:
        return None
    piece = piece[y1 - y0 : y2 - y0, x1 - x0 : x2 - x0]
    region = canvas[y1:y2, x1:x2]
    gain = (region.mean() + 1.0) / (piece.mean() + 1.0) * rng.uniform(0.8, 1.3)
    piece = np.clip(piece * gain, 0, 255)
    if shape is None:
        alpha = _feathered_mask(new_h, new_w)
    else:
        resized = Image.fromarray(shape).resize((new_w, new_h), Image.BILINEAR)
        soft = ndimage.gaussian_filter(np.asarray(resized), sigma=max(0.7, min(new_w, new_h) / 40))
        alpha = np.clip(soft, 0, 1)[..., None]
    alpha = alpha[y1 - y0 : y2 - y0, x1 - x0 : x2 - x0]
    canvas[y1:y2, x1:x2] = alpha * piece + (1 - alpha) * region
    rows, cols = np.nonzero(alpha[..., 0] >= 0.5)
    if len(rows) == 0:
        return None
    box = [float(x1 + cols.min()), float(y1 + rows.min()), float(cols.max() - cols.min() + 1),
           float(rows.max() - rows.min() + 1)]  # fmt: skip
    if box[2] < 8 or box[3] < 8:
        return None
    return Image.fromarray(canvas.round().astype(np.uint8)), box


def paste_objects(
    coco: dict[str, Any], backgrounds: list[Path], count: int, out_dir: Path, seed: int = 0
) -> dict[str, Any]:
    """``count`` composites of ``coco``'s boxed objects on ``backgrounds``, as a COCO dict
    (absolute ``file_name``s under ``out_dir``)."""
    from PIL import Image

    objects = [
        (Path(img["file_name"]), ann)
        for img in coco["images"]
        for ann in coco["annotations"]
        if ann["image_id"] == img["id"] and ann["bbox"][2] >= 8 and ann["bbox"][3] >= 8
    ]
    if not objects or not backgrounds or count <= 0:
        return {"images": [], "annotations": [], "categories": coco["categories"]}
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    images, annotations = [], []
    for attempt in range(count * 3):
        if len(images) >= count:
            break
        with Image.open(rng.choice(backgrounds)) as opened:
            background = opened.convert("RGB")
        background.thumbnail((PASTE_LONG_SIDE, PASTE_LONG_SIDE))
        piece, shape = _cut_object(*rng.choice(objects))
        pasted = _paste_one(background, piece, shape, rng)
        if pasted is None:
            continue
        composite, box = pasted
        path = out_dir / f"paste-{attempt:05d}.jpg"
        composite.save(path, quality=92)
        image_id = len(images) + 1
        images.append(
            {"id": image_id, "file_name": str(path), "width": composite.width,
             "height": composite.height}
        )  # fmt: skip
        annotations.append(
            {"id": image_id, "image_id": image_id, "category_id": 1, "bbox": box,
             "area": box[2] * box[3], "iscrowd": 0}
        )  # fmt: skip
    return {"images": images, "annotations": annotations, "categories": coco["categories"]}


def merge_coco(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra``'s images and boxes appended under fresh ids."""
    image_offset = max((img["id"] for img in base["images"]), default=0)
    ann_offset = max((ann["id"] for ann in base["annotations"]), default=0)
    images = base["images"] + [{**img, "id": img["id"] + image_offset} for img in extra["images"]]
    annotations = base["annotations"] + [
        {**ann, "id": ann["id"] + ann_offset, "image_id": ann["image_id"] + image_offset}
        for ann in extra["annotations"]
    ]
    return {**base, "images": images, "annotations": annotations}


def without_images(coco: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """``coco`` less the images (and their boxes) that ``other`` already has."""
    taken = {img["file_name"] for img in other["images"]}
    images = [img for img in coco["images"] if img["file_name"] not in taken]
    kept = {img["id"] for img in images}
    return {
        **coco,
        "images": images,
        "annotations": [a for a in coco["annotations"] if a["image_id"] in kept],
    }
