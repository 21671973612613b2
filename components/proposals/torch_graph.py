"""A converted detector as a trainable torch module (what onnx2torch does, for our op set).

The ONNX graphs :mod:`.tfjs_onnx` writes use a small set of ops; this module runs them with
torch, every convolution's weights and biases as parameters, so a COCO-pretrained detector can
be fine-tuned (``benchmarks/coco_finetune.py``). ``auto_pad`` ``SAME_UPPER`` pads as TensorFlow
does (the extra pixel after), computed from each input's size.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn

from nolabel.components.common.errors import InputError

ELEMENTWISE = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div,
               "Max": torch.maximum, "Min": torch.minimum}  # fmt: skip
UNARY = {"Relu": torch.relu, "Sigmoid": torch.sigmoid, "Tanh": torch.tanh, "Exp": torch.exp,
         "Identity": lambda x: x}  # fmt: skip


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _same_pad(x: torch.Tensor, kernel, strides, dilations, value: float = 0.0) -> torch.Tensor:
    """TensorFlow's SAME padding (more after than before when odd) for an NCHW tensor."""
    pads = []
    for size, k, s, d in zip(x.shape[2:], kernel, strides, dilations, strict=True):
        out = math.ceil(size / s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    (top, bottom), (left, right) = pads
    return F.pad(x, (left, right, top, bottom), value=value)


class OnnxModule(nn.Module):
    """Runs an ONNX graph of :mod:`.tfjs_onnx`'s ops; ``forward(x)`` returns its outputs."""

    def __init__(self, model: onnx.ModelProto) -> None:
        super().__init__()
        self.graph = model.graph
        self.input_name = model.graph.input[0].name
        self.output_names = [o.name for o in model.graph.output]
        initial = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        trainable = {n.input[i] for n in model.graph.node if n.op_type == "Conv"
                     for i in (1, 2) if i < len(n.input)}  # fmt: skip
        self.params = nn.ParameterDict()
        self.keys: dict[str, str] = {}
        for index, (name, array) in enumerate(initial.items()):
            key = f"p{index}"
            self.keys[name] = key
            tensor = torch.from_numpy(np.array(array))
            if name in trainable:
                self.params[key] = nn.Parameter(tensor.float())
            else:
                self.register_buffer(key, tensor)
        unknown = {n.op_type for n in model.graph.node} - {*ELEMENTWISE, *UNARY, *SUPPORTED}
        if unknown:
            raise InputError(f"ops not supported in torch: {', '.join(sorted(unknown))}")

    def _value(self, name: str, values: dict[str, torch.Tensor]) -> torch.Tensor | None:
        if name == "":
            return None
        if name in values:
            return values[name]
        key = self.keys[name]
        return self.params[key] if key in self.params else getattr(self, key)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        values = {self.input_name: x}
        for node in self.graph.node:
            args = [self._value(name, values) for name in node.input]
            outputs = _run(node, args)
            for name, value in zip(node.output, outputs, strict=True):
                values[name] = value
        return [values[name] for name in self.output_names]


def _conv(node, args) -> torch.Tensor:
    a = _attrs(node)
    x, weight = args[0], args[1]
    bias = args[2] if len(args) > 2 else None
    strides, dilations = a.get("strides", [1, 1]), a.get("dilations", [1, 1])
    if a.get("auto_pad", b"NOTSET") in (b"SAME_UPPER", "SAME_UPPER"):
        x = _same_pad(x, weight.shape[2:], strides, dilations)
        padding = 0
    else:
        pads = a.get("pads", [0, 0, 0, 0])
        x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
        padding = 0
    return F.conv2d(x, weight, bias, strides, padding, dilations, a.get("group", 1))


def _pool(node, args) -> torch.Tensor:
    a = _attrs(node)
    x, kernel, strides = args[0], a["kernel_shape"], a.get("strides", [1, 1])
    if a.get("auto_pad", b"NOTSET") in (b"SAME_UPPER", "SAME_UPPER"):
        fill = -math.inf if node.op_type == "MaxPool" else 0.0
        x = _same_pad(x, kernel, strides, [1, 1], fill)
    pool = F.max_pool2d if node.op_type == "MaxPool" else F.avg_pool2d
    return pool(x, kernel, strides)


def _resize(node, args) -> torch.Tensor:
    a = _attrs(node)
    x, scales = args[0], args[2]
    size = [int(math.floor(x.shape[i] * float(scales[i]))) for i in (2, 3)]
    mode = a.get("mode", b"nearest").decode()
    transform = a.get("coordinate_transformation_mode", b"half_pixel").decode()
    if mode == "linear" and transform == "asymmetric":
        return _asymmetric_bilinear(x, size)
    if mode == "linear":
        corners = transform == "align_corners"
        return F.interpolate(x, size=size, mode="bilinear", align_corners=corners)
    return F.interpolate(x, size=size, mode="nearest")


def _asymmetric_bilinear(x: torch.Tensor, size: list[int]) -> torch.Tensor:
    """TensorFlow's bilinear resize without half-pixel centres: output ``i`` samples input
    ``i × in / out`` (clamped to the last pixel)."""
    height, width = x.shape[2:]

    def grid(out: int, size_in: int) -> torch.Tensor:
        source = (torch.arange(out, dtype=x.dtype) * (size_in / out)).clamp(max=size_in - 1)
        return 2 * source / max(size_in - 1, 1) - 1

    ys, xs = torch.meshgrid(grid(size[0], height), grid(size[1], width), indexing="ij")
    points = torch.stack([xs, ys], dim=-1).expand(x.shape[0], -1, -1, -1)
    return F.grid_sample(x, points, mode="bilinear", align_corners=True)


def _run(node: onnx.NodeProto, args: list) -> list[torch.Tensor]:
    op, a = node.op_type, _attrs(node)
    if op in ELEMENTWISE:
        return [ELEMENTWISE[op](args[0], args[1])]
    if op in UNARY:
        return [UNARY[op](args[0])]
    if op == "Conv":
        return [_conv(node, args)]
    if op in ("MaxPool", "AveragePool"):
        return [_pool(node, args)]
    if op == "Resize":
        return [_resize(node, args)]
    if op == "Transpose":
        return [args[0].permute(*a["perm"]).contiguous()]
    if op == "Reshape":
        return [args[0].reshape([int(v) for v in args[1].tolist()])]
    if op == "Concat":
        return [torch.cat(args, dim=a["axis"])]
    if op == "Split":
        return list(torch.split(args[0], [int(v) for v in args[1].tolist()], dim=a["axis"]))
    if op == "Clip":
        return [torch.clamp(args[0], float(args[1]), float(args[2]))]
    if op == "LeakyRelu":
        return [F.leaky_relu(args[0], a.get("alpha", 0.01))]
    if op == "ReduceMean":
        return [args[0].mean(dim=a["axes"], keepdim=bool(a.get("keepdims", 1)))]
    if op == "Pad":
        pads = [int(v) for v in args[1].tolist()]
        half = len(pads) // 2
        flat = []
        for axis in reversed(range(half)):
            flat += [pads[axis], pads[axis + half]]
        value = float(args[2]) if len(args) > 2 and args[2] is not None else 0.0
        return [F.pad(args[0], flat, value=value)]
    raise InputError(f"{node.name}: op {op} is not supported in torch")


SUPPORTED = {"Conv", "MaxPool", "AveragePool", "Resize", "Transpose", "Reshape", "Concat",
             "Split", "Clip", "LeakyRelu", "ReduceMean", "Pad"}  # fmt: skip
