"""Input boxes for the detector: resolve the COCO file and its images, check, split, normalise.

MMDetection reads the normalised COCO files written here: one category (id 1, ``object``),
absolute image paths as ``file_name``, boxes clipped to the image and degenerate ones dropped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nolabel.components.common.coco import load_coco, save_coco
from nolabel.components.common.datasets import NEGATIVE, read_manifest
from nolabel.components.common.errors import InputError
from nolabel.components.common.images import list_images
from nolabel.components.common.settings import get_settings
from nolabel.components.common.store import open_store

STORE_SCHEMES = ("file://", "s3://")
BOX_SOURCES = ("lime", "proposal")  # a LIME box's own superpixels, or a COCO detector's box


def cache_dir() -> Path:
    """Where images and COCO files from the store are downloaded."""
    return get_settings().home / "cache" / "detect"


def fetch_coco(path_or_uri: str) -> tuple[dict[str, Any], Path]:
    """Load a COCO JSON from a local path or a store URI; return it and its local path."""
    if path_or_uri.startswith(STORE_SCHEMES):
        store = open_store()
        try:
            key = store.key_from_uri(path_or_uri)
            local = store.get_local_path(key, cache_dir())
        except KeyError:
            raise InputError(f"{path_or_uri} does not exist in the store") from None
        return load_coco(local), Path(local)
    local = Path(path_or_uri).expanduser()
    return load_coco(local), local.resolve()


@dataclass
class ImageResolver:
    """Maps a COCO ``file_name`` to a local file, downloading from the store when needed."""

    root: str

    def __post_init__(self) -> None:
        self._store = None
        self._prefix = ""
        if self.root.startswith(STORE_SCHEMES):
            self._store = open_store()
            try:
                self._prefix = self._store.key_from_uri(self.root.rstrip("/") + "/x")[:-1]
            except InputError:
                if not self.root.startswith("file://"):
                    raise
                self._store = None  # a file:// URI outside the configured store
                self.root = self.root[len("file://") :]

    def local_path(self, file_name: str) -> Path | None:
        """The image as a local file, or None when it is missing."""
        if self._store is None:
            path = Path(self.root) / file_name
            return path.resolve() if path.is_file() else None
        try:
            return Path(self._store.get_local_path(self._prefix + file_name, cache_dir()))
        except (KeyError, InputError):
            return None


def image_root(coco: dict[str, Any], coco_path: Path, images_dir: str | None = None) -> str:
    """The directory (or store URI prefix) that ``file_name`` entries are relative to."""
    if images_dir:
        return images_dir
    root = (coco.get("info") or {}).get("image_root")
    return str(root) if root else str(coco_path.parent)


def normalise(
    coco: dict[str, Any], resolver: ImageResolver, *, what: str, require_boxes: bool = True
) -> dict[str, Any]:
    """A one-category COCO with absolute local image paths; clear errors for unusable input."""
    if not coco["images"]:
        raise InputError(f"{what} has no images")
    images, missing = [], []
    for image in coco["images"]:
        local = resolver.local_path(str(image["file_name"]))
        if local is None:
            missing.append(str(image["file_name"]))
            continue
        if not image.get("width") or not image.get("height"):
            from PIL import Image

            with Image.open(local) as probe:
                image = {**image, "width": probe.width, "height": probe.height}
        images.append(
            {
                "id": image["id"],
                "file_name": str(local),
                "width": image["width"],
                "height": image["height"],
                "source_name": str(image["file_name"]),
            }
        )
    if missing:
        raise InputError(
            f"{what}: {len(missing)} of {len(coco['images'])} images are missing under "
            f"{resolver.root} (e.g. {', '.join(missing[:3])})"
        )
    sizes = {img["id"]: (img["width"], img["height"]) for img in images}
    annotations = []
    for ann in coco["annotations"]:
        if ann.get("image_id") not in sizes or len(ann.get("bbox") or []) != 4:
            continue
        width, height = sizes[ann["image_id"]]
        x, y, w, h = (float(v) for v in ann["bbox"])
        x0, y0 = max(0.0, x), max(0.0, y)
        x1, y1 = min(float(width), x + w), min(float(height), y + h)
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        box = [x0, y0, x1 - x0, y1 - y0]
        annotations.append(
            {
                "id": len(annotations) + 1,
                "image_id": ann["image_id"],
                "category_id": 1,
                "bbox": box,
                "area": box[2] * box[3],
                "iscrowd": 0,
                **({"source": ann["source"]} if ann.get("source") in BOX_SOURCES else {}),
                **_object_mask(ann, width, height),
            }
        )
    if require_boxes and not annotations:
        raise InputError(f"{what} has no usable boxes (every box is empty or outside its image)")
    return {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "object"}],
    }


def _object_mask(ann: dict[str, Any], width: int, height: int) -> dict[str, Any]:
    """The annotation's RLE object mask when it has one of the image's size (for copy-paste)."""
    mask = ann.get("segmentation")
    if isinstance(mask, dict) and list(mask.get("size", [])) == [height, width]:
        return {"segmentation": mask}
    return {}


def split_by_image(
    coco: dict[str, Any], val_fraction: float, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split into train/val by image (seeded); both parts keep at least one boxed image."""
    boxed = sorted({ann["image_id"] for ann in coco["annotations"]})
    if len(boxed) < 2:
        raise InputError(f"need boxes on at least 2 images to train and validate, got {len(boxed)}")
    random.Random(seed).shuffle(boxed)
    n_val = min(len(boxed) - 1, max(1, round(len(boxed) * val_fraction)))
    val_ids = set(boxed[:n_val])

    def subset(keep) -> dict[str, Any]:
        return {
            "images": [img for img in coco["images"] if keep(img["id"])],
            "annotations": [a for a in coco["annotations"] if keep(a["image_id"])],
            "categories": coco["categories"],
        }

    return subset(lambda i: i not in val_ids), subset(lambda i: i in val_ids)


