"""The TF.js → ONNX converter on hand-written graphs, against a torch reference."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from nolabel.components.common.errors import InputError
from nolabel.components.proposals.tfjs import read_graph_model
from nolabel.components.proposals.tfjs_onnx import convert
from tests.proposals.tiny_graphs import GraphWriter, mixed_graph


def _reference(g: GraphWriter, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``mixed_graph`` computed with torch from the dequantized weights (NCHW inside)."""
    v = {k: torch.from_numpy(np.asarray(a, dtype=np.float32)) for k, a in g.values.items()}
    t = torch.from_numpy(x).permute(0, 3, 1, 2)
    c1 = F.relu(F.conv2d(t, v["k1"].permute(3, 2, 0, 1), v["b1"], padding=1))
    depthwise = v["k2"].permute(2, 3, 0, 1).reshape(8, 1, 3, 3)
    d2 = F.conv2d(F.pad(c1, (0, 1, 0, 1)), depthwise, v["b2"], stride=2, groups=8).clamp(0, 6)
    se = d2.mean(dim=(2, 3), keepdim=True)
    leaky = F.leaky_relu(d2 * se, 0.1)
    up = F.interpolate(leaky, size=(x.shape[1], x.shape[2]), mode="bilinear", align_corners=False)
    pooled = F.max_pool2d(F.pad(c1, (1, 1, 1, 1)), 3, 1)
    out_a = torch.cat([up, pooled], 1)
    c3 = F.conv2d(out_a, v["k3"].permute(3, 2, 0, 1))
    second = c3[:, 2:].permute(0, 2, 3, 1).reshape(1, -1, 4)
    out_b = second.permute(0, 2, 1) * 2
    return out_a.permute(0, 2, 3, 1).numpy(), out_b.numpy()


@pytest.mark.parametrize("quantize", ["float16", "uint8", None])
def test_mixed_graph_matches_torch(quantize):
    g = mixed_graph(quantize=quantize)
    model_json, shards = g.files(["out_a", "out_b"])
    model = convert(read_graph_model(model_json, shards))
    onnx.checker.check_model(model)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).uniform(0, 1, (1, 16, 16, 3)).astype(np.float32)
    out_a, out_b = session.run(["out_a", "out_b"], {"input": x})
    ref_a, ref_b = _reference(g, x)
    np.testing.assert_allclose(out_a, ref_a, atol=2e-4)
    np.testing.assert_allclose(out_b, ref_b, atol=2e-4)


def test_free_axes_run_at_other_sizes():
    g = mixed_graph()
    model_json, shards = g.files(["out_a", "out_b"])
    model = convert(read_graph_model(model_json, shards), dynamic_axes={1: "h", 2: "w"})
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(2).uniform(0, 1, (1, 24, 32, 3)).astype(np.float32)
    out_a, out_b = session.run(["out_a", "out_b"], {"input": x})
    ref_a, ref_b = _reference(g, x)
    assert out_a.shape == (1, 24, 32, 16)
    np.testing.assert_allclose(out_a, ref_a, atol=2e-4)
    np.testing.assert_allclose(out_b, ref_b, atol=2e-4)


def test_only_the_asked_outputs_are_converted():
    g = mixed_graph()
    model_json, shards = g.files(["out_a", "out_b"])
    model = convert(read_graph_model(model_json, shards), outputs=["c1"])
    assert [o.name for o in model.graph.output] == ["c1"]
    assert {n.op_type for n in model.graph.node} <= {"Transpose", "Conv", "Relu", "Identity"}


def test_unsupported_op_is_named():
    g = GraphWriter([1, 4, 4, 3])
    g.op("odd", "Erf", ["input"])
    model_json, shards = g.files(["odd"])
    with pytest.raises(InputError, match="odd: op Erf is not supported"):
        convert(read_graph_model(model_json, shards))


def test_broken_files_are_clear_errors():
    g = mixed_graph()
    model_json, shards = g.files(["out_a"])
    with pytest.raises(InputError, match="not a TensorFlow.js graph model"):
        read_graph_model(b"{}", shards)
    with pytest.raises(InputError, match="weight file tiny.bin .*missing"):
        read_graph_model(model_json, {})
    with pytest.raises(InputError, match="runs past the end"):
        read_graph_model(model_json, {"tiny.bin": shards["tiny.bin"][:-10]})
    spec = json.loads(model_json)
    spec["weightsManifest"][0]["weights"][0]["dtype"] = "complex64"
    with pytest.raises(InputError, match="unsupported dtype"):
        read_graph_model(json.dumps(spec).encode(), shards)
