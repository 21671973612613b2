"""The camera-trap training config and its CameraTrapLook transform."""

from __future__ import annotations

import numpy as np
import pytest

from nolabel.components.detect.config import apply_options, load_config

CAMTRAP = "faster-rcnn_effnet-lite0_fpn_camtrap"


def test_camtrap_config_inherits_the_default_and_keeps_empty_images():
    cfg = load_config(CAMTRAP)
    base = load_config("faster-rcnn_effnet-lite0_fpn")
    assert cfg.model.backbone.type == "EfficientNetLite" and cfg.model == base.model
    assert "nolabel.components.detect.transforms" in cfg.custom_imports.imports
    dataset = cfg.train_dataloader.dataset
    assert dataset.filter_cfg.filter_empty_gt is False
    kinds = [step["type"] for step in dataset.pipeline]
    assert kinds.index("Expand") < kinds.index("RandomResize") < kinds.index("FilterAnnotations")
    assert "CameraTrapLook" in kinds and cfg.optim_wrapper.optimizer.lr == 0.004
    apply_options(cfg, image_size=128)  # the resize options still reach the pipeline
    resize = next(step for step in dataset.pipeline if step["type"] == "RandomResize")
    assert resize["scale"] == [(112, 112), (160, 160)]


def test_camtrap_look_greys_darkens_and_keeps_shape():
    from nolabel.components.detect.transforms import CameraTrapLook

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
    boxes = np.array([[1.0, 2.0, 30.0, 20.0]])
    grey = CameraTrapLook(grey_prob=1, dark_prob=0, noise_prob=0, blur_prob=0)
    out = grey.transform({"img": image.copy(), "gt_bboxes": boxes})
    assert out["img"].shape == image.shape and out["img"].dtype == np.uint8
    assert (out["img"][..., 0] == out["img"][..., 2]).all()  # grey: channels equal
    assert out["gt_bboxes"] is boxes
    np.random.seed(1)
    dark = CameraTrapLook(grey_prob=0, dark_prob=1, noise_prob=0, blur_prob=0)
    assert dark.transform({"img": image.copy()})["img"].mean() < image.mean()
    noisy = CameraTrapLook(grey_prob=0, dark_prob=0, noise_prob=1, blur_prob=1)
    changed = noisy.transform({"img": image.copy()})["img"]
    assert changed.shape == image.shape and not np.array_equal(changed, image)
    with pytest.raises(ValueError, match="grey_prob"):
        CameraTrapLook(grey_prob=1.5)
