"""The detector's dense part on ONNX Runtime: same boxes as torch, torch when ONNX cannot."""

from __future__ import annotations

import numpy as np
import pytest

from nolabel.components.common.errors import InputError


def _images() -> list[np.ndarray]:
    """Bright boxes on dark noise in three aspect ratios (three different input shapes)."""
    rng = np.random.default_rng(3)
    images = []
    for height, width in ((64, 64), (30, 64), (64, 24)):  # padded: 64x64, 32x64, 64x32
        image = rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)
        image[height // 4 : height // 2, width // 4 : width // 2] = 230
        images.append(image)
    return images


def _assert_same(left: list[dict], right: list[dict]) -> None:
    assert len(left) == len(right)
    for a, b in zip(left, right, strict=True):
        assert a["boxes"].shape == b["boxes"].shape
        np.testing.assert_allclose(a["boxes"], b["boxes"], atol=0.05)
        np.testing.assert_allclose(a["scores"], b["scores"], atol=1e-3)


def test_onnx_matches_torch_and_serves_the_rpn(trained_detector, detector_home):
    from nolabel.components.detect.predictor import load_detector

    torch_detector = load_detector(runtime="torch")
    onnx_detector = load_detector(runtime="onnx", threads=1)
    assert (torch_detector.runtime, onnx_detector.runtime) == ("torch", "onnx")
    dense = onnx_detector.model.extract_feat
    torch_rpn_calls = []
    original_rpn = dense.torch_rpn
    dense.torch_rpn = lambda features: torch_rpn_calls.append(1) or original_rpn(features)

    images = _images()
    expected = torch_detector.predict(images) + torch_detector.predict(images[:1])
    got = onnx_detector.predict(images) + onnx_detector.predict(images[:1])
    _assert_same(got, expected)
    assert any(len(result["boxes"]) for result in got)
    # each image runs alone: one shape per image size, checked against torch once when exported
    assert len(dense.onnx_shapes) == 3
    calls_after_export = len(torch_rpn_calls)
    onnx_detector.predict(images[:1])
    assert len(torch_rpn_calls) == calls_after_export  # RPN outputs came from the ONNX run


def test_failed_export_or_parity_falls_back_to_torch(trained_detector, detector_home, caplog):
    from nolabel.components.detect.onnx_features import DenseOnnx
    from nolabel.components.detect.predictor import load_detector

    expected = load_detector(runtime="torch").predict(_images())
    detector = load_detector(runtime="onnx", threads=1)
    dense: DenseOnnx = detector.model.extract_feat

    def broken_export(inputs):
        raise RuntimeError("exporter exploded")

    dense._export = broken_export
    with caplog.at_level("WARNING", logger="nolabel.detect.onnx"):
        _assert_same(detector.predict(_images()), expected)
    assert "exporter exploded" in caplog.text
    assert dense.onnx_shapes == [] and list(dense.sessions.values()) == ["torch"] * 3

    detector = load_detector(runtime="onnx", threads=1)
    dense = detector.model.extract_feat
    dense.tolerance = -1.0  # no output can pass: every shape must stay on torch
    _assert_same(detector.predict(_images()), expected)
    assert dense.onnx_shapes == []


def test_shape_cap_and_runtime_choice(trained_detector, detector_home, monkeypatch):
    from nolabel.components.common.settings import get_settings
    from nolabel.components.detect.predictor import load_detector

    detector = load_detector(runtime="onnx", threads=1)
    dense = detector.model.extract_feat
    dense.max_shapes = 1
    for image in _images():
        detector.predict([image])
    assert len(dense.onnx_shapes) == 1 and len(dense.sessions) == 3

    with pytest.raises(InputError, match="auto, onnx or torch"):
        load_detector(runtime="tensorrt")
    monkeypatch.setenv("NOLABEL_DETECTOR_RUNTIME", "torch")
    get_settings.cache_clear()
    assert load_detector().runtime == "torch"
    monkeypatch.setenv("NOLABEL_DETECTOR_RUNTIME", "auto")
    get_settings.cache_clear()
    assert load_detector().runtime == "onnx"  # CPU here, onnxruntime installed
