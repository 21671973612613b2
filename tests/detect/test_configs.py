"""Configs build through mmengine/MMDetection; the EfficientNet-Lite backbone behaves."""

from __future__ import annotations

import pytest

from nolabel.components.common.errors import InputError
from nolabel.components.detect.config import apply_options, available_configs, load_config


@pytest.fixture(scope="module")
def models_registry():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules()
    return MODELS


@pytest.mark.parametrize(
    ("name", "backbone"),
    [("faster-rcnn_effnet-lite0_fpn", "EfficientNetLite"), ("faster-rcnn_r50_fpn", "ResNet")],
)
def test_config_builds_a_one_class_faster_rcnn(name, backbone, models_registry):
    import torch

    cfg = load_config(name)
    assert cfg.load_from is None
    apply_options(cfg, image_size=64, epochs=2, batch_size=2, lr=0.005, frozen_stages=1)
    model = models_registry.build(cfg.model)
    assert type(model).__name__ == "FasterRCNN"
    assert type(model.backbone).__name__ == backbone
    assert model.roi_head.bbox_head.num_classes == 1
    assert cfg.train_cfg.max_epochs == 2 and cfg.optim_wrapper.optimizer.lr == 0.005
    assert cfg.train_dataloader.dataset.pipeline[2]["scale"] == [(56, 56), (80, 80)]
    assert cfg.test_dataloader.dataset.pipeline[1]["scale"] == (64, 64)
    assert any(step["type"] == "RandomFlip" for step in cfg.train_dataloader.dataset.pipeline)
    features = model.extract_feat(torch.zeros(1, 3, 64, 96))
    assert len(features) == 5 and features[0].shape[-2:] == (16, 24)


def test_configs_are_listed_and_unknown_names_rejected():
    assert {"faster-rcnn_effnet-lite0_fpn", "faster-rcnn_r50_fpn"} <= set(available_configs())
    with pytest.raises(InputError, match="unknown detector config"):
        load_config("no-such-config")


def test_r50_takes_a_load_from_checkpoint(tmp_path):
    cfg = load_config("faster-rcnn_r50_fpn")
    apply_options(cfg, load_from="https://example.org/faster_rcnn_coco.pth")
    assert cfg.load_from == "https://example.org/faster_rcnn_coco.pth"


def test_backbone_loads_imagenet_weights_and_freezes_stages():
    import torch

    from nolabel.components.detect.backbone import EfficientNetLite, packaged_weights_path

    backbone = EfficientNetLite(frozen_stages=2)
    backbone.init_weights()
    reference = torch.load(packaged_weights_path("efficientnet-lite0"), weights_only=True)
    assert torch.equal(backbone.net._conv_stem.weight, reference["_conv_stem.weight"])
    assert torch.equal(
        backbone.net._blocks[5]._project_conv.weight, reference["_blocks.5._project_conv.weight"]
    )
    frozen = [p.requires_grad for p in backbone.net._blocks[: backbone.group_ends[1]].parameters()]
    trainable = [
        p.requires_grad for p in backbone.net._blocks[backbone.group_ends[1] :].parameters()
    ]
    assert not any(frozen) and all(trainable)
    backbone.train()
    assert not backbone.net._bn0.training  # frozen stem stays in eval mode
    outputs = backbone(torch.zeros(1, 3, 128, 96))
    assert [o.shape[1] for o in outputs] == backbone.out_channels == [24, 40, 112, 320]
    assert [o.shape[-1] for o in outputs] == [24, 12, 6, 3]


def test_no_frozen_stages_trains_everything():
    from nolabel.components.detect.backbone import EfficientNetLite

    backbone = EfficientNetLite(frozen_stages=-1, weights=None)
    assert all(p.requires_grad for p in backbone.parameters())
