"""Tiny TensorFlow.js graph models written by hand, for the converter and proposer tests."""

from __future__ import annotations

import base64
import io
import json
import tarfile
from pathlib import Path

import numpy as np


def _s(text: str) -> dict:
    return {"s": base64.b64encode(text.encode()).decode()}


def _ints(values) -> dict:
    return {"list": {"i": [str(int(v)) for v in values]}}


class GraphWriter:
    """Builds ``model.json`` + one weight shard; float weights stored as float16 or uint8."""

    def __init__(self, input_shape: list[int], input_name: str = "input") -> None:
        dims = [{"size": str(v)} for v in input_shape]
        self.nodes: list[dict] = [
            {"name": input_name, "op": "Placeholder",
             "attr": {"shape": {"shape": {"dim": dims}}, "dtype": {"type": "DT_FLOAT"}}}
        ]  # fmt: skip
        self.weights: list[dict] = []
        self.blobs: list[bytes] = []
        self.values: dict[str, np.ndarray] = {}  # dequantized, for references

    def const(self, name: str, value, quantize: str | None = "float16") -> str:
        array = np.asarray(value)
        spec: dict = {"name": name, "shape": list(array.shape)}
        if array.dtype.kind in "iu":
            array = array.astype(np.int32)
            spec["dtype"], blob = "int32", array.tobytes()
        elif quantize == "float16":
            spec["dtype"] = "float32"
            spec["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
            array = array.astype(np.float16)
            blob = array.tobytes()
            array = array.astype(np.float32)
        elif quantize == "uint8":
            low, high = float(array.min()), float(array.max())
            scale = (high - low) / 255 or 1.0
            codes = np.round((array - low) / scale).astype(np.uint8)
            spec["dtype"] = "float32"
            spec["quantization"] = {"dtype": "uint8", "min": low, "scale": scale}
            blob = codes.tobytes()
            array = codes.astype(np.float32) * np.float32(scale) + np.float32(low)
        else:
            array = array.astype(np.float32)
            spec["dtype"], blob = "float32", array.tobytes()
        self.weights.append(spec)
        self.blobs.append(blob)
        self.values[name] = array
        self.nodes.append({"name": name, "op": "Const", "attr": {}})
        return name

    def op(self, name: str, op: str, inputs: list[str], **attr) -> str:
        self.nodes.append({"name": name, "op": op, "input": inputs, "attr": attr})
        return name

    def files(self, outputs: list[str], shard: str = "tiny.bin") -> tuple[bytes, dict[str, bytes]]:
        model = {
            "format": "graph-model",
            "generatedBy": "tests",
            "convertedBy": "tests",
            "signature": {"outputs": {f"{o}:0": {"name": f"{o}:0"} for o in outputs}},
            "modelTopology": {"node": self.nodes, "library": {}, "versions": {}},
            "weightsManifest": [{"paths": [shard], "weights": self.weights}],
        }
        return json.dumps(model).encode(), {shard: b"".join(self.blobs)}


def conv_attrs(strides=(1, 1), padding="SAME", fused=("BiasAdd",), fmt="NHWC") -> dict:
    attrs = {
        "strides": _ints([1, *strides, 1] if fmt == "NHWC" else [1, 1, *strides]),
        "padding": _s(padding),
        "data_format": _s(fmt),
        "dilations": _ints([1, 1, 1, 1]),
    }
    if fused:
        attrs["fused_ops"] = {"list": {"s": [_s(f)["s"] for f in fused]}}
        attrs["num_args"] = {"i": "1"}
    return attrs


def mixed_graph(seed: int = 0, quantize: str = "float16") -> GraphWriter:
    """NHWC input [1, 16, 16, 3] through most ops the converter maps; outputs ``out_a`` (a
    resized, concatenated feature map) and ``out_b`` (split, sigmoid, reshaped and transposed)."""
    rng = np.random.default_rng(seed)
    g = GraphWriter([1, 16, 16, 3])
    k1 = g.const("k1", rng.normal(0, 0.5, (3, 3, 3, 8)), quantize)
    b1 = g.const("b1", rng.normal(0, 0.1, (8,)), quantize)
    g.op("c1", "_FusedConv2D", ["input", k1, b1], **conv_attrs(fused=("BiasAdd", "Relu")))
    k2 = g.const("k2", rng.normal(0, 0.5, (3, 3, 8, 1)), quantize)
    b2 = g.const("b2", rng.normal(0, 0.1, (8,)), quantize)
    g.op("d2", "FusedDepthwiseConv2dNative", ["c1", k2, b2],
         **conv_attrs((2, 2), fused=("BiasAdd", "Relu6")))  # fmt: skip
    axes = g.const("axes", np.array([1, 2]))
    g.op("se", "Mean", ["d2", axes], keep_dims={"b": True})
    g.op("scaled", "Mul", ["d2", "se"])
    g.op("leaky", "LeakyRelu", ["scaled"], alpha={"f": 0.1})
    size = g.const("size", np.array([16, 16]))
    g.op("up", "ResizeBilinear", ["leaky", size], half_pixel_centers={"b": True})
    pads = g.const("pads", np.array([[0, 0], [1, 1], [1, 1], [0, 0]]))
    g.op("padded", "Pad", ["c1", pads])
    g.op("pooled", "MaxPool", ["padded"], ksize=_ints([1, 3, 3, 1]), strides=_ints([1, 1, 1, 1]),
         padding=_s("VALID"), data_format=_s("NHWC"))  # fmt: skip
    axis = g.const("axis", np.array(3))
    g.op("out_a", "ConcatV2", ["up", "pooled", axis])
    k3 = g.const("k3", rng.normal(0, 0.5, (1, 1, 16, 6)), quantize)
    g.op("c3", "Conv2D", ["out_a", k3], **conv_attrs(fused=()))
    splits, split_dim = g.const("splits", np.array([2, 4])), g.const("split_dim", np.array(3))
    g.op("split", "SplitV", ["c3", splits, split_dim], num_split={"i": "2"})
    g.op("sig", "Sigmoid", ["split"])
    # A reshape target computed from constants (as onnx-tf graphs do): folded at conversion.
    base = g.const("base", np.array([1, -1, 4]))
    g.const("where", np.zeros((0, 1), np.int64))
    dense_shape, dense_values = g.const("dshape", np.array([3])), g.const("dvals", np.array([-1]))
    zero = g.const("zero", np.array(0))
    g.op("offsets", "SparseToDense", ["where", dense_shape, dense_values, zero])
    g.op("shape", "AddV2", [base, "offsets"])
    g.op("flat", "Reshape", ["split:1", "shape"])
    perm = g.const("perm", np.array([0, 2, 1]))
    g.op("moved", "Transpose", ["flat", perm])
    g.op("out_b", "Add", ["moved", "moved"])
    return g


def blob_centernet(
    side: int = 64, half: float = 8.0, colour=(0.04, 0.04, 0.04), bias: float = -8.0
) -> GraphWriter:
    """A CenterNet-shaped detector that finds blobs: keypoints ``[1, h/4, w/4, 80]`` high where
    a 4×4 cell's ``colour`` · RGB + ``bias`` is high (default: bright; class 15, "cat", an
    animal) and boxes of ±``half`` network pixels."""
    g = GraphWriter([1, side, side, 3], "tower_0/images")
    g.op("pool", "AvgPool", ["tower_0/images"], ksize=_ints([1, 4, 4, 1]),
         strides=_ints([1, 4, 4, 1]), padding=_s("VALID"), data_format=_s("NHWC"))  # fmt: skip
    weights = np.zeros((1, 1, 3, 80), np.float32)
    biases = np.full(80, -8.0, np.float32)
    biases[15] = bias
    weights[0, 0, :, 15] = colour  # default, a white cell: 3 × 255 × 0.04 − 8 ≈ 22.6
    k = g.const("k_heat", weights, None)
    b = g.const("b_heat", biases, None)
    g.op("logits", "_FusedConv2D", ["pool", k, b], **conv_attrs(fused=("BiasAdd",)))
    g.op("tower_0/keypoints", "Sigmoid", ["logits"])
    k_wh = g.const("k_wh", np.zeros((1, 1, 3, 4), np.float32), None)
    b_wh = g.const("b_wh", np.full(4, half, np.float32), None)
    g.op("tower_0/wh", "_FusedConv2D", ["pool", k_wh, b_wh], **conv_attrs(fused=("BiasAdd",)))
    return g


def tarball(path: Path, graphs: dict[str, GraphWriter], outputs: dict[str, list[str]]) -> Path:
    """An npm-like tarball holding ``package/models/<name>.json`` and ``.bin`` per graph."""
    with tarfile.open(path, "w:gz") as archive:
        for name, graph in graphs.items():
            model_json, shards = graph.files(outputs[name], shard=f"{name}.bin")
            for member, data in ((f"{name}.json", model_json), *shards.items()):
                info = tarfile.TarInfo(f"package/models/{member}")
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    return path


def install_blob_proposer(
    folder: Path, name: str = "centernet-mobilenetv3-512-coco", half: float = 8.0, **blob
) -> Path:
    """The blob detector (boxes ±``half`` network pixels), converted, in ``folder`` under the
    name of catalogue entry ``name`` (with its record): point ``NOLABEL_WEIGHTS_DIR`` at
    ``folder`` to make it the proposer."""
    import onnx

    from nolabel.components.proposals.tfjs import read_graph_model
    from nolabel.components.proposals.tfjs_onnx import convert
    from nolabel.components.proposals.weights import CATALOGUE, sha256_of

    folder.mkdir(parents=True, exist_ok=True)
    model_json, shards = blob_centernet(half=half, **blob).files(
        ["tower_0/keypoints", "tower_0/wh"]
    )
    path = folder / CATALOGUE[name].filename
    onnx.save(convert(read_graph_model(model_json, shards), dynamic_axes={1: "h", 2: "w"}), path)
    record = {"name": name, "file": path.name, "sha256": sha256_of(path), "origin": "tests"}
    path.with_suffix(".json").write_text(json.dumps(record))
    return path
