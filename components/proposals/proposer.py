"""Animal proposals: a COCO-pretrained detector, class-agnostic within each category group.

MegaDetector's categories: ``animal`` (COCO bird … giraffe), ``person`` and ``vehicle``; each
proposal keeps its COCO class. The frame runs at ``input_side`` pixels on its long side (aspect
kept, sides multiples of 32); with ``tiles`` ≥ 2 it also runs as ``tiles`` × ``tiles``
overlapping tiles at up to their own resolution (SAHI-style) for small, far animals, and boxes
cut by an inner tile edge are dropped (the frame itself sees those animals whole). Everything is
merged by non-maximum suppression within each group.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from nolabel.components.common.defaults import (
    DEFAULT_PROPOSER,
    DEFAULT_PROPOSER_SIDE,
    DEFAULT_TILES,
)
from nolabel.components.common.errors import InputError
from nolabel.components.proposals.decode import GROUPS, decode_centernet, decode_nanodet, nms
from nolabel.components.proposals.weights import CATALOGUE, weights_path

DEFAULT_MIN_SCORE = 0.05
DEFAULT_MAX_PROPOSALS = 20  # per group and frame
TILE_OVERLAP = 0.25
NMS_IOU = 0.5
STRIDE_MULTIPLE = 32
EDGE_PIXELS = 2.0


@dataclass
class Proposals:
    """One frame's proposals, best first: K×4 ``x1, y1, x2, y2`` frame pixels."""

    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    classes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    groups: list[str] = field(default_factory=list)

    def of(self, group: str) -> Proposals:
        """Only the proposals of ``group``."""
        keep = np.array([g == group for g in self.groups], dtype=bool)
        return Proposals(
            self.boxes[keep], self.scores[keep], self.classes[keep], [group] * int(keep.sum())
        )

    def __len__(self) -> int:
        return len(self.scores)


def network_size(width: int, height: int, side: int) -> tuple[int, int]:
    """(width, height) with the long side ``side``, aspect kept, both multiples of 32."""
    scale = side / max(width, height)

    def snap(value: float) -> int:
        return max(STRIDE_MULTIPLE, int(round(value * scale / STRIDE_MULTIPLE)) * STRIDE_MULTIPLE)

    return snap(width), snap(height)


def tile_windows(width: int, height: int, tiles: int) -> list[tuple[int, int, int, int]]:
    """``tiles`` × ``tiles`` windows ``x1, y1, x2, y2`` overlapping by :data:`TILE_OVERLAP`."""
    if tiles < 2:
        return []
    span = 1 / (tiles - (tiles - 1) * TILE_OVERLAP)
    tile_w, tile_h = width * span, height * span
    windows = []
    for row in range(tiles):
        for col in range(tiles):
            x1 = (width - tile_w) * col / (tiles - 1)
            y1 = (height - tile_h) * row / (tiles - 1)
            windows.append((int(x1), int(y1), int(round(x1 + tile_w)), int(round(y1 + tile_h))))
    return windows


