"""Explain-step outputs: COCO JSON, per-image weights (Parquet), overlay PNGs, metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from nolabel.components.common import tracking
from nolabel.components.common.coco import load_coco, save_coco, score_boxes
from nolabel.components.common.images import decode_image, to_array
from nolabel.components.common.store import open_store
from nolabel.components.lime.explain import Explanation, _upsample, resize_long_side, segment
from nolabel.components.lime.gradcam import cam_cells
from nolabel.components.lime.overlay import heatmap_png


def coco_from_records(records: list[dict], image_root: str, category: str) -> dict[str, Any]:
    """COCO JSON (contract format) of every readable image and its LIME boxes."""
    images, annotations = [], []
    for record in records:
        if "width" not in record:
            continue
        image_id = len(images) + 1
        images.append(
            {
                "id": image_id,
                "file_name": record["file_name"],
                "width": record["width"],
                "height": record["height"],
            }
        )
        for box in record.get("boxes", []) if record["status"] == "explained" else []:
            x, y, w, h = (float(v) for v in box["bbox"])
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                    "score": float(box["score"]),
                    "source": box.get("source", "lime"),  # "proposal": a COCO detector's box
                    **({"segmentation": box["segmentation"]} if "segmentation" in box else {}),
                }
            )
    return {
        "info": {"image_root": image_root, "description": "nolabel LIME boxes"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": category}],
    }


def output_paths(out: str | Path) -> tuple[Path, Path, Path]:
    """(COCO path, weights Parquet path, overlay directory) for ``--out``."""
    coco_path = Path(out).expanduser().resolve()
    stem = coco_path.name
    for suffix in (".coco.json", ".json"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return (
        coco_path,
        coco_path.with_name(f"{stem}.weights.parquet"),
        coco_path.with_name(f"{stem}.overlays"),
    )


def weights_frame(records: list[dict]):
    """One row per image: status, probability, R², superpixel weights and boxes."""
    import pandas as pd

    rows = []
    for record in records:
        rows.append(
            {
                "file_name": record["file_name"],
                "sha256": record["sha256"],
                "status": record["status"],
                "reason": record.get("reason"),
                "probability": record.get("probability"),
                "r2": record.get("r2"),
                "base_score": record.get("base_score"),
                "seed": record.get("seed"),
                "num_segments": record.get("num_segments"),
                "weights": [float(w) for w in record.get("weights", [])],
                "boxes": json.dumps(record.get("boxes", [])),
                "seconds": record.get("seconds"),
            }
        )
    return pd.DataFrame(rows)


def draw_overlays(records, tasks, config, directory: Path, count: int) -> list[Path]:
    """Overlay PNGs for the first ``count`` explained images (segments recomputed: same seed)."""

    by_sha = {task["sha256"]: task for task in tasks}
    store = open_store()
    written = []
    explained = [r for r in records if r["status"] == "explained" and r["sha256"] in by_sha]
    for record in explained[:count]:
        task = by_sha[record["sha256"]]
        data = task["data"] if task.get("data") is not None else store.get_bytes(task["key"])
        image = to_array(decode_image(bytes(data), config.max_pixels))
        if config.localizer == "gradcam":  # a square activation map, one weight per cell
            side = int(round(len(record["weights"]) ** 0.5))
            segments = cam_cells((side, side), *image.shape[:2])
        else:
            work = resize_long_side(image, config.lime.score_size, config.lime.square)
            segments = _upsample(segment(work, config.lime, record["seed"]), *image.shape[:2])
        explanation = Explanation(
            boxes=record["boxes"],
            weights=np.asarray(record["weights"]),
            intercept=0.0,
            segments=segments,
            r2=record["r2"],
            base_score=record["base_score"],
            num_samples=record["num_samples"],
            num_scored=record["num_scored"],
        )
        title = f"p={record.get('probability', 0):.2f} R²={record['r2']:.2f}"
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / (Path(record["file_name"]).stem + ".png")
        target.write_bytes(heatmap_png(image, explanation, title))
        written.append(target)
    return written


def summary_metrics(records: list[dict], fresh_wall: float, fresh_count: int) -> dict[str, float]:
    """Counts, boxes per image, mean R², seconds per image."""
    explained = [r for r in records if r["status"] == "explained"]
    boxes = sum(len(r.get("boxes", [])) for r in explained)
    metrics = {
        "images_total": float(len(records)),
        "images_explained": float(len(explained)),
        "images_negative": float(sum(r["status"] == "negative" for r in records)),
        "images_failed": float(sum(r["status"] == "failed" for r in records)),
        "boxes": float(boxes),
        "boxes_per_image": boxes / len(explained) if explained else 0.0,
        "mean_r2": float(np.mean([r["r2"] for r in explained])) if explained else 0.0,
        "seconds_per_explained_image": (
            float(np.mean([r["seconds"] for r in explained])) if explained else 0.0
        ),
    }
    if fresh_count:
        metrics["wall_seconds_per_image"] = fresh_wall / fresh_count
    return metrics


def write_outputs(records, coco, params, config, tasks, fresh_wall: float, fresh_count: int):
    """Write COCO, weights and overlays locally, score against --gt, log all to MLflow."""

    coco_path, weights_path, overlay_dir = output_paths(params.out)
    save_coco(coco, coco_path)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    weights_frame(records).to_parquet(weights_path, index=False)
    overlays = draw_overlays(records, tasks, config, overlay_dir, params.overlays)
    metrics = summary_metrics(records, fresh_wall, fresh_count)
    if params.gt:
        scores = score_boxes(coco, load_coco(params.gt))
        metrics.update({f"gt_{k}" if k == "images" else k: v for k, v in scores.items()})
    tracking.log_file(coco_path, "lime")
    tracking.log_file(weights_path, "lime")
    for path in overlays:
        tracking.log_file(path, "lime/overlays")
    return {
        "coco_path": coco_path,
        "weights_path": weights_path,
        "overlay_paths": overlays,
        "metrics": metrics,
    }