def prepare(
    path_or_uri: str,
    workdir: Path,
    *,
    images_dir: str | None = None,
    what: str = "boxes",
    require_boxes: bool = True,
) -> tuple[dict[str, Any], Path]:
    """Fetch, normalise and save a COCO file for MMDetection; return it and its path."""
    coco, local = fetch_coco(path_or_uri)
    resolver = ImageResolver(image_root(coco, local, images_dir))
    normalised = normalise(
        coco, resolver, what=f"{what} {path_or_uri}", require_boxes=require_boxes
    )
    target = workdir / f"{what}.coco.json"
    save_coco(normalised, target)
    return normalised, target


def boxed_only(coco: dict[str, Any]) -> dict[str, Any]:
    """The images that hold at least one box (a LIME file also lists images it left unboxed:
    positives the classifier rejected must not teach the detector "nothing here")."""
    boxed = {ann["image_id"] for ann in coco["annotations"]}
    return {**coco, "images": [img for img in coco["images"] if img["id"] in boxed]}


def negative_images(sources: list[str], limit: int | None, seed: int) -> list[Path]:
    """Local files of images holding no object: each source is a directory (searched
    recursively) or the name of a dataset in the store (its negative images, downloaded).
    ``limit``: at most this many, a seeded sample spread over the sources."""

    found: list[Path] = []
    for source in sources:
        path = Path(source).expanduser()
        if path.is_dir():
            found.extend(list_images(path))
            continue
        store = open_store()
        try:
            manifest = read_manifest(store, source)
        except InputError:
            raise InputError(f"negatives {source!r} is neither a directory nor a dataset") from None
        for key in manifest.loc[manifest["label"] == NEGATIVE, "key"]:
            try:
                found.append(Path(store.get_local_path(str(key), cache_dir())))
            except (KeyError, InputError):
                continue  # an image gone from the store is no reason to stop
    if limit is not None and len(found) > limit:
        found = sorted(random.Random(seed).sample(found, limit))
    return found


def add_negatives(coco: dict[str, Any], paths: list[Path]) -> dict[str, Any]:
    """``coco`` plus ``paths`` as images without boxes (unreadable files are skipped)."""
    from PIL import Image, UnidentifiedImageError

    next_id = max((img["id"] for img in coco["images"]), default=0) + 1
    images = list(coco["images"])
    for path in paths:
        try:
            with Image.open(path) as probe:
                width, height = probe.size
        except (OSError, UnidentifiedImageError):
            continue
        images.append(
            {"id": next_id, "file_name": str(path.resolve()), "width": width, "height": height}
        )
        next_id += 1
    return {**coco, "images": images}
