"""mmengine Runner plumbing: train, validate and test detectors with their logs on stderr."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nolabel.components.detect.config import CLASSES, for_inference, set_data


@contextlib.contextmanager
def logs_to_stderr() -> Iterator[None]:
    """Send everything mmengine/pycocotools print to stderr (stdout is for the JSON result)."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def coco_metrics(raw: dict[str, Any], prefix: str) -> dict[str, float]:
    """``coco/bbox_mAP`` & co. renamed ``<prefix>_map``, ``<prefix>_ap50``, ...

    CocoMetric returns nothing when there are no detections at all: mAP and AP50 are then 0.
    """
    names = {
        "bbox_mAP": "map",
        "bbox_mAP_50": "ap50",
        "bbox_mAP_75": "ap75",
        "bbox_mAP_s": "map_small",
        "bbox_mAP_m": "map_medium",
        "bbox_mAP_l": "map_large",
    }
    out = {f"{prefix}_map": 0.0, f"{prefix}_ap50": 0.0}
    for key, value in raw.items():
        short = key.split("/", 1)[-1]
        if short in names and float(value) >= 0:  # -1: no boxes of that size
            out[f"{prefix}_{names[short]}"] = float(value)
    return out


def _isolate(cfg, work_dir: Path, kind: str) -> None:
    """Fresh mmengine singletons (logger, message hub, visualizer) for each Runner.

    mmengine keys them by name; a second Runner in the same process would otherwise reuse the
    first one's visualizer, whose files live in a directory that may be gone.
    """
    import uuid

    name = f"nolabel-detect-{kind}-{uuid.uuid4().hex[:8]}"
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = name
    if cfg.get("visualizer"):
        cfg.visualizer.name = name


def train(cfg, work_dir: Path) -> tuple[Any, dict[str, float], Path]:
    """Train with ``cfg`` (data already set); return the runner, val metrics and a checkpoint.

    The train loop validates once, after the last epoch; the checkpoint holds only the model
    weights and the class names (no optimizer state, loadable with ``weights_only=True``).
    """
    from mmengine.runner import Runner

    cfg = cfg.copy()
    _isolate(cfg, work_dir, "train")
    cfg.train_cfg.val_interval = cfg.train_cfg.max_epochs + 1  # only after the last epoch
    with logs_to_stderr():
        runner = Runner.from_cfg(cfg)
        runner.train()
    raw = {
        key[len("val/") :]: buffer.current()
        for key, buffer in runner.message_hub.log_scalars.items()
        if key.startswith("val/coco/")
    }
    checkpoint = save_weights(runner.model, work_dir / "model.pth", runner.epoch, runner.iter)
    return runner, coco_metrics(raw, "val"), checkpoint


def save_weights(model, path: Path, epoch: int = 0, iteration: int = 0) -> Path:
    """A weights-only checkpoint (loadable with ``torch.load(weights_only=True)``)."""
    import mmdet
    from mmengine.runner.checkpoint import get_state_dict, save_checkpoint, weights_to_cpu

    meta = {
        "dataset_meta": {"classes": list(CLASSES)},
        "epoch": int(epoch),
        "iter": int(iteration),
        "mmdet_version": mmdet.__version__,
    }
    save_checkpoint({"meta": meta, "state_dict": weights_to_cpu(get_state_dict(model))}, str(path))
    return path


def test(
    cfg, checkpoint: str | Path, ann_file: Path, work_dir: Path, prefix: str = "gt"
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """COCO metrics of a checkpoint on ``ann_file`` and its raw detections (COCO results)."""
    from mmengine.runner import Runner

    cfg = for_inference(cfg)
    for key in (
        "train_dataloader",
        "train_cfg",
        "optim_wrapper",
        "param_scheduler",
        "val_dataloader",
        "val_cfg",
        "val_evaluator",
    ):
        cfg[key] = None
    cfg.auto_scale_lr = None
    set_data(cfg, "test", str(ann_file))
    outfile_prefix = work_dir / f"{prefix}-detections"
    cfg.test_evaluator.outfile_prefix = str(outfile_prefix)
    cfg.load_from = str(checkpoint)
    _isolate(cfg, work_dir, "test")
    with logs_to_stderr():
        runner = Runner.from_cfg(cfg)
        raw = runner.test()
    result_file = Path(f"{outfile_prefix}.bbox.json")
    detections = json.loads(result_file.read_text()) if result_file.exists() else []
    return coco_metrics(raw, prefix), detections
