# The offline default with camera-trap training: images without objects are kept (the detector
# learns "nothing here"), objects are shrunk (Expand) and cut off (RandomCrop) like far or
# partly visible animals, and photos get the trail-camera look (infrared grey, dark, noise, blur).
_base_ = ["./faster-rcnn_effnet-lite0_fpn.py"]
custom_imports = dict(
    imports=["nolabel.components.detect.backbone", "nolabel.components.detect.transforms"],
    allow_failed_imports=False,
)

train_pipeline = [
    dict(type="LoadImageFromFile"),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="Expand", mean=(114, 114, 114), to_rgb=False, ratio_range=(1.0, 4.0), prob=0.8),
    dict(
        type="RandomApply",
        transforms=[
            dict(
                type="RandomCrop",
                crop_size=(0.5, 1.0),
                crop_type="relative_range",
                allow_negative_crop=True,
            )
        ],
        prob=0.3,
    ),
    dict(type="RandomResize", scale=[(224, 224), (320, 320)], keep_ratio=True),
    # Shrunk or cut boxes under 6 px would blow up the box regression: drop them, keep the image.
    dict(type="FilterAnnotations", min_gt_bbox_wh=(6, 6), keep_empty=False),
    dict(type="RandomFlip", prob=0.5),
    dict(type="CameraTrapLook"),
    dict(type="PackDetInputs"),
]
train_dataloader = dict(
    dataset=dict(filter_cfg=dict(filter_empty_gt=False, min_size=4), pipeline=train_pipeline)
)
# lr 0.01 diverged on web photos with these augmentations (loss_cls and loss_bbox exploding in
# the second epoch, then collapse to all-background); 0.004 trains steadily.
optim_wrapper = dict(optimizer=dict(lr=0.004))
