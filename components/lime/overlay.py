"""Pictures of explanations: the image under a weight heat map with the LIME boxes drawn."""

from __future__ import annotations

import io
from typing import Any

import numpy as np


def overlay_figure(image: np.ndarray, explanation: Any, title: str | None = None):
    """A matplotlib Figure (Agg, no pyplot state) of ``image`` with heat map and boxes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    height, width = image.shape[:2]
    figure = Figure(figsize=(6.0, 6.0 * height / max(width, 1)), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.imshow(image)
    heat = np.clip(explanation.heatmap, 0.0, None)
    axes.imshow(np.ma.masked_less_equal(heat, 0.0), cmap="jet", alpha=0.45, vmin=0, vmax=1)
    for box in explanation.boxes:
        x, y, w, h = box["bbox"]
        axes.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="lime", linewidth=2.5))
        axes.text(
            x + 2,
            y + 2,
            f"{box['score']:.2f}",
            color="black",
            fontsize=9,
            va="top",
            bbox={"facecolor": "lime", "alpha": 0.8, "pad": 1, "edgecolor": "none"},
        )
    if title:
        axes.text(
            4,
            height - 4,
            title,
            color="white",
            fontsize=9,
            va="bottom",
            bbox={"facecolor": "black", "alpha": 0.6, "pad": 2, "edgecolor": "none"},
        )
    axes.set_xlim(0, width)
    axes.set_ylim(height, 0)
    axes.axis("off")
    return figure


def heatmap_png(image: np.ndarray, explanation: Any, title: str | None = None) -> bytes:
    """PNG bytes of ``image`` overlaid with the explanation's heat map and boxes."""
    figure = overlay_figure(np.asarray(image)[..., :3], explanation, title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
