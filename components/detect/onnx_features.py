"""A detector's dense part (backbone, neck, RPN convolutions) through ONNX Runtime on CPU.

The traced graph bakes some sizes in (the FPN's upsampling, "same" padding), so one ONNX session
is exported per input shape, the first time that shape is seen, and checked against torch on
that very input: a shape whose outputs disagree stays on torch. Proposal decoding, NMS, RoIAlign
and the box head stay in MMDetection (torch/mmcv); only the convolutions move.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger("nolabel.detect.onnx")

TORCH = "torch"  # marks a shape that runs on torch (export or parity failed, or too many shapes)


def onnxruntime_available() -> bool:
    """True when ``onnxruntime`` can be imported."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class DenseOnnx:
    """Replaces ``model.extract_feat`` (and ``model.rpn_head.forward``) of a two-stage detector.

    ``extract_feat`` runs the ONNX session, returns the features and keeps the RPN outputs of
    the same run; the RPN head's ``forward`` hands them back when it is called on exactly those
    features, and computes in torch otherwise. Callers serialise ``predict`` (one at a time).
    """

    def __init__(
        self, model: Any, threads: int = 1, max_shapes: int = 12, tolerance: float = 1e-3
    ) -> None:
        self.model = model
        self.torch_extract = model.extract_feat
        self.with_rpn = bool(getattr(model, "with_rpn", False))
        self.torch_rpn = model.rpn_head.forward if self.with_rpn else None
        self.threads = max(1, int(threads))
        self.max_shapes = max_shapes
        self.tolerance = tolerance
        self.sessions: dict[tuple[int, ...], Any] = {}
        self._rpn_outputs: tuple[Any, Any] | None = None

    def install(self) -> None:
        """Route the model's dense part through this object."""
        self.model.extract_feat = self
        if self.with_rpn:
            self.model.rpn_head.forward = self.rpn_forward

    def __call__(self, inputs: Any) -> tuple[Any, ...]:
        import torch

        shape = tuple(int(v) for v in inputs.shape)
        session = self.sessions.get(shape) or self._prepare(shape, inputs)
        if session == TORCH:
            return self.torch_extract(inputs)
        outputs = [torch.from_numpy(out) for out in session.run(None, _feed(inputs))]
        features, rpn = _split(outputs, self.with_rpn)
        self._rpn_outputs = (features, rpn) if rpn is not None else None
        return features

    def rpn_forward(self, features: Any) -> Any:
        """The RPN outputs kept from the ONNX run on these features, else torch's."""
        kept, self._rpn_outputs = self._rpn_outputs, None
        if kept is not None and kept[0] is features:
            return kept[1]
        return self.torch_rpn(features)

    @property
    def onnx_shapes(self) -> list[tuple[int, ...]]:
        """The input shapes served by ONNX Runtime so far."""
        return [shape for shape, s in self.sessions.items() if s != TORCH]

    def _prepare(self, shape: tuple[int, ...], inputs: Any) -> Any:
        """Export, open and check a session for ``shape`` (or mark the shape as torch-only)."""
        if len(self.onnx_shapes) >= self.max_shapes:
            log.info("%d ONNX shapes already; %s runs on torch", self.max_shapes, shape)
            self.sessions[shape] = TORCH
            return TORCH
        try:
            session = self._export(inputs)
            self._check(session, inputs)
        except Exception as exc:  # any export/runtime/parity failure: torch is always right
            log.warning("detector features of shape %s stay on torch: %s", shape, exc)
            session = TORCH
        self.sessions[shape] = session
        return session

    def _torch_outputs(self, inputs: Any) -> list[Any]:
        features = self.torch_extract(inputs)
        if not self.with_rpn:
            return list(features)
        scores, deltas = self.torch_rpn(features)
        return [*features, *scores, *deltas]

    def _export(self, inputs: Any) -> Any:
        import onnxruntime as ort
        import torch
        from torch import nn

        dense = self

        class Dense(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = dense.model

            def forward(self, batch):
                return tuple(dense._torch_outputs(batch))

        with tempfile.TemporaryDirectory(prefix="nolabel-detector-onnx-") as tmp:
            path = Path(tmp) / "dense.onnx"
            # The tracer warns about the sizes it bakes in; _check catches what matters.
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    Dense().eval(), (inputs,), str(path), input_names=["inputs"],
                    opset_version=17, dynamo=False,
                )  # fmt: skip
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            if self.threads > 1:  # idle threads sleep: other models share these cores
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            return ort.InferenceSession(
                path.read_bytes(), options, providers=["CPUExecutionProvider"]
            )

    def _check(self, session: Any, inputs: Any) -> None:
        import torch

        with torch.no_grad():
            expected = self._torch_outputs(inputs)
        got = session.run(None, _feed(inputs))
        if len(got) != len(expected):
            raise ValueError(f"{len(got)} outputs, torch has {len(expected)}")
        for want, have in zip(expected, got, strict=True):
            want = want.detach().cpu().numpy()
            if want.shape != have.shape:
                raise ValueError(f"output shape {have.shape}, torch has {want.shape}")
            scale = max(1.0, float(abs(want).max()))
            error = float(abs(want - have).max())
            if error > self.tolerance * scale:
                raise ValueError(f"outputs differ from torch by {error:.2e}")


def _feed(inputs: Any) -> dict[str, Any]:
    return {"inputs": inputs.detach().cpu().contiguous().numpy()}


def _split(outputs: list[Any], with_rpn: bool) -> tuple[tuple[Any, ...], Any]:
    """Flat session outputs → (features, (RPN scores, RPN deltas) or None)."""
    if not with_rpn:
        return tuple(outputs), None
    levels = len(outputs) // 3
    features = tuple(outputs[:levels])
    return features, (outputs[levels : 2 * levels], outputs[2 * levels :])
