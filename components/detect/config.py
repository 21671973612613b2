"""Detector configs: load a named config from ``configs/`` and fill in data, options, device.

Configs use ``mmdet::`` bases (MMDetection's installed ``.mim/configs``). mmengine resolves that
prefix through ``pkg_resources``, which modern setuptools no longer ships, so the configs are
copied to a temporary directory with the prefix replaced by the installed path before loading.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from nolabel.components.common.errors import InputError

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_CONFIG = "faster-rcnn_effnet-lite0_fpn"
CLASSES = ("object",)


def available_configs() -> list[str]:
    """Names of the bundled configs."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.py") if not p.name.startswith("_"))


def mmdet_config_root() -> Path:
    """MMDetection's installed config directory."""
    import mmdet

    root = Path(mmdet.__file__).resolve().parent / ".mim" / "configs"
    if not root.is_dir():
        raise InputError(f"MMDetection configs not found at {root}; reinstall mmdet")
    return root


def load_config(name_or_path: str = DEFAULT_CONFIG):
    """An ``mmengine.Config`` from a bundled config name or a config file path."""
    from mmengine.config import Config

    path = Path(name_or_path)
    if not path.suffix:
        path = CONFIG_DIR / f"{name_or_path}.py"
    if not path.is_file():
        raise InputError(
            f"unknown detector config {name_or_path!r}; choose from {available_configs()} "
            "or give a config file path"
        )
    root = mmdet_config_root().as_posix()
    with tempfile.TemporaryDirectory(prefix="nolabel-detect-cfg-") as tmp:
        for source in path.parent.glob("*.py"):
            text = source.read_text(encoding="utf-8")
            text = re.sub(r"(['\"])mmdet::", lambda m: f"{m.group(1)}{root}/", text)
            (Path(tmp) / source.name).write_text(text, encoding="utf-8")
        return Config.fromfile(str(Path(tmp) / path.name))


def resolve_device(preference: str = "auto") -> str:
    """``cuda`` when asked for or available (``auto``), else ``cpu``."""
    import torch

    if preference == "cuda" or (preference == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise InputError("device 'cuda' requested but CUDA is not available")
        return "cuda"
    return "cpu"


def train_size_range(image_size: int) -> tuple[int, int]:
    """Training resizes the long side randomly within this range around the test size."""
    return round(image_size * 7 / 8), round(image_size * 5 / 4)


def _set_resize(pipeline: list[dict[str, Any]], image_size: int) -> None:
    low, high = train_size_range(image_size)
    for step in pipeline:
        if step.get("type") == "Resize":
            step["scale"] = (image_size, image_size)
        elif step.get("type") == "RandomResize":
            step["scale"] = [(low, low), (high, high)]


def _set_frozen_stages(cfg, frozen_stages: int) -> None:
    backbone = cfg.model.backbone
    if backbone.type == "ResNet":
        frozen_stages = min(frozen_stages, backbone.get("num_stages", 4))
    backbone.frozen_stages = frozen_stages


def apply_options(
    cfg,
    *,
    image_size: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    frozen_stages: int | None = None,
    load_from: str | None = None,
    backbone_weights: str | None = None,
    train_images: int | None = None,
) -> None:
    """Override the training options a user can set (None keeps the config's value).

    With ``train_images`` the LR warm-up is shortened to at most a fifth of all iterations.
    """
    if image_size is not None:
        cfg.image_size = image_size
        for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
            _set_resize(cfg[loader].dataset.pipeline, image_size)
        _set_resize(cfg.train_pipeline, image_size)
        _set_resize(cfg.test_pipeline, image_size)
    if epochs is not None:
        cfg.max_epochs = epochs
        cfg.train_cfg.max_epochs = epochs
        cfg.train_cfg.val_interval = epochs
        cfg.default_hooks.checkpoint.interval = epochs
        for scheduler in cfg.param_scheduler:
            if scheduler.get("by_epoch", True):
                scheduler["end"] = epochs
    if batch_size is not None:
        cfg.train_dataloader.batch_size = batch_size
    if lr is not None:
        cfg.optim_wrapper.optimizer.lr = lr
    if frozen_stages is not None:
        _set_frozen_stages(cfg, frozen_stages)
    if load_from:
        cfg.load_from = load_from
    if train_images:
        total = cfg.train_cfg.max_epochs * -(-train_images // cfg.train_dataloader.batch_size)
        for scheduler in cfg.param_scheduler:
            if scheduler["type"] == "LinearLR" and not scheduler.get("by_epoch", True):
                scheduler["end"] = max(1, min(scheduler["end"], total // 5))
    if backbone_weights is not None and cfg.model.backbone.type == "EfficientNetLite":
        cfg.model.backbone.weights = backbone_weights or None


def set_data(cfg, split: str, ann_file: str | None) -> None:
    """Point a dataloader (``train``/``val``/``test``) and its evaluator at a COCO file."""
    loader = cfg[f"{split}_dataloader"]
    loader.dataset.ann_file = ann_file or ""
    if split != "train":
        evaluator = cfg[f"{split}_evaluator"]
        evaluator.ann_file = ann_file


def for_inference(cfg):
    """A copy of ``cfg`` with only what building and testing the model needs."""
    cfg = cfg.copy()
    cfg.model.backbone.pop("init_cfg", None)
    if cfg.model.backbone.type == "EfficientNetLite":
        cfg.model.backbone.weights = None  # the detector checkpoint holds every weight
    cfg.load_from = None
    return cfg
