"""Grad-CAM boxes: where the classifier's evidence sits, from one forward pass.

The classifier is a logistic regression on spatially averaged backbone features, so its logit is
``mean_xy(A(x, y)) · w + b``. Grad-CAM weights each channel by its mean gradient, ``w_c / hw``,
which makes the Grad-CAM map exactly ``ReLU(A(x, y) · w) / hw``: the class activation map. It
is computed here in closed form from the backbone's feature maps at the classifier's cut, on the
image as the classifier sees it (squashed to its input size) — no perturbations, no backward
pass. Boxes come from the map with the same rule and splitting as LIME's superpixels, each
pixel of the upsampled map counting as one "superpixel".
"""

from __future__ import annotations

import functools
import threading
import time

import numpy as np

from nolabel.components.common.errors import InputError
from nolabel.components.lime.boxes import box_masks, boxes_from_weights
from nolabel.components.lime.explain import Explanation, LimeParams, check_image
from nolabel.components.transfer.backbones import build_feature_net
from nolabel.components.transfer.runtime import normalise, resize_batch, weights_path

_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _spatial_net(backbone: str, cut: int, input_size: int, weights: str | None):

    return build_feature_net(
        backbone, (cut,), input_size, weights_path(backbone, weights), spatial=True
    )


def activation_map(image: np.ndarray, classifier) -> np.ndarray:
    """h×w map whose mean plus the intercept is the classifier's logit for ``image``."""
    import torch

    if classifier.backbone == "pixels":
        raise InputError("Grad-CAM needs a CNN classifier; this one works on raw pixels")
    net = _spatial_net(
        classifier.backbone,
        max(1, classifier.cut_layers),
        classifier.input_size,
        classifier.extractor.weights,
    )
    squashed = resize_batch([check_image(image)], classifier.input_size)
    batch = normalise(squashed, classifier.backbone)
    with _lock, torch.inference_mode():
        (maps,) = net(torch.from_numpy(batch))
    features = maps[0].numpy().astype(np.float64)  # C×h×w
    return np.tensordot(classifier.coefficients.astype(np.float64), features, axes=(0, 0))


def cam_cells(shape: tuple[int, ...], height: int, width: int) -> np.ndarray:
    """height×width map of the index of the activation-map cell each pixel falls in."""
    rows = np.minimum(np.arange(height) * shape[0] // height, shape[0] - 1)
    cols = np.minimum(np.arange(width) * shape[1] // width, shape[1] - 1)
    return (rows[:, None] * shape[1] + cols[None, :]).astype(np.int32)


def gradcam_explanation(image: np.ndarray, classifier, params: LimeParams) -> Explanation:
    """Boxes around the strongest evidence (``params.cam_cut`` of the map's range and above)."""
    from PIL import Image

    started = time.perf_counter()
    original = check_image(image)
    height, width = original.shape[:2]
    cam = activation_map(original, classifier)
    side = classifier.input_size
    smooth = np.asarray(
        Image.fromarray(cam.astype(np.float32), mode="F").resize((side, side), Image.BILINEAR)
    )
    shifted = smooth - smooth.min()
    boxes = boxes_from_weights(
        shifted.ravel(),
        np.arange(side * side, dtype=np.int32).reshape(side, side),
        rule="relative",
        cut=params.cam_cut,
        split=params.split,
        merge_distance=params.merge_distance,
        min_area=params.min_box_area,
        min_score=params.min_box_score,
    )
    sx, sy = width / side, height / side
    for box in boxes:
        x, y, w, h = box["bbox"]
        box["bbox"] = [round(x * sx, 2), round(y * sy, 2), round(w * sx, 2), round(h * sy, 2)]
    hot = shifted >= params.cam_cut * shifted.max()
    full = hot[
        np.minimum(np.arange(height) * side // height, side - 1)[:, None],
        np.minimum(np.arange(width) * side // width, side - 1)[None, :],
    ]
    for box, mask in zip(boxes, box_masks(full, boxes), strict=True):
        box["segmentation"] = mask
    cells = cam_cells(cam.shape, height, width)
    logit = float(cam.mean() + classifier.intercept)
    return Explanation(
        boxes=boxes,
        weights=cam.ravel(),
        intercept=float(classifier.intercept),
        segments=cells,
        r2=float("nan"),
        base_score=float(1.0 / (1.0 + np.exp(-logit))),
        num_samples=1,
        num_scored=1,
        timings={"gradcam": time.perf_counter() - started},
    )
