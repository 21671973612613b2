"""The explain step end to end with a real (pixels-backbone) classifier on generated images."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from nolabel.components.lime.explain import LimeParams
from tests.conftest import REPO_ROOT
from tests.lime.synthetic import paint_boxes, textured_image

LIME = LimeParams(
    fill="black", score_size=96, num_samples=80, merge_distance=0.05, weight_floor=0.1
)
POSITIVE_BOXES = {
    "pos-a.png": (8, 10, 30, 26),
    "pos-b.png": (60, 30, 28, 30),
    "sub/pos-c.png": (40, 8, 32, 32),
}


def _features(images: list[np.ndarray]) -> np.ndarray:
    from nolabel.components.transfer.runtime import resize_batch

    return resize_batch(images, 32).reshape(len(images), -1).astype(np.float64) / 255.0


@pytest.fixture
def red_classifier(tmp_path: Path) -> Path:
    """A saved ImageClassifier (pixels backbone) whose logit grows with the red area."""
    from nolabel.components.transfer.classifier import save_classifier

    coefficients = np.tile([1.0, -0.5, -0.5], 32 * 32)
    positives = [paint_boxes(textured_image(80, 100, s), [(20, 20, 30, 30)]) for s in range(3)]
    negatives = [textured_image(80, 100, s) for s in range(3, 6)]
    z_pos = _features(positives) @ coefficients
    z_neg = _features(negatives) @ coefficients
    coefficients *= 6.0 / float(z_pos.min() - z_neg.max())  # logits in a useful range
    intercept = -3.0 - float(z_neg.max() * 6.0 / (z_pos.min() - z_neg.max()))
    config = {
        "backbone": "pixels",
        "cut_layers": 1,
        "input_size": 32,
        "threshold": 0.5,
        "coefficients": coefficients.tolist(),
        "intercept": intercept,
        "variant": "test",
    }
    return save_classifier(tmp_path / "classifier", config)


@pytest.fixture
def image_dir(tmp_path: Path) -> tuple[Path, Path]:
    """3 positives (one in a subfolder), 2 negatives, 2 unreadable files; and their GT COCO."""
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    gt = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "red"}]}
    for index, (name, box) in enumerate(POSITIVE_BOXES.items(), 1):
        Image.fromarray(paint_boxes(textured_image(90, 110, index), [box])).save(root / name)
        gt["images"].append({"id": index, "file_name": name, "width": 110, "height": 90})
        gt["annotations"].append(
            {
                "id": index,
                "image_id": index,
                "category_id": 1,
                "bbox": list(box),
                "area": box[2] * box[3],
                "iscrowd": 0,
            }
        )
    for index in range(2):
        Image.fromarray(textured_image(90, 110, 10 + index)).save(root / f"neg-{index}.jpg")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff" + b"garbage" * 10)
    (root / "empty.png").write_bytes(b"")
    gt_path = tmp_path / "gt.coco.json"
    gt_path.write_text(json.dumps(gt))
    return root, gt_path


def _validate_with_pycocotools(coco: dict) -> None:
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        api = COCO()
        api.dataset = coco
        api.createIndex()
        results = api.loadRes([dict(a) for a in coco["annotations"]])
    assert len(results.getAnnIds()) == len(coco["annotations"])
    assert set(api.getImgIds()) == {img["id"] for img in coco["images"]}


def test_explain_directory_in_process(red_classifier, image_dir, tmp_path):
    from nolabel.components.common.store import open_store
    from nolabel.components.lime.step import ExplainParams, run

    root, gt_path = image_dir
    out = tmp_path / "out" / "boxes.coco.json"
    params = ExplainParams(
        images=str(root),
        model=str(red_classifier),
        out=str(out),
        gt=str(gt_path),
        spark=False,
        overlays=2,
        lime=LIME,
    )
    result = run(params)
    assert result.images_total == 7
    assert result.images_explained == 3
    assert result.skipped == {"below_threshold": 2, "undecodable": 1, "empty": 1}
    coco = json.loads(out.read_text())
    _validate_with_pycocotools(coco)
    assert coco["info"]["image_root"] == str(root.resolve())
    assert {img["file_name"] for img in coco["images"]} == set(POSITIVE_BOXES) | {
        "neg-0.jpg",
        "neg-1.jpg",
    }
    assert all(a["category_id"] == 1 and 0 < a["score"] <= 1 for a in coco["annotations"])
    assert result.metrics["mean_iou"] > 0.7 and result.metrics["corloc"] == 1.0
    assert "ap50" in result.metrics
    weights = pd.read_parquet(result.weights_path)
    assert len(weights) == 7 and (weights["status"] == "explained").sum() == 3
    assert [Path(p).suffix for p in result.overlay_paths] == [".png", ".png"]
    store = open_store()
    stored = json.loads(store.get_bytes(store.key_from_uri(result.coco_uri)))
    assert stored == coco and result.coco_uri.endswith(f"lime/{result.run_id}/boxes.coco.json")

    import mlflow

    from nolabel.components.common import tracking

    tracking.configure()
    logged = mlflow.MlflowClient().get_run(result.run_id)
    assert logged.data.metrics["mean_iou"] == pytest.approx(result.metrics["mean_iou"])
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(result.run_id, "lime")}
    assert {"lime/boxes.coco.json", "lime/boxes.weights.parquet", "lime/overlays"} <= artifacts

    again = run(params.model_copy(update={"out": str(tmp_path / "again.coco.json")}))
    assert again.images_reused == 7 and again.images_explained == 3
    assert (
        json.loads((tmp_path / "again.coco.json").read_text())["annotations"] == coco["annotations"]
    )
    lime = params.lime.model_copy(update={"num_samples": 60})
    more = run(params.model_copy(update={"lime": lime, "out": str(tmp_path / "b.json")}))
    assert more.images_reused == 0  # other settings: nothing reused


def test_explain_dataset_positives(red_classifier, tmp_path):
    from nolabel.components.common.datasets import (
        MANIFEST_COLUMNS,
        image_key,
        manifest_key,
        write_parquet,
    )
    from nolabel.components.common.images import encode_jpeg
    from nolabel.components.common.store import open_store
    from nolabel.components.lime.step import ExplainParams, run

    store = open_store()
    rows = []
    for index, label in enumerate(["positive", "positive", "negative"]):
        boxes = [(30, 20, 40, 40)] if label == "positive" else []
        data = encode_jpeg(Image.fromarray(paint_boxes(textured_image(96, 128, index), boxes)))
        sha = f"{index:064x}"
        store.put_bytes(image_key("reds", sha), data)
        rows.append(
            {c: "" for c in MANIFEST_COLUMNS}
            | {
                "sha256": sha,
                "key": image_key("reds", sha),
                "label": label,
                "query": "red square",
                "rank": index,
                "width": 128,
                "height": 96,
            }
        )
    write_parquet(store, manifest_key("reds"), pd.DataFrame(rows))
    result = run(
        ExplainParams(
            dataset="reds",
            model=str(red_classifier),
            spark=False,
            out=str(tmp_path / "reds.coco.json"),
            overlays=0,
            explain_all=True,
            lime=LIME,
        )
    )
    coco = json.loads((tmp_path / "reds.coco.json").read_text())
    assert result.images_total == 2 and result.images_explained == 2  # negatives not listed
    assert coco["info"]["image_root"] == store.uri("datasets/reds/images")
    assert sorted(img["file_name"] for img in coco["images"]) == [f"{0:064x}.jpg", f"{1:064x}.jpg"]
    assert coco["categories"] == [{"id": 1, "name": "red square"}]
    assert store.exists("datasets/reds/lime/boxes.coco.json")
    assert any(k.endswith(".json") for k in store.list("datasets/reds/lime/parts/"))


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nolabel.components.lime", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def test_cli_refuses_dataset_and_images_together(tmp_path):
    done = _cli("explain", "--dataset", "x", "--images", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: give exactly one")
    bad = _cli("run-json", json.dumps({"images": str(tmp_path), "lime": {"fill": "pink"}}))
    assert bad.returncode == 2 and "error: invalid parameters: lime.fill" in bad.stderr
    empty = _cli("run-json", json.dumps({"images": str(tmp_path), "spark": False}))
    assert empty.returncode == 2 and "error: no images under" in empty.stderr


@pytest.mark.slow
def test_cli_spark_end_to_end_and_rerun(red_classifier, image_dir, tmp_path):
    root, gt_path = image_dir
    out = tmp_path / "spark" / "boxes.coco.json"
    args = [
        "explain",
        "--images",
        str(root),
        "--model",
        str(red_classifier),
        "--out",
        str(out),
        "--gt",
        str(gt_path),
        "--num-samples",
        "60",
        "--overlays",
        "1",
        "--fill",
        "black",
        "--merge-distance",
        "0.05",
        "--weight-floor",
        "0.1",
        "--spark-master",
        "local[2]",
        "--partitions",
        "3",
    ]
    done = _cli(*args)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["images_explained"] == 3 and result["images_reused"] == 0
    assert result["skipped"] == {"below_threshold": 2, "undecodable": 1, "empty": 1}
    assert result["metrics"]["corloc"] > 0.6
    _validate_with_pycocotools(json.loads(out.read_text()))
    rerun = _cli(*args[:-4], "--no-spark")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert json.loads(rerun.stdout.strip().splitlines()[-1])["images_reused"] == 7


def test_lime_chooses_among_the_proposals(red_classifier, image_dir, tmp_path, monkeypatch):
    """With a proposer that finds red blobs, each explained image's box is a proposal holding
    LIME's evidence; LIME's own boxes are kept beside it."""
    from nolabel.components.common.settings import get_settings
    from nolabel.components.lime.step import ExplainParams, run
    from tests.proposals.tiny_graphs import install_blob_proposer

    monkeypatch.setenv("NOLABEL_WEIGHTS_DIR", str(tmp_path / "weights"))
    get_settings.cache_clear()
    install_blob_proposer(
        tmp_path / "weights", half=80.0, colour=(0.08, -0.08, -0.08), bias=-6.0
    )  # ±14 px on these 110 px images
    root, gt_path = image_dir
    out = tmp_path / "proposals.coco.json"
    result = run(
        ExplainParams(images=str(root), model=str(red_classifier), out=str(out), gt=str(gt_path),
                      spark=False, overlays=0, lime=LIME)
    )  # fmt: skip
    assert result.images_explained == 3
    assert result.metrics["mean_iou"] > 0.3  # the toy detector's plateaus draw rough boxes
    records = pd.read_parquet(result.weights_path)
    explained = records[records["status"] == "explained"]
    for boxes in explained["boxes"]:
        boxes = json.loads(boxes)
        assert boxes and all(box["source"] == "proposal" for box in boxes)
    # the COCO file says so too: the detector's self-training leaves these boxes alone
    assert {a["source"] for a in json.loads(out.read_text())["annotations"]} == {"proposal"}
    off = run(
        ExplainParams(images=str(root), model=str(red_classifier), out=str(tmp_path / "o.json"),
                      spark=False, overlays=0, lime=LIME, proposals=False)
    )  # fmt: skip
    assert off.images_reused == 0  # another fingerprint: LIME's own boxes again
    assert {a["source"] for a in json.loads((tmp_path / "o.json").read_text())["annotations"]} == {
        "lime"
    }
