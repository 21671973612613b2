"""LIME core on synthetic images where known red regions drive the score."""

from __future__ import annotations

import io

import numpy as np
import pytest

from nolabel.components.common.coco import iou_xywh
from nolabel.components.common.errors import InputError
from nolabel.components.lime.boxes import boxes_from_weights, select_superpixels
from nolabel.components.lime.explain import LimeParams, explain_image, kernel_weights
from nolabel.components.lime.overlay import heatmap_png
from nolabel.components.lime.perturb import compose
from tests.lime.synthetic import paint_boxes, red_fraction, redness_score_fn, textured_image

PARAMS = LimeParams(fill="black", score_size=128, num_samples=100)


def _explain(image, params=PARAMS, seed=None):
    return explain_image(image, redness_score_fn(red_fraction(image[None])[0]), params, seed)


@pytest.mark.parametrize("region", [(90, 30, 50, 50), (20, 50, 60, 40)])
def test_one_region_gives_one_matching_box(region):
    image = paint_boxes(textured_image(120, 160), [region])
    explanation = _explain(image)
    assert len(explanation.boxes) == 1
    assert iou_xywh([explanation.boxes[0]["bbox"]], [region])[0, 0] > 0.8
    assert explanation.r2 > 0.8
    assert explanation.heatmap.shape == image.shape[:2]
    assert explanation.segments.shape == image.shape[:2]
    assert explanation.num_samples == 100


def test_original_resolution_and_ridge_or_lasso_find_the_region():
    region = (40, 20, 48, 48)
    image = paint_boxes(textured_image(100, 130, seed=3), [region])
    for regressor in ("ridge", "lasso"):
        params = PARAMS.model_copy(
            update={"score_size": None, "square": False, "regressor": regressor, "fill": "mean"}
        )
        box = _explain(image, params).boxes[0]["bbox"]
        assert iou_xywh([box], [region])[0, 0] > 0.8, regressor


def test_two_separated_regions_give_two_boxes():
    regions = [(10, 20, 40, 40), (140, 60, 45, 45)]
    image = paint_boxes(textured_image(120, 200, seed=1), regions)
    boxes = [b["bbox"] for b in _explain(image).boxes]
    assert len(boxes) == 2
    ious = iou_xywh(boxes, regions)
    assert ious.max(axis=0).min() > 0.5  # each region has its own box
    merged = _explain(image, PARAMS.model_copy(update={"split": False})).boxes
    assert len(merged) == 1  # without splitting one box spans both


def test_same_seed_same_result_other_seed_other_samples():
    image = paint_boxes(textured_image(120, 160), [(90, 30, 50, 50)])
    first, second = _explain(image, seed=7), _explain(image, seed=7)
    assert first.boxes == second.boxes
    np.testing.assert_array_equal(first.weights, second.weights)
    assert not np.array_equal(first.weights, _explain(image, seed=8).weights)


def test_quickshift_and_blur_fill_run_and_box_the_region():
    region = (30, 30, 50, 50)
    image = paint_boxes(textured_image(110, 140, seed=2), [region])
    params = PARAMS.model_copy(update={"segmenter": "quickshift", "num_samples": 150})
    explanation = _explain(image, params)
    assert iou_xywh([explanation.boxes[0]["bbox"]], [region])[0, 0] > 0.6
    blurred = _explain(image, PARAMS.model_copy(update={"fill": "blur"}))
    assert blurred.boxes and blurred.r2 > 0.5


def test_compose_matches_a_per_sample_loop():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (12, 15, 3), dtype=np.uint8)
    fill = rng.integers(0, 256, (12, 15, 3), dtype=np.uint8)
    segments = rng.integers(0, 6, (12, 15)).astype(np.int32)
    masks = rng.random((5, 6)) < 0.5
    composed = compose(image, fill, segments, masks)
    for index, mask in enumerate(masks):
        expected = np.where(mask[segments][..., None], image, fill)
        np.testing.assert_array_equal(composed[index], expected)


def test_first_sample_is_the_original_and_dedupe_keeps_results():
    image = paint_boxes(textured_image(80, 80), [(20, 20, 30, 30)])
    seen = []

    def score(batch):
        seen.append(np.asarray(batch).copy())
        return red_fraction(batch)

    params = LimeParams(n_segments=4, num_samples=60, fill="black", score_size=None)
    deduped = explain_image(image, score, params)
    assert deduped.num_scored < 60  # 4 superpixels: at most 16 distinct samples
    assert sum(len(b) for b in seen) == deduped.num_scored
    assert any((b == image).all(axis=(1, 2, 3)).any() for b in seen)
    full = explain_image(image, score, params.model_copy(update={"dedupe": False}))
    np.testing.assert_allclose(deduped.weights, full.weights)
    assert deduped.base_score == pytest.approx(red_fraction(image[None])[0])


def test_kernel_weights_favour_samples_near_the_original():
    masks = np.array([[1, 1, 1, 1], [1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=bool)
    weights = kernel_weights(masks, 0.25)
    assert weights[0] == pytest.approx(1.0)
    assert np.all(np.diff(weights) < 0)


def test_boxes_drop_tiny_fragments_and_merge_near_parts():
    segments = np.zeros((100, 100), dtype=np.int32)
    segments[10:40, 10:40] = 1
    segments[10:40, 44:70] = 2  # 4 px from part 1
    segments[90:92, 90:92] = 3  # tiny
    weights = np.array([-0.1, 1.0, 0.8, 0.3])
    merged = boxes_from_weights(weights, segments, coverage=1.0, merge_distance=0.1)
    assert [b["bbox"] for b in merged] == [[10.0, 10.0, 60.0, 30.0]]
    split = boxes_from_weights(weights, segments, coverage=1.0, merge_distance=0.0)
    assert [b["bbox"] for b in split] == [[10.0, 10.0, 30.0, 30.0], [44.0, 10.0, 26.0, 30.0]]
    assert split[0]["score"] > split[1]["score"]
    assert select_superpixels(weights, 0.45).tolist() == [False, True, False, False]
    assert select_superpixels(weights, 0.5).tolist() == [False, True, True, False]
    assert boxes_from_weights(-np.abs(weights), segments) == []


def test_bad_inputs_are_refused():
    score = redness_score_fn(0.1)
    with pytest.raises(InputError):
        explain_image(np.zeros((10, 10, 3), dtype=np.float32), score)
    with pytest.raises(InputError):
        explain_image(np.zeros((10,), dtype=np.uint8), score)
    with pytest.raises(ValueError):
        explain_image(textured_image(40, 40), lambda batch: np.zeros(1), PARAMS)
    with pytest.raises(ValueError):
        LimeParams(keep_probability=1.5)


def test_heatmap_png_is_a_png_of_the_image_size():
    from PIL import Image

    image = paint_boxes(textured_image(120, 160), [(90, 30, 50, 50)])
    data = heatmap_png(image, _explain(image), title="test")
    picture = Image.open(io.BytesIO(data))
    assert picture.format == "PNG"
    assert picture.size[0] / picture.size[1] == pytest.approx(160 / 120, rel=0.02)
