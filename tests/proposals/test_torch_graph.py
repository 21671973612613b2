"""A converted graph run by torch (trainable) gives ONNX Runtime's outputs."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from nolabel.components.common.errors import InputError
from nolabel.components.proposals.tfjs import read_graph_model
from nolabel.components.proposals.tfjs_onnx import convert
from nolabel.components.proposals.torch_graph import OnnxModule
from tests.proposals.tiny_graphs import GraphWriter, _ints, _s, blob_centernet, mixed_graph


def _both(model, x: np.ndarray):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x})
    with torch.no_grad():
        got = [t.numpy() for t in OnnxModule(model)(torch.from_numpy(x))]
    return expected, got


@pytest.mark.parametrize("shape", [(1, 16, 16, 3), (2, 24, 32, 3)])
def test_torch_matches_onnx_runtime(shape):
    model_json, shards = mixed_graph().files(["out_a"])
    model = convert(read_graph_model(model_json, shards), dynamic_axes={0: "n", 1: "h", 2: "w"})
    x = np.random.default_rng(3).uniform(0, 1, shape).astype(np.float32)
    expected, got = _both(model, x)
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_allclose(have, want, atol=1e-4)


def test_tensorflow_resizes_without_half_pixel_centres():
    g = GraphWriter([1, 5, 7, 2])
    size = g.const("size", np.array([10, 14]))
    g.op("up", "ResizeBilinear", ["input", size])  # asymmetric: TF's old default
    g.op("pooled", "MaxPool", ["up"], ksize=_ints([1, 3, 3, 1]), strides=_ints([1, 2, 2, 1]),
         padding=_s("SAME"), data_format=_s("NHWC"))  # fmt: skip
    model_json, shards = g.files(["pooled"])
    model = convert(read_graph_model(model_json, shards))
    x = np.random.default_rng(4).normal(size=(1, 5, 7, 2)).astype(np.float32)
    (want,), (have,) = _both(model, x)
    np.testing.assert_allclose(have, want, atol=1e-5)


def test_convolutions_are_trainable_and_gradients_flow():
    model_json, shards = blob_centernet().files(["tower_0/keypoints", "tower_0/wh"])
    module = OnnxModule(convert(read_graph_model(model_json, shards)))
    assert len(list(module.parameters())) == 4  # two convolutions: weights and biases
    heat, sizes = module(torch.rand(1, 64, 64, 3) * 255)
    (heat.mean() + sizes.mean()).backward()
    assert all(p.grad is not None for p in module.parameters())


def test_an_op_torch_cannot_run_is_named():
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Erf", ["x"], ["y"])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([node], "g", [x], [y])
    with pytest.raises(InputError, match="Erf"):
        OnnxModule(helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)]))
