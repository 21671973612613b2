"""Grad-CAM boxes: the map is the classifier's own evidence, and its box finds the object."""

from __future__ import annotations

import numpy as np
import pytest

from nolabel.components.common.errors import InputError

SIZE, SIDE = 192, 72  # frame and square sides: a 6×6 map at the classifier's input


def _frame(rng, corner: tuple[int, int] | None) -> np.ndarray:
    image = rng.integers(0, 50, size=(SIZE, SIZE, 3), dtype=np.uint8)
    if corner is not None:
        y, x = corner
        image[y : y + SIDE, x : x + SIDE] = (230, 200, 40)
    return image


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """EfficientNet-Lite0 (cut 2) + logistic regression: yellow square vs plain noise."""
    from nolabel.components.transfer.classifier import ImageClassifier
    from nolabel.components.transfer.quick import train_classifier_from_arrays

    rng = np.random.default_rng(0)
    corners = [tuple(int(v) for v in rng.integers(0, SIZE - SIDE, 2)) for _ in range(16)]
    images = [_frame(rng, c) for c in corners] + [_frame(rng, None) for _ in range(16)]
    target = tmp_path_factory.mktemp("gradcam") / "classifier"
    train_classifier_from_arrays(
        images, [1] * 16 + [0] * 16, cut_layers=2, input_size=SIZE, register=False, model_dir=target
    )
    return ImageClassifier.from_dir(target)


def test_map_mean_plus_intercept_is_the_logit(classifier):
    from nolabel.components.lime.gradcam import activation_map

    image = _frame(np.random.default_rng(1), (10, 120))
    cam = activation_map(image, classifier)
    assert cam.ndim == 2
    logit = float(classifier.decision_function(image[None])[0])
    assert cam.mean() + classifier.intercept == pytest.approx(logit, abs=1e-2 * max(1, abs(logit)))


def test_box_lands_on_the_object(classifier):
    from nolabel.components.common.coco import iou_xywh
    from nolabel.components.lime.explain import LimeParams
    from nolabel.components.lime.gradcam import gradcam_explanation

    rng = np.random.default_rng(2)
    hits = 0
    for corner in ((8, 8), (112, 112), (8, 112), (112, 8)):
        explanation = gradcam_explanation(_frame(rng, corner), classifier, LimeParams())
        assert explanation.boxes and explanation.segments.shape == (SIZE, SIZE)
        y, x = corner
        hits += iou_xywh([explanation.boxes[0]["bbox"]], [[x, y, SIDE, SIDE]]).max() >= 0.3
    assert hits >= 3


def test_pixels_classifier_is_refused(tmp_path):
    from nolabel.components.lime.gradcam import activation_map
    from nolabel.components.transfer.classifier import ImageClassifier
    from nolabel.components.transfer.quick import train_classifier_from_arrays

    rng = np.random.default_rng(3)
    images = [_frame(rng, (5, 5)) for _ in range(4)] + [_frame(rng, None) for _ in range(4)]
    train_classifier_from_arrays(
        images, [1] * 4 + [0] * 4, backbone="pixels", input_size=32, register=False,
        model_dir=tmp_path / "c",
    )  # fmt: skip
    with pytest.raises(InputError, match="CNN"):
        activation_map(images[0], ImageClassifier.from_dir(tmp_path / "c"))


def test_overlays_of_gradcam_records_use_the_map_cells(classifier, tmp_path):
    """The explain step's overlay PNGs of Grad-CAM boxes (it once recomputed LIME superpixels
    for them and failed on the weight count)."""
    from PIL import Image

    from nolabel.components.common.images import encode_jpeg
    from nolabel.components.lime.explain import LimeParams
    from nolabel.components.lime.gradcam import gradcam_explanation
    from nolabel.components.lime.job import JobConfig
    from nolabel.components.lime.outputs import draw_overlays

    image = _frame(np.random.default_rng(4), (20, 30))
    explanation = gradcam_explanation(image, classifier, LimeParams())
    record = {
        "status": "explained", "sha256": "ab" * 32, "file_name": "x.jpg", "seed": 1,
        **{k: v for k, v in explanation.to_record().items() if k != "timings"},
    }  # fmt: skip
    for box in record["boxes"]:
        box.pop("segmentation", None)
    task = {"sha256": record["sha256"], "data": encode_jpeg(Image.fromarray(image))}
    config = JobConfig(model_uri="unused", lime=LimeParams(), localizer="gradcam", parts_prefix="p")
    (written,) = draw_overlays([record], [task], config, tmp_path, count=1)
    assert written.read_bytes()[:4] == b"\x89PNG"
