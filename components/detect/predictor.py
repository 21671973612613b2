"""Load a trained detector and predict boxes on RGB images (boxes in original pixels)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from nolabel.components.common import tracking
from nolabel.components.common.errors import InputError
from nolabel.components.common.names import DETECTOR_MODEL
from nolabel.components.common.settings import get_settings
from nolabel.components.detect.config import for_inference, resolve_device
from nolabel.components.detect.engine import logs_to_stderr
from nolabel.components.detect.onnx_features import DenseOnnx, onnxruntime_available

CONFIG_FILE, CHECKPOINT_FILE = "config.py", "model.pth"
MAX_ASPECT = 16  # a longer/shorter side ratio above this is padded (black) to it before detection


def _test_pipeline(cfg, image_size: int | None = None) -> list[dict[str, Any]]:
    """The config's test pipeline reading arrays instead of files, without annotations."""
    steps = []
    for step in cfg.test_dataloader.dataset.pipeline:
        step = dict(step)
        if step["type"] in ("LoadImageFromFile", "mmdet.LoadImageFromFile"):
            step = {"type": "mmdet.LoadImageFromNDArray"}
        elif "LoadAnnotations" in step["type"]:
            continue
        elif step["type"] == "Resize" and image_size:
            step["scale"] = (image_size, image_size)
        elif step["type"] == "PackDetInputs":
            step["meta_keys"] = ("img_id", "ori_shape", "img_shape", "scale_factor")
        steps.append(step)
    return steps


def _check_image(image: Any, index: int) -> np.ndarray:
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3 or 0 in array.shape:
        raise InputError(
            f"image {index}: expected an HxWx3 uint8 RGB array, got {array.dtype} {array.shape}"
        )
    return array


def pad_to_aspect(array: np.ndarray, max_aspect: float = MAX_ASPECT) -> np.ndarray:
    """Pad the short side of a very elongated image (bottom or right, black) so the detector's
    resize never makes it 0 pixels; box coordinates stay those of the original image."""
    height, width = array.shape[:2]
    target_h = max(height, int(np.ceil(width / max_aspect)))
    target_w = max(width, int(np.ceil(height / max_aspect)))
    if (target_h, target_w) == (height, width):
        return array
    padded = np.zeros((target_h, target_w, 3), dtype=array.dtype)
    padded[:height, :width] = array
    return padded


