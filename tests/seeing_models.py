"""Model stand-ins that keep what they were shown: the spread of grey levels of each frame."""

from __future__ import annotations

import numpy as np


class SeeingModel:
    """A classifier (``predict_proba``: 0.7 each) and detector (``predict``: no box) stand-in;
    ``spreads``: max − min grey level of every frame it was shown, in order."""

    threshold = 0.5
    name, version = "seeing", "1"

    def __init__(self):
        self.spreads: list[int] = []

    def predict_proba(self, arrays):
        self.spreads.extend(int(np.ptp(array)) for array in arrays)
        return np.full(len(arrays), 0.7)

    def predict(self, arrays):
        self.spreads.extend(int(np.ptp(array)) for array in arrays)
        return [{"boxes": np.zeros((0, 4)), "scores": np.zeros(0)} for _ in arrays]
