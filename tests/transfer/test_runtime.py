"""ONNX Runtime vs torch parity and the store-cached export."""

from __future__ import annotations

import numpy as np

from nolabel.components.common.store import open_store
from nolabel.components.transfer.runtime import (
    FeatureExtractor,
    cached_onnx,
    onnx_key,
    weights_path,
)


def test_onnx_matches_torch_and_is_cached_in_the_store() -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 70, 90, 3), dtype=np.uint8)
    onnx = FeatureExtractor("efficientnet-lite0", (1, 2), input_size=64, runtime="onnx")
    torch_ = FeatureExtractor("efficientnet-lite0", (1, 2), input_size=64, runtime="torch")
    assert onnx.runtime == "onnx" and torch_.runtime == "torch"
    got, want = onnx.extract(images, batch_size=2), torch_.extract(images, batch_size=3)
    for cut in (1, 2):
        assert got[cut].shape == want[cut].shape
        np.testing.assert_allclose(got[cut], want[cut], rtol=1e-3, atol=1e-4)
    key = onnx_key("efficientnet-lite0", (1, 2), 64, weights_path("efficientnet-lite0", None))
    assert open_store().exists(key)
    assert cached_onnx("efficientnet-lite0", (1, 2), 64).is_file()


def test_extractor_is_thread_safe() -> None:
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(2)
    batches = [rng.integers(0, 256, (3, 48, 48, 3), dtype=np.uint8) for _ in range(4)]
    extractor = FeatureExtractor("efficientnet-lite0", (2,), input_size=64, runtime="onnx")
    serial = [extractor.extract(b)[2] for b in batches]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda b: extractor.extract(b)[2], batches))
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