class Detector:
    """A Faster R-CNN from an MMDetection config + checkpoint; thread-safe ``predict``."""

    def __init__(
        self,
        config_path: str | Path,
        checkpoint_path: str | Path,
        *,
        name: str = DETECTOR_MODEL,
        version: str = "local",
        device: str | None = None,
        image_size: int | None = None,
        runtime: str | None = None,
        threads: int | None = None,
    ) -> None:
        """``image_size`` overrides the config's test size (long side; smaller is faster).

        ``runtime``: ``onnx`` runs backbone, neck and RPN convolutions through ONNX Runtime
        (CPU only), ``torch`` keeps everything in torch, ``auto`` (the default, from
        ``NOLABEL_DETECTOR_RUNTIME``) picks ONNX on CPU when onnxruntime is installed.
        ``threads``: ONNX Runtime's intra-op threads (default: torch's thread count).
        """
        from mmcv.transforms import Compose
        from mmdet.apis import init_detector
        from mmengine.config import Config

        self.name, self.version = name, version
        settings = get_settings()
        self.device = device or resolve_device(settings.device)
        with logs_to_stderr():
            cfg = for_inference(Config.fromfile(str(config_path)))
            self.model = init_detector(cfg, str(checkpoint_path), device=self.device)
        self.model.eval()
        self.cfg = cfg
        self.image_size = image_size or int(cfg.get("image_size", 0)) or None
        self.pipeline = Compose(_test_pipeline(cfg, image_size))
        self._lock = threading.Lock()
        self.runtime = self._use_runtime(runtime or settings.detector_runtime, threads)

    def _use_runtime(self, runtime: str, threads: int | None) -> str:
        """Route backbone + neck through ONNX Runtime when asked and possible; the runtime."""
        import torch

        if runtime not in ("auto", "onnx", "torch"):
            raise InputError(f"detector runtime must be auto, onnx or torch, not {runtime!r}")
        on_cpu = str(self.device).startswith("cpu")
        if runtime == "onnx" and not (on_cpu and onnxruntime_available()):
            raise InputError("the onnx detector runtime needs device cpu and onnxruntime")
        if runtime == "torch" or not (on_cpu and onnxruntime_available()):
            return "torch"
        DenseOnnx(self.model, threads or torch.get_num_threads()).install()
        return "onnx"

    def warm_up(self, aspects: tuple[float, ...] = (1.0, 4 / 3, 3 / 4, 16 / 9)) -> None:
        """Run blank images of these width/height ratios once, so the first real requests of
        those shapes do not pay for an ONNX export."""
        side = self.image_size or 256
        for aspect in aspects:
            width, height = (
                (side, round(side / aspect)) if aspect >= 1 else (round(side * aspect), side)
            )
            self.predict([np.zeros((max(1, height), max(1, width), 3), dtype=np.uint8)])

    def predict(self, images: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        """Boxes (K×4 xyxy, original image pixels) and scores (K) for each RGB image.

        Each image runs on its own: in a mixed batch every image would be padded to the largest
        one and get other boxes; alone, it gets the same boxes whatever else came with it (on a
        CPU batching buys little).
        """
        import torch

        outputs = []
        for index, image in enumerate(images):
            array = _check_image(image, index)
            bgr = np.ascontiguousarray(pad_to_aspect(array)[..., ::-1])
            packed = self.pipeline({"img": bgr, "img_id": index})
            batch = {"inputs": [packed["inputs"]], "data_samples": [packed["data_samples"]]}
            with self._lock, torch.no_grad():
                (result,) = self.model.test_step(batch)
            outputs.append(_to_output(result, array.shape[:2]))
        return outputs


def _to_output(result: Any, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """One image's boxes clipped to its (unpadded) size, best first, degenerate ones dropped."""
    height, width = shape
    instances = result.pred_instances
    boxes = instances.bboxes.detach().cpu().numpy().astype(np.float32).reshape(-1, 4)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    scores = instances.scores.detach().cpu().numpy().astype(np.float32).reshape(-1)
    keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    boxes, scores = boxes[keep], scores[keep]
    order = np.argsort(-scores, kind="stable")
    return {"boxes": boxes[order], "scores": scores[order]}


def find_model_files(root: Path) -> tuple[Path, Path]:
    """The config and checkpoint inside a model directory (an MLflow model or a plain dir)."""
    configs = sorted(root.rglob(CONFIG_FILE))
    checkpoints = sorted(root.rglob(CHECKPOINT_FILE))
    if not configs or not checkpoints:
        raise InputError(f"{root} holds no detector ({CONFIG_FILE} + {CHECKPOINT_FILE})")
    return configs[0], checkpoints[0]


def _version_of(uri: str) -> str:

    if uri.startswith("models:/"):
        rest = uri[len("models:/") :]
        if "@" in rest:
            name, alias = rest.split("@", 1)
            return tracking.alias_version(name, alias) or alias
        return rest.rsplit("/", 1)[-1]
    return Path(uri).name or uri


def load_detector(uri: str | None = None, **options: Any) -> Detector:
    """A Detector from a registry/MLflow URI or a local model dir.

    None means the registered ``nolabel-detector`` at alias production, else candidate.
    ``options`` go to :class:`Detector` (device, image_size, runtime, threads).
    """
    if uri and Path(uri).expanduser().is_dir():
        config, checkpoint = find_model_files(Path(uri).expanduser())
        return Detector(config, checkpoint, version=Path(uri).name, **options)
    resolved = tracking.resolve_model_uri(uri, DETECTOR_MODEL)
    try:
        local = tracking.download_model(resolved)
    except Exception as exc:
        raise InputError(f"cannot load detector {resolved}: {str(exc).splitlines()[0]}") from None
    config, checkpoint = find_model_files(Path(local))
    return Detector(config, checkpoint, version=_version_of(resolved), **options)
