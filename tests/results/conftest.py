"""A scored camera card made by hand: frames in bursts and sub-folders, boxes, a failure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@dataclass
class Scored:
    root: Path
    results: Path
    payload: dict


def _frame(path: Path, width: int, height: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)


def _record(path, verdict, p, burst, burst_p, boxes, size=(200, 100)):
    record = {
        "path": path,
        "width": size[0],
        "height": size[1],
        "probability": p,
        "positive": verdict == "animal",
        "burst": burst,
        "burst_size": 0,
        "burst_probability": burst_p,
        "verdict": verdict,
        "boxes": [{"bbox": b, "score": s, "detector_score": s} for b, s in boxes],
    }
    return record


@pytest.fixture
def scored(tmp_path) -> Scored:
    """Six frames: a positive burst of three (one weak frame), an empty burst, one uncertain frame
    and an unreadable file, scored by a classifier with threshold 0.5."""
    root = tmp_path / "card"
    images = [
        _record("cam1/SEQ1_01.jpg", "animal", 0.93, "cam1/SEQ1", 0.8, [([20, 10, 120, 90], 0.9)]),
        _record("cam1/SEQ1_02.jpg", "animal", 0.71, "cam1/SEQ1", 0.8, [([0, 0, 210, 50], 0.6)]),
        _record("cam1/SEQ1_03.jpg", "candidate", 0.2, "cam1/SEQ1", 0.8, []),
        _record("cam2/SEQ2_01.jpg", "empty", 0.05, "cam2/SEQ2", 0.04, []),
        _record("cam2/SEQ2_02.jpg", "empty", 0.03, "cam2/SEQ2", 0.04, []),
        _record("cam2/odd name #1.jpg", "empty", 0.4, "cam2/odd name #1", 0.4, []),
    ]
    images[1]["boxes"][0]["crop_probability"] = 0.97  # its crop, judged by the classifier
    images[1]["others"] = [{"bbox": [100, 0, 150, 50], "score": 0.45, "category": "person"}]  # COCO
    for index, record in enumerate(images):
        record["burst_size"] = sum(r["burst"] == record["burst"] for r in images)
        _frame(root / record["path"], 200, 100, index)
    (root / "cam2" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    payload = {
        "root": str(root.resolve()),
        "models": {"classifier": "nolabel-classifier:3", "detector": "nolabel-detector:2"},
        "threshold": 0.5,
        "min_score": 0.3,
        "label": "deer",
        "images": images,
        "failures": [{"path": "cam2/broken.jpg", "reason": "undecodable", "message": "bad"}],
    }
    results = tmp_path / "out" / "results.json"
    results.parent.mkdir()
    results.write_text(json.dumps(payload))
    return Scored(root, results, payload)