class AnimalProposer:
    """A converted COCO detector run by ONNX Runtime; thread-safe ``propose``."""

    def __init__(
        self,
        model: str = DEFAULT_PROPOSER,
        *,
        input_side: int = DEFAULT_PROPOSER_SIDE,
        tiles: int = DEFAULT_TILES,
        min_score: float = DEFAULT_MIN_SCORE,
        max_proposals: int = DEFAULT_MAX_PROPOSALS,
        threads: int | None = None,
        path: str | None = None,
    ) -> None:
        import onnxruntime as ort

        if model not in CATALOGUE:
            raise InputError(f"unknown proposal model {model!r}; one of {', '.join(CATALOGUE)}")
        if input_side < STRIDE_MULTIPLE or tiles < 0:
            raise InputError(f"input side must be ≥ {STRIDE_MULTIPLE} and tiles ≥ 0")
        self.name, self.kind = model, CATALOGUE[model].kind
        self.input_side, self.tiles = input_side, tiles
        self.min_score, self.max_proposals = min_score, max_proposals
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        source = path or str(weights_path(model))
        try:
            self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise InputError(f"cannot load proposal model {source}: {exc}") from None
        self.input_name = self.session.get_inputs()[0].name
        self._lock = threading.Lock()

    @property
    def min_side(self) -> int:
        """Short side a frame is decoded at, at least, so that no pass has to upsample it."""
        span = 1.0 if self.tiles < 2 else 1 / (self.tiles - (self.tiles - 1) * TILE_OVERLAP)
        return int(round(self.input_side * 0.75 / span))

    @property
    def identity(self) -> str:
        """What made the proposals (recorded with results, so resumed runs match)."""
        return f"{self.name}@{self.input_side}" + (f"x{self.tiles}t" if self.tiles >= 2 else "")

    def _run(self, image: np.ndarray, side: int) -> dict[str, tuple]:
        """Per group (boxes in ``image`` pixels, scores, classes) of one network pass."""
        from PIL import Image

        height, width = image.shape[:2]
        net_w, net_h = network_size(width, height, side)
        resized = np.asarray(Image.fromarray(image).resize((net_w, net_h), Image.BILINEAR))
        pixels = resized.astype(np.float32)
        if self.kind == "nanodet":
            pixels = (pixels / 255.0).transpose(2, 0, 1)
        with self._lock:
            outputs = self.session.run(None, {self.input_name: pixels[None]})
        found = {}
        for group, classes in GROUPS.items():
            if self.kind == "nanodet":
                boxes, scores, labels = decode_nanodet(
                    outputs, net_w, net_h, classes, self.min_score
                )
            else:
                heat, sizes = sorted(outputs, key=lambda o: o.shape[-1])[::-1]
                boxes, scores, labels = decode_centernet(heat, sizes, classes, self.min_score)
            boxes = boxes * np.array([width / net_w, height / net_h] * 2, dtype=np.float32)
            found[group] = (boxes, scores, labels)
        return found

    def propose(self, image: np.ndarray) -> Proposals:
        """Proposals on one HxWx3 uint8 RGB frame (boxes clipped to it, best first)."""
        image = np.asarray(image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
            raise InputError(f"expected an HxWx3 uint8 RGB array, got {image.dtype} {image.shape}")
        height, width = image.shape[:2]
        parts = [(self._run(image, self.input_side), (0, 0, width, height))]
        for x1, y1, x2, y2 in tile_windows(width, height, self.tiles):
            tile = np.ascontiguousarray(image[y1:y2, x1:x2])
            side = min(self.input_side, max(x2 - x1, y2 - y1))
            parts.append((self._run(tile, side), (x1, y1, x2, y2)))
        return self._merge(parts, width, height)

    def _merge(self, parts, width: int, height: int) -> Proposals:
        merged = Proposals()
        for group in GROUPS:
            boxes, scores, labels = [], [], []
            for found, (x1, y1, x2, y2) in parts:
                b, s, c = found[group]
                if (x1, y1, x2, y2) != (0, 0, width, height):
                    inner = _cut_by_inner_edge(b, x1, y1, x2, y2, width, height)
                    b, s, c = (
                        b[~inner] + np.array([x1, y1, x1, y1], np.float32),
                        s[~inner],
                        c[~inner],
                    )
                boxes.append(b), scores.append(s), labels.append(c)
            b, s, c = np.concatenate(boxes), np.concatenate(scores), np.concatenate(labels)
            b[:, [0, 2]] = b[:, [0, 2]].clip(0, width)
            b[:, [1, 3]] = b[:, [1, 3]].clip(0, height)
            valid = (b[:, 2] - b[:, 0] >= 1) & (b[:, 3] - b[:, 1] >= 1)
            b, s, c = b[valid], s[valid], c[valid]
            keep = nms(b, s, NMS_IOU)[: self.max_proposals]
            merged.boxes = np.concatenate([merged.boxes, b[keep]])
            merged.scores = np.concatenate([merged.scores, s[keep]])
            merged.classes = np.concatenate([merged.classes, c[keep]])
            merged.groups += [group] * len(keep)
        order = np.argsort(-merged.scores, kind="stable")
        return Proposals(
            merged.boxes[order], merged.scores[order], merged.classes[order],
            [merged.groups[i] for i in order],
        )  # fmt: skip


def _cut_by_inner_edge(boxes: np.ndarray, x1, y1, x2, y2, width: int, height: int) -> np.ndarray:
    """Boxes of a tile touching one of its edges that lies inside the frame."""
    w, h = x2 - x1, y2 - y1
    return (
        ((boxes[:, 0] <= EDGE_PIXELS) & (x1 > 0))
        | ((boxes[:, 1] <= EDGE_PIXELS) & (y1 > 0))
        | ((boxes[:, 2] >= w - EDGE_PIXELS) & (x2 < width))
        | ((boxes[:, 3] >= h - EDGE_PIXELS) & (y2 < height))
    )
