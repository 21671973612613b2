"""Convert a TensorFlow.js graph model to ONNX with the ``onnx`` package alone.

Only the part of the graph the requested outputs need is converted. A node whose inputs are all
constants is evaluated here (numpy) and becomes a constant; every other node maps to ONNX ops.
TensorFlow's NHWC convolutions and pools are wrapped in transposes to ONNX's NCHW (ONNX
Runtime's optimizer removes the pairs that cancel). Bilinear resizes become scale factors, so a
converted detector runs at input sizes other than the one it was exported at. Ops outside
:data:`SUPPORTED` are refused with their names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from nolabel.components.common.errors import InputError
from nolabel.components.proposals.tfjs import TF_DTYPES, GraphModel, Node

OPSET = 17
TO_NCHW, TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
ELEMENTWISE = {"Add": "Add", "AddV2": "Add", "BiasAdd": "Add", "Sub": "Sub", "Mul": "Mul",
               "RealDiv": "Div", "Maximum": "Max", "Minimum": "Min"}  # fmt: skip
UNARY = {"Relu": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Elu": "Elu", "Exp": "Exp"}
FOLDS: dict[str, Callable[..., np.ndarray]] = {
    "Add": np.add, "AddV2": np.add, "Sub": np.subtract, "Mul": np.multiply,
    "RealDiv": np.divide, "FloorDiv": np.floor_divide, "FloorMod": np.mod,
    "Maximum": np.maximum, "Minimum": np.minimum,
    "Reshape": lambda x, shape: np.reshape(x, [int(v) for v in shape]),
    "Transpose": lambda x, perm: np.transpose(x, [int(v) for v in perm]),
    "ExpandDims": lambda x, axis: np.expand_dims(x, int(axis)),
}  # fmt: skip


class _Builder:
    """Accumulates ONNX nodes and initializers; tracks each TF tensor as a constant or a name."""

    def __init__(self, model: GraphModel, dynamic_axes: dict[int, str]) -> None:
        self.model = model
        self.dynamic_axes = dynamic_axes
        self.values: dict[str, np.ndarray | str] = {}
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.static_inputs: list[onnx.ValueInfoProto] = []
        self.count = 0

    def fresh(self, hint: str) -> str:
        self.count += 1
        return f"{hint.replace(':', '_')}__{self.count}"

    def const(self, array: np.ndarray, hint: str = "const") -> str:
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def name(self, ref: str) -> str:
        """The ONNX name of a TF tensor (a constant becomes an initializer once)."""
        value = self.values[ref]
        if isinstance(value, str):
            return value
        name = self.const(value, ref)
        self.values[ref] = name
        return name

    def emit(self, op: str, inputs: Sequence[str], hint: str, outputs: int = 1, **attrs) -> list:
        names = [self.fresh(hint) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, list(inputs), names, **attrs))
        return names

    def static_shape(self, name: str) -> list[int]:
        """The shape of ``name`` at the placeholders' exported size (ONNX shape inference)."""
        for info in self.static_inputs:
            if info.name == name:
                return [d.dim_value for d in info.type.tensor_type.shape.dim]
        graph = helper.make_graph(
            self.nodes, "probe", self.static_inputs,
            [helper.make_tensor_value_info(name, TensorProto.FLOAT, None)], self.initializers,
        )  # fmt: skip
        inferred = onnx.shape_inference.infer_shapes(helper.make_model(graph))
        for info in (*inferred.graph.value_info, *inferred.graph.output):
            if info.name == name and info.type.tensor_type.HasField("shape"):
                dims = info.type.tensor_type.shape.dim
                if all(d.HasField("dim_value") for d in dims):
                    return [d.dim_value for d in dims]
        raise InputError(f"cannot infer the shape of {name} to convert a resize")


def _ref(name: str) -> str:
    """A TF input reference without a ``:0`` suffix."""
    return name[:-2] if name.endswith(":0") else name


def _data_format(node: Node) -> str:
    return node.string("data_format", "NHWC")


