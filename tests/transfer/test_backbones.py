"""Feature networks: shapes per backbone/cut, determinism, ResNet50 from a state-dict file."""

from __future__ import annotations

import numpy as np
import pytest

from nolabel.components.common.errors import InputError
from nolabel.components.transfer.backbones import check_backbone, normalization
from nolabel.components.transfer.runtime import FeatureExtractor, normalise, resize_batch


def _images(n: int = 3, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (40 + 7 * i, 50, 3), dtype=np.uint8) for i in range(n)]


@pytest.mark.parametrize(
    ("backbone", "dims"),
    [
        ("efficientnet-lite0", {1: 1280, 2: 320, 3: 192}),
        ("efficientnet-lite1", {1: 1280, 2: 320}),
        ("efficientnet-lite2", {1: 1280, 2: 352}),
    ],
)
def test_efficientnet_shapes_and_determinism(backbone: str, dims: dict[int, int]) -> None:
    extractor = FeatureExtractor(backbone, tuple(dims), input_size=64, runtime="torch")
    first = extractor.extract(_images())
    second = extractor.extract(_images())
    for cut, dim in dims.items():
        assert first[cut].shape == (3, dim)
        assert first[cut].dtype == np.float32
        np.testing.assert_array_equal(first[cut], second[cut])
    # different images give different features
    assert not np.allclose(first[1][0], first[1][1])


def test_pretrained_weights_recognise_a_synthetic_change() -> None:
    extractor = FeatureExtractor("efficientnet-lite0", (1,), input_size=64, runtime="torch")
    images = _images(2)
    feats = extractor.extract(images + [images[0][:, ::-1].copy()])[1]
    # a mirrored image stays closer to its original than to an unrelated image
    assert np.linalg.norm(feats[0] - feats[2]) < np.linalg.norm(feats[0] - feats[1])


@pytest.fixture(scope="module")
def resnet_weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A random-init ResNet50 in torchvision's state-dict format (mmdet keys + fc)."""
    import torch
    from mmdet.models.backbones import ResNet

    torch.manual_seed(0)
    state = ResNet(depth=50).state_dict()
    state["fc.weight"] = torch.randn(1000, 2048) * 0.01
    state["fc.bias"] = torch.zeros(1000)
    path = tmp_path_factory.mktemp("weights") / "resnet50.pth"
    torch.save(state, path)
    return str(path)


def test_resnet50_from_state_dict_file(resnet_weights: str) -> None:
    extractor = FeatureExtractor(
        "resnet50", (1, 2), input_size=64, weights=resnet_weights, runtime="torch"
    )
    first = extractor.extract(_images(2))
    assert first[1].shape == (2, 2048)
    assert first[2].shape == (2, 1024)
    np.testing.assert_array_equal(first[1], extractor.extract(_images(2))[1])
    # the same weights named by a store URI (as a cluster would pass them)
    from nolabel.components.common.store import open_store

    uri = open_store().put_file("weights/resnet50.pth", resnet_weights)
    by_uri = FeatureExtractor("resnet50", (2,), input_size=64, weights=uri, runtime="torch")
    np.testing.assert_allclose(by_uri.extract(_images(2))[2], first[2], rtol=1e-5, atol=1e-6)


def test_resnet50_refuses_other_state_dicts(tmp_path) -> None:
    import torch

    path = tmp_path / "bad.pth"
    torch.save({"conv.weight": torch.zeros(3)}, path)
    with pytest.raises(InputError, match="not a torchvision ResNet50"):
        FeatureExtractor("resnet50", (1,), 64, weights=str(path), runtime="torch")
    with pytest.raises(InputError, match="needs --weights"):
        FeatureExtractor("resnet50", (1,), 64, runtime="torch")


def test_backbone_and_cut_validation() -> None:
    assert check_backbone("efficientnet-lite0", 0) == 1  # 0 and 1: pooled penultimate
    assert check_backbone("resnet50", 4) == 4
    with pytest.raises(InputError, match="unknown backbone"):
        check_backbone("vgg16")
    with pytest.raises(InputError, match="cut_layers"):
        check_backbone("resnet50", 5)


def test_preprocessing_per_backbone() -> None:
    batch = np.full((1, 4, 4, 3), 255, dtype=np.uint8)
    lite = normalise(batch, "efficientnet-lite0")
    assert lite.shape == (1, 3, 4, 4)
    np.testing.assert_allclose(lite, (255 - 127) / 128, rtol=1e-6)
    resnet = normalise(batch, "resnet50")
    mean, std = normalization("resnet50")
    np.testing.assert_allclose(resnet[0, :, 0, 0], (255 - np.array(mean)) / np.array(std), 1e-5)


def test_resize_batch_handles_ragged_lists_and_uniform_batches() -> None:
    ragged = resize_batch(_images(3), 32)
    assert ragged.shape == (3, 32, 32, 3) and ragged.dtype == np.uint8
    uniform = resize_batch(np.stack([np.full((50, 60, 3), 77, np.uint8)] * 2), 32)
    assert uniform.shape == (2, 32, 32, 3)
    assert np.all(uniform == 77)
    grey = resize_batch([np.zeros((10, 10), np.uint8)], 16)
    assert grey.shape == (1, 16, 16, 3)
    with pytest.raises(InputError):
        resize_batch(np.zeros((1, 8, 8, 2), np.uint8), 16)
