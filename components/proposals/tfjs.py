"""Read a TensorFlow.js graph model (``model.json`` + weight shards) without TensorFlow.

A graph model is a TensorFlow ``GraphDef`` written as JSON (``modelTopology.node``) whose
constants live in binary shards described by ``weightsManifest``: each weight's name, shape,
dtype and, when the converter quantized it, how (``float16``, or ``uint8``/``uint16`` with
``min`` and ``scale``). :func:`read_graph_model` returns the nodes and every constant as a
numpy array, dequantized to its original dtype.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nolabel.components.common.errors import InputError

DTYPES = {
    "float32": np.float32,
    "int32": np.int32,
    "bool": np.bool_,
    "float16": np.float16,
    "uint8": np.uint8,
    "uint16": np.uint16,
}
TF_DTYPES = {  # attr "type" values
    "DT_FLOAT": np.float32,
    "DT_INT32": np.int32,
    "DT_INT64": np.int64,
    "DT_BOOL": np.bool_,
    "DT_HALF": np.float16,
    "DT_UINT8": np.uint8,
}


@dataclass
class Node:
    """One GraphDef node: name, op, inputs (``name`` or ``name:index``; no ``^control``), attrs."""

    name: str
    op: str
    inputs: list[str]
    attr: dict[str, Any] = field(default_factory=dict)

    def string(self, key: str, default: str = "") -> str:
        """A string attribute (base64 in the JSON)."""
        value = self.attr.get(key, {})
        return base64.b64decode(value["s"]).decode() if "s" in value else default

    def ints(self, key: str) -> list[int]:
        """A list-of-ints attribute."""
        return [int(v) for v in self.attr.get(key, {}).get("list", {}).get("i", [])]

    def strings(self, key: str) -> list[str]:
        """A list-of-strings attribute."""
        values = self.attr.get(key, {}).get("list", {}).get("s", [])
        return [base64.b64decode(v).decode() for v in values]

    def number(self, key: str, default: float = 0.0) -> float:
        """A float or int attribute."""
        value = self.attr.get(key, {})
        return float(value.get("f", value.get("i", default)))

    def flag(self, key: str, default: bool = False) -> bool:
        """A boolean attribute."""
        return bool(self.attr.get(key, {}).get("b", default))


@dataclass
class GraphModel:
    """A TF.js graph model: nodes by name (file order), constants, signature outputs."""

    nodes: dict[str, Node]
    constants: dict[str, np.ndarray]
    outputs: list[str]
    meta: dict[str, Any]


def _dequantize(raw: bytes, offset: int, spec: dict[str, Any]) -> tuple[np.ndarray, int]:
    shape = [int(v) for v in spec.get("shape", [])]
    count = int(np.prod(shape)) if shape else 1
    dtype = spec.get("dtype", "float32")
    quant = spec.get("quantization")
    stored = quant["dtype"] if quant else dtype
    if dtype not in DTYPES or stored not in DTYPES:
        raise InputError(f"weight {spec.get('name')!r}: unsupported dtype {stored}")
    size = count * np.dtype(DTYPES[stored]).itemsize
    if offset + size > len(raw):
        raise InputError(f"weight {spec.get('name')!r} runs past the end of the weight files")
    values = np.frombuffer(raw, DTYPES[stored], count, offset)
    if quant and stored in ("uint8", "uint16"):
        values = values.astype(np.float32) * float(quant["scale"]) + float(quant["min"])
    return values.astype(DTYPES[dtype]).reshape(shape), offset + size


def _inline_tensor(node: Node) -> np.ndarray | None:
    """A Const's value written in the JSON itself (TF.js keeps only empty ones there)."""
    tensor = node.attr.get("value", {}).get("tensor")
    if not tensor:
        return None
    dims = [int(d.get("size", 0)) for d in tensor.get("tensorShape", {}).get("dim", [])]
    dtype = TF_DTYPES.get(tensor.get("dtype", "DT_FLOAT"), np.float32)
    if dims and int(np.prod(dims)) == 0:
        return np.zeros(dims, dtype=dtype)
    return None


def read_graph_model(model_json: bytes, shards: dict[str, bytes]) -> GraphModel:
    """Parse ``model.json`` and its weight ``shards`` (file name → bytes)."""
    try:
        spec = json.loads(model_json)
        raw_nodes = spec["modelTopology"]["node"]
        manifest = spec["weightsManifest"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"not a TensorFlow.js graph model: {exc}") from None
    nodes = {}
    for item in raw_nodes:
        inputs = [name for name in item.get("input", []) if not name.startswith("^")]
        nodes[item["name"]] = Node(item["name"], item["op"], inputs, item.get("attr", {}))
    constants: dict[str, np.ndarray] = {}
    for group in manifest:
        try:
            raw = b"".join(shards[path] for path in group["paths"])
        except KeyError as exc:
            raise InputError(f"weight file {exc.args[0]} of the graph model is missing") from None
        offset = 0
        for weight in group["weights"]:
            constants[weight["name"]], offset = _dequantize(raw, offset, weight)
    for node in nodes.values():
        if node.op == "Const" and node.name not in constants:
            value = _inline_tensor(node)
            if value is None:
                raise InputError(f"constant {node.name!r} has no value in the weight files")
            constants[node.name] = value
    outputs = [name.split(":")[0] for name in spec.get("signature", {}).get("outputs", {})]
    meta = {k: spec.get(k) for k in ("format", "generatedBy", "convertedBy")}
    return GraphModel(nodes, constants, outputs, meta)