def _padding(node: Node, spatial: slice) -> dict:
    padding = node.string("padding", "VALID")
    if padding == "SAME":
        return {"auto_pad": "SAME_UPPER"}
    if padding == "EXPLICIT":
        pairs = np.asarray(node.ints("explicit_paddings")).reshape(-1, 2)[spatial]
        return {"pads": [int(v) for v in (*pairs[:, 0], *pairs[:, 1])]}
    return {"auto_pad": "VALID"}


def _layout(node: Node) -> tuple[slice, bool]:
    """(spatial dims in the node's layout, whether it is NHWC)."""
    nhwc = _data_format(node) == "NHWC"
    return (slice(1, 3) if nhwc else slice(2, 4)), nhwc


def _wrap(b: _Builder, node: Node, x: str, make: Callable[[str], str]) -> str:
    """Run ``make`` on ``x`` in NCHW, transposing in and out when the node is NHWC."""
    _, nhwc = _layout(node)
    if nhwc:
        x = b.emit("Transpose", [x], node.name, perm=TO_NCHW)[0]
    y = make(x)
    return b.emit("Transpose", [y], node.name, perm=TO_NHWC)[0] if nhwc else y


def _activation(
    b: _Builder, node: Node, y: str, names: Sequence[str], alpha_key: str = "leakyrelu_alpha"
) -> str:
    """``y`` through the activations ``names`` (``BiasAdd`` is the convolution's bias)."""
    for fused in names:
        if fused == "BiasAdd":
            continue
        if fused == "Relu6":
            y = b.emit("Clip", [y, b.const(np.float32(0)), b.const(np.float32(6))], node.name)[0]
        elif fused == "LeakyRelu":
            alpha = node.number(alpha_key, 0.2)
            y = b.emit("LeakyRelu", [y], node.name, alpha=alpha)[0]
        elif fused in UNARY:
            y = b.emit(UNARY[fused], [y], node.name)[0]
        else:
            raise InputError(f"{node.name}: unsupported fused op {fused}")
    return y


def _conv(b: _Builder, node: Node, depthwise: bool) -> str:
    spatial, _ = _layout(node)
    kernel = b.values[_ref(node.inputs[1])]
    if isinstance(kernel, str):
        raise InputError(f"{node.name}: convolution weights must be constants")
    height, width, channels, multiplier = kernel.shape
    if depthwise:
        weights = kernel.transpose(2, 3, 0, 1).reshape(channels * multiplier, 1, height, width)
    else:
        weights = kernel.transpose(3, 2, 0, 1)
    attrs = {
        "strides": node.ints("strides")[spatial] or [1, 1],
        "dilations": node.ints("dilations")[spatial] or [1, 1],
        "group": channels if depthwise else 1,
        **_padding(node, spatial),
    }
    fused = node.strings("fused_ops")
    if fused and fused[0] not in ("BiasAdd",):
        raise InputError(f"{node.name}: unsupported fused op {fused[0]}")
    inputs = [b.const(weights.astype(np.float32), node.name + "_w")]
    if fused:
        inputs.append(b.name(_ref(node.inputs[2])))
    x = b.name(_ref(node.inputs[0]))
    return _wrap(b, node, x, lambda v: b.emit("Conv", [v, *inputs], node.name, **attrs)[0])


def _pool(b: _Builder, node: Node) -> str:
    spatial, _ = _layout(node)
    attrs = {"kernel_shape": node.ints("ksize")[spatial], "strides": node.ints("strides")[spatial]}
    attrs.update(_padding(node, spatial))
    op = "MaxPool" if node.op == "MaxPool" else "AveragePool"
    x = b.name(_ref(node.inputs[0]))
    return _wrap(b, node, x, lambda v: b.emit(op, [v], node.name, **attrs)[0])


