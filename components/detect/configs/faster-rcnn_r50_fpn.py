# The classic Faster R-CNN ResNet-50-FPN (the seeds' choice), fine-tuned from a COCO-pretrained
# checkpoint given as `load_from` (path or URL: `nolabel detect train --load-from ...`).
# Without one the backbone starts from scratch (no ImageNet download happens at run time).
_base_ = ["./faster-rcnn_effnet-lite0_fpn.py"]

model = dict(
    backbone=dict(
        _delete_=True,
        type="ResNet",
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type="BN", requires_grad=True),
        norm_eval=True,
        style="pytorch",
        init_cfg=None,
    ),
    neck=dict(in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5),
    rpn_head=dict(in_channels=256, feat_channels=256),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=256),
        bbox_head=dict(in_channels=256, fc_out_channels=1024, num_classes=1),
    ),
)
optim_wrapper = dict(optimizer=dict(lr=0.005))
load_from = None
