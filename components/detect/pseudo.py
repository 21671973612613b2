"""Pseudo-boxes on the user's frames: what moves within a burst the classifier calls positive.

The web photos teach the detector what the object looks like, but not how it looks on the
user's cameras: small, far, at night, cut off. Camera traps shoot bursts, and within a burst the
scene stands still while the animal moves (:mod:`nolabel.components.common.change`). On the
``--target`` frames:

- frames are grouped into bursts (EXIF time or shared name prefix, as ``score`` does);
- a burst counts only if the classifier's burst probability reaches its threshold;
- a frame of such a burst whose strongest change scores at least ``min_change`` is kept, with
  every changed region scoring at least ``RELATIVE_CUT`` × the strongest as a box.

No human label is used. Frames without a burst (or with too few frames) give no pseudo-box.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from nolabel.components.common.bursts import burst_keys, burst_probability
from nolabel.components.common.change import change_boxes

RELATIVE_CUT = 0.5  # a second region must change at least half as much as the strongest
MIN_BOX_SIDE = 8.0  # pixels


def _image_size(path: Path) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError):
        return None


def change_pseudo_boxes(
    target: Path,
    ranked: list[tuple[Path, float]],
    threshold: float,
    *,
    min_change: float,
    bursts: str = "auto",
    burst_gap: float = 10.0,
) -> dict[str, Any]:
    """A COCO dict (absolute ``file_name``s, category 1) of the ``ranked`` target frames
    (``(path, P(object))``) that get pseudo-boxes; see the module docstring."""

    root = Path(target).expanduser()
    relatives = [path.relative_to(root).as_posix() for path, _ in ranked]
    keys = burst_keys(root, relatives, mode=bursts, gap_seconds=burst_gap)
    ordered = [keys[rel] for rel in relatives]
    burst_p = burst_probability([p for _, p in ranked], ordered)
    members: dict[str, list[Path]] = defaultdict(list)
    for (path, _), key, probability in zip(ranked, ordered, burst_p, strict=True):
        if probability >= threshold:
            members[key].append(path)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for key in sorted(members):
        frames = sorted(members[key])
        for path, regions in zip(frames, change_boxes(frames), strict=True):
            if not regions or regions[0].score < min_change:
                continue
            size = _image_size(path)
            if size is None:
                continue
            kept = [
                region.bbox
                for region in regions
                if region.score >= RELATIVE_CUT * regions[0].score
                and min(region.bbox[2], region.bbox[3]) >= MIN_BOX_SIDE
            ]
            if not kept:
                continue
            image_id = len(images) + 1
            images.append(
                {"id": image_id, "file_name": str(path), "width": size[0], "height": size[1]}
            )
            for bbox in kept:
                x, y = bbox[0], bbox[1]
                w, h = min(bbox[2], size[0] - x), min(bbox[3], size[1] - y)
                annotations.append(
                    {"id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                     "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0}
                )  # fmt: skip
    return {"images": images, "annotations": annotations}