def _resize(b: _Builder, node: Node) -> str:
    size = b.values[_ref(node.inputs[1])]
    if isinstance(size, str):
        raise InputError(f"{node.name}: resize sizes must be constants")
    x = b.name(_ref(node.inputs[0]))
    height, width = b.static_shape(x)[1:3]  # TF resizes are NHWC
    scales = np.array([1, 1, size[0] / height, size[1] / width], dtype=np.float32)
    if node.flag("align_corners"):
        mode = "align_corners"
    else:
        mode = "half_pixel" if node.flag("half_pixel_centers") else "asymmetric"
    linear = node.op == "ResizeBilinear"
    attrs = {"mode": "linear" if linear else "nearest", "coordinate_transformation_mode": mode}
    if not linear:
        attrs["nearest_mode"] = "round_prefer_ceil" if node.flag("half_pixel_centers") else "floor"
    empty, factors = "", b.const(scales, node.name + "_scales")
    wrapper = Node(node.name, node.op, [], {})  # NHWC by default
    return _wrap(
        b, wrapper, x, lambda v: b.emit("Resize", [v, empty, factors], node.name, **attrs)[0]
    )


def _convert_node(b: _Builder, node: Node) -> list[str]:
    """ONNX names of ``node``'s outputs (after emitting its ops)."""
    inputs = [_ref(name) for name in node.inputs]
    op = node.op
    if op in ("Identity", "StopGradient"):
        return [b.name(inputs[0])]
    if op in ("Conv2D", "_FusedConv2D"):
        y = _conv(b, node, depthwise=False)
        return [_activation(b, node, y, node.strings("fused_ops"))]
    if op in ("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"):
        y = _conv(b, node, depthwise=True)
        return [_activation(b, node, y, node.strings("fused_ops"))]
    if op in ("MaxPool", "AvgPool"):
        return [_pool(b, node)]
    if op in ("ResizeBilinear", "ResizeNearestNeighbor"):
        return [_resize(b, node)]
    if op in ELEMENTWISE:
        return b.emit(ELEMENTWISE[op], [b.name(i) for i in inputs[:2]], node.name)
    if op in UNARY:
        return b.emit(UNARY[op], [b.name(inputs[0])], node.name)
    if op in ("Relu6", "LeakyRelu"):
        return [_activation(b, node, b.name(inputs[0]), [op], alpha_key="alpha")]
    if op == "Transpose":
        perm = [int(v) for v in _constant(b, node, inputs[1])]
        return b.emit("Transpose", [b.name(inputs[0])], node.name, perm=perm)
    if op == "Reshape":
        shape = _constant(b, node, inputs[1]).astype(np.int64)
        return b.emit("Reshape", [b.name(inputs[0]), b.const(shape)], node.name)
    if op in ("Pad", "PadV2", "MirrorPad"):
        pairs = _constant(b, node, inputs[1]).astype(np.int64).reshape(-1, 2)
        pads = b.const(np.concatenate([pairs[:, 0], pairs[:, 1]]))
        extra = [b.name(inputs[2])] if op == "PadV2" else []
        mode = "reflect" if op == "MirrorPad" and node.string("mode") == "REFLECT" else "constant"
        return b.emit("Pad", [b.name(inputs[0]), pads, *extra], node.name, mode=mode)
    if op == "ConcatV2":
        axis = int(_constant(b, node, inputs[-1]))
        return b.emit("Concat", [b.name(i) for i in inputs[:-1]], node.name, axis=axis)
    if op == "SplitV":
        sizes = _constant(b, node, inputs[1]).astype(np.int64)
        axis = int(_constant(b, node, inputs[2]))
        return b.emit(
            "Split", [b.name(inputs[0]), b.const(sizes)], node.name, len(sizes), axis=axis
        )
    if op == "Mean":
        axes = [int(v) for v in np.atleast_1d(_constant(b, node, inputs[1]))]
        keep = int(node.flag("keep_dims"))
        return b.emit("ReduceMean", [b.name(inputs[0])], node.name, axes=axes, keepdims=keep)
    raise InputError(f"{node.name}: op {op} is not supported by the converter")


def _constant(b: _Builder, node: Node, ref: str) -> np.ndarray:
    value = b.values[ref]
    if isinstance(value, str):
        raise InputError(f"{node.name}: input {ref} must be a constant")
    return value


