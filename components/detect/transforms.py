"""Camera-trap look for detector training: web photos made to resemble trail-camera frames.

Importing this module registers ``CameraTrapLook`` in MMDetection's ``TRANSFORMS`` registry; the
detector configs pull it in through ``custom_imports``. Web photos are sharp, colourful and well
lit; trail-camera frames are often night infrared (grey), dark, noisy and blurred by motion.
Each effect is drawn independently, seeded through numpy's global generator like MMDetection's
own random transforms (``randomness.seed`` in the config makes runs repeatable).
"""

from __future__ import annotations

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CameraTrapLook(BaseTransform):
    """Infrared grey, low light, sensor noise and blur, each with its own probability.

    Works on ``results["img"]`` (H×W×3 uint8, BGR as MMDetection loads it); boxes are unchanged.
    """

    def __init__(
        self,
        grey_prob: float = 0.5,
        dark_prob: float = 0.3,
        noise_prob: float = 0.3,
        blur_prob: float = 0.3,
        max_noise: float = 12.0,
        max_blur: float = 2.0,
    ) -> None:
        for name, value in (
            ("grey_prob", grey_prob),
            ("dark_prob", dark_prob),
            ("noise_prob", noise_prob),
            ("blur_prob", blur_prob),
        ):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        self.grey_prob, self.dark_prob = grey_prob, dark_prob
        self.noise_prob, self.blur_prob = noise_prob, blur_prob
        self.max_noise, self.max_blur = max_noise, max_blur

    def transform(self, results: dict) -> dict:
        image = results["img"].astype(np.float32)
        if np.random.rand() < self.grey_prob:
            grey = image @ np.array([0.114, 0.587, 0.299], dtype=np.float32)  # BGR luminance
            image = np.repeat(grey[..., None], 3, axis=2)
        if np.random.rand() < self.dark_prob:
            gamma = np.random.uniform(1.3, 2.2)  # darker mid-tones, like a weak IR flash
            image = 255.0 * (image / 255.0) ** gamma * np.random.uniform(0.6, 1.0)
        if np.random.rand() < self.blur_prob:
            sigma = np.random.uniform(0.5, self.max_blur)
            image = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma)
        if np.random.rand() < self.noise_prob:
            sigma = np.random.uniform(2.0, self.max_noise)
            image = image + np.random.normal(0.0, sigma, image.shape)
        results["img"] = image.round().clip(0, 255).astype(np.uint8)
        return results

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(grey_prob={self.grey_prob}, dark_prob={self.dark_prob}, "
            f"noise_prob={self.noise_prob}, blur_prob={self.blur_prob})"
        )