def _fold(node: Node, args: list[np.ndarray]) -> list[np.ndarray] | None:
    """The node's outputs when it can be computed now from constant ``args``, else None."""
    op = node.op
    if op == "Identity":
        return [args[0]]
    if op == "Cast":
        return [args[0].astype(TF_DTYPES[node.attr["DstT"]["type"]])]
    if op == "ConcatV2":
        return [np.concatenate(args[:-1], axis=int(args[-1]))]
    if op == "Pack":
        return [np.stack(args, axis=int(node.number("axis")))]
    if op == "SparseToDense":
        indices, shape, values, default = args
        dense = np.full([int(v) for v in shape], default, dtype=np.asarray(values).dtype)
        if indices.size:
            dense[tuple(np.atleast_2d(indices).reshape(len(indices), -1).T)] = values
        return [dense]
    if op in FOLDS:
        return [np.asarray(FOLDS[op](*args))]
    return None


SUPPORTED = sorted(
    {"Identity", "StopGradient", "Conv2D", "_FusedConv2D", "DepthwiseConv2dNative",
     "FusedDepthwiseConv2dNative", "MaxPool", "AvgPool", "ResizeBilinear",
     "ResizeNearestNeighbor", "Relu6", "LeakyRelu", "Transpose", "Reshape", "Pad", "PadV2",
     "MirrorPad", "ConcatV2", "SplitV", "Mean", "Placeholder", "Const", *ELEMENTWISE, *UNARY}
)  # fmt: skip


def _needed(model: GraphModel, outputs: list[str]) -> list[Node]:
    """The nodes ``outputs`` depend on, inputs before users."""
    order: list[Node] = []
    state: dict[str, int] = {}
    for output in outputs:
        stack = [(output, False)]
        while stack:
            name, done = stack.pop()
            if done:
                state[name] = 2
                order.append(model.nodes[name])
                continue
            if state.get(name):
                continue
            if name not in model.nodes:
                raise InputError(f"the graph has no node {name!r}")
            state[name] = 1
            stack.append((name, True))
            for ref in model.nodes[name].inputs:
                parent = ref.split(":")[0]
                if not state.get(parent):
                    stack.append((parent, False))
    return order


def convert(
    model: GraphModel,
    outputs: Sequence[str] | None = None,
    dynamic_axes: dict[int, str] | None = None,
    name: str = "tfjs",
) -> onnx.ModelProto:
    """An ONNX model computing ``outputs`` (default: the signature's) of ``model``.

    ``dynamic_axes`` names input axes left free (``{2: "height", 3: "width"}``); the rest keep
    the placeholder's exported size.
    """
    wanted = list(outputs or model.outputs)
    b = _Builder(model, dynamic_axes or {})
    for node in _needed(model, wanted):
        if node.op == "Const":
            b.values[node.name] = model.constants[node.name]
            continue
        if node.op == "Placeholder":
            dims = [int(d.get("size", -1)) for d in node.attr["shape"]["shape"]["dim"]]
            free = [b.dynamic_axes.get(i, v) for i, v in enumerate(dims)]
            b.inputs.append(helper.make_tensor_value_info(node.name, TensorProto.FLOAT, free))
            b.static_inputs.append(
                helper.make_tensor_value_info(node.name, TensorProto.FLOAT, dims)
            )
            b.values[node.name] = node.name
            continue
        args = [b.values[_ref(ref)] for ref in node.inputs]
        folded = None
        if all(not isinstance(a, str) for a in args):
            folded = _fold(node, args)  # type: ignore[arg-type]
        names = folded if folded is not None else _convert_node(b, node)
        for index, value in enumerate(names):
            b.values[node.name if index == 0 else f"{node.name}:{index}"] = value
    graph_outputs = []
    for output in wanted:
        source = b.name(output)
        rank = len(b.static_shape(source))
        b.nodes.append(helper.make_node("Identity", [source], [output]))
        dims = [f"{output}_{axis}" for axis in range(rank)]
        graph_outputs.append(helper.make_tensor_value_info(output, TensorProto.FLOAT, dims))
    graph = helper.make_graph(b.nodes, name, b.inputs, graph_outputs, b.initializers)
    converted = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    converted.ir_version = 8
    onnx.checker.check_model(converted)
    return converted
