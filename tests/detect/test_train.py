"""Training through mmengine's Runner, checkpoints, prediction format, learning, registry."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from nolabel.components.common.errors import InputError
from tests.detect.shapes import make_dataset

pytestmark = pytest.mark.slow


def _arrays(images_dir, count):
    paths = sorted(images_dir.glob("*.jpg"))[:count]
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


def test_one_training_iteration(tmp_path):
    import torch

    from nolabel.components.common.coco import save_coco
    from nolabel.components.detect import engine
    from nolabel.components.detect.config import apply_options, load_config, set_data
    from nolabel.components.detect.data import prepare, split_by_image

    path, _ = make_dataset(tmp_path / "data", 5, size=48)
    coco, _ = prepare(str(path), tmp_path)
    train, val = split_by_image(coco, 0.2, seed=0)
    cfg = load_config()
    apply_options(cfg, image_size=48, epochs=1, batch_size=4, train_images=len(train["images"]))
    for split, part in (("train", train), ("val", val), ("test", val)):
        set_data(cfg, split, str(save_coco(part, tmp_path / f"{split}.json")))
    runner, metrics, checkpoint = engine.train(cfg, tmp_path / "work")
    assert runner.iter == 1 and runner.epoch == 1
    loss = runner.message_hub.get_scalar("train/loss").current()
    assert np.isfinite(loss) and loss > 0
    assert set(metrics) >= {"val_map", "val_ap50"}
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert saved["meta"]["dataset_meta"]["classes"] == ["object"]
    keys = saved["state_dict"].keys()
    assert any(k.startswith("backbone.net._blocks.") for k in keys)
    assert any(k.startswith("roi_head.bbox_head.fc_cls") for k in keys)
    # frozen stem keeps its ImageNet weights; the trained heads moved
    from nolabel.components.detect.backbone import packaged_weights_path

    imagenet = torch.load(packaged_weights_path("efficientnet-lite0"), weights_only=True)
    assert torch.equal(
        saved["state_dict"]["backbone.net._conv_stem.weight"], imagenet["_conv_stem.weight"]
    )


def test_detector_learns_shapes_and_is_registered(trained_detector, detector_home):
    from nolabel.components.common import tracking
    from nolabel.components.common.store import open_store

    result = trained_detector.result
    metrics = result.metrics
    # a random box scores AP50 near 0 on these images; the detector must find the shape
    assert metrics["val_ap50"] > 0.6, metrics
    assert metrics["gt_ap50"] > 0.6, metrics
    assert metrics["gt_mean_iou"] > 0.5 and metrics["gt_corloc"] > 0.6, metrics
    # one self-training round (the default) re-boxed its training images with its own boxes
    assert metrics["refine_1_reboxed_images"] > 0, metrics
    assert result.model_version == "1" and result.model_uri == "models:/nolabel-detector/1"
    assert tracking.alias_version("nolabel-detector", "candidate") == "1"
    store = open_store()
    assert store.exists(store.key_from_uri(result.checkpoint_uri))
    assert "custom_imports" in store.get_bytes(store.key_from_uri(result.config_uri)).decode()
    import mlflow

    tracking.configure()
    run = mlflow.get_run(result.run_id)
    assert run.data.metrics["gt_ap50"] == pytest.approx(metrics["gt_ap50"])
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(result.run_id, "overlays")}
    assert "overlays/overlays.png" in artifacts


def test_prediction_format_and_original_pixels(trained_detector, detector_home):
    from nolabel.components.detect.predictor import load_detector

    detector = load_detector()  # registry: nolabel-detector@candidate
    assert detector.name == "nolabel-detector" and detector.version == "1"
    image = _arrays(trained_detector.gt_images, 1)[0]
    big = np.asarray(Image.fromarray(image).resize((128, 128), Image.BILINEAR))
    wide = np.zeros((40, 150, 3), np.uint8)
    outputs = detector.predict([image, big, wide])
    assert len(outputs) == 3
    for output, array in zip(outputs, [image, big, wide], strict=True):
        assert output["boxes"].dtype == np.float32 and output["boxes"].shape[1] == 4
        assert output["scores"].shape == (len(output["boxes"]),)
        assert np.all(np.diff(output["scores"]) <= 0)
        height, width = array.shape[:2]
        assert np.all(output["boxes"][:, [0, 2]] <= width)
        assert np.all(output["boxes"][:, [1, 3]] <= height)
    small_top, big_top = outputs[0]["boxes"][0], outputs[1]["boxes"][0]
    np.testing.assert_allclose(big_top, small_top * 2, atol=8)  # same shape, twice the pixels
    assert detector.predict([]) == []
    from concurrent.futures import ThreadPoolExecutor

    serial = [detector.predict([a])[0] for a in (image, big)]
    with ThreadPoolExecutor(4) as pool:  # concurrent callers get the same answers
        parallel = list(pool.map(lambda a: detector.predict([a])[0], [image, big] * 3))
    for output, reference in zip(parallel, serial * 3, strict=True):
        np.testing.assert_allclose(output["boxes"], reference["boxes"], atol=1e-3)
    with pytest.raises(InputError, match="HxWx3 uint8"):
        detector.predict([np.zeros((10, 10), np.uint8)])


def test_boxes_do_not_depend_on_the_batch_and_elongated_images_score(
    trained_detector, detector_home
):
    from nolabel.components.detect.predictor import load_detector

    detector = load_detector()
    image = _arrays(trained_detector.gt_images, 1)[0]
    tall = np.asarray(Image.fromarray(image).resize((48, 150), Image.BILINEAR))
    wide = np.asarray(Image.fromarray(image).resize((200, 64), Image.BILINEAR))
    alone = [detector.predict([a])[0] for a in (image, tall, wide)]
    mixed = detector.predict([wide, image, tall, image])
    for output, reference in zip(mixed, [alone[2], alone[0], alone[1], alone[0]], strict=True):
        np.testing.assert_array_equal(output["boxes"], reference["boxes"])
        np.testing.assert_array_equal(output["scores"], reference["scores"])
    for shape in ((1, 10000), (10000, 1), (2, 3000)):  # short side 0 px after a plain resize
        (output,) = detector.predict([np.full((*shape, 3), 90, np.uint8)])
        height, width = shape
        assert np.all(output["boxes"][:, [0, 2]] <= width)
        assert np.all(output["boxes"][:, [1, 3]] <= height)
        assert np.all(output["boxes"][:, 2] > output["boxes"][:, 0])


def test_checkpoint_round_trip(trained_detector, detector_home, tmp_path):
    import torch

    from nolabel.components.detect.engine import save_weights
    from nolabel.components.detect.predictor import Detector, find_model_files, load_detector

    original = load_detector("models:/nolabel-detector/1")
    from nolabel.components.common import tracking

    config, _ = find_model_files(tracking.download_model("models:/nolabel-detector/1"))
    model_dir = tmp_path / "copy"
    model_dir.mkdir()
    shutil.copy(config, model_dir / "config.py")
    save_weights(original.model, model_dir / "model.pth")
    copy = load_detector(str(model_dir))
    assert isinstance(copy, Detector)
    for key, value in original.model.state_dict().items():
        assert torch.equal(value, copy.model.state_dict()[key]), key
    images = _arrays(trained_detector.gt_images, 3)
    for a, b in zip(original.predict(images), copy.predict(images), strict=True):
        np.testing.assert_allclose(a["boxes"], b["boxes"], atol=1e-4)
        np.testing.assert_allclose(a["scores"], b["scores"], atol=1e-5)


def test_pyfunc_predicts_boxes_from_bytes(trained_detector, detector_home):
    import mlflow.pyfunc
    import pandas as pd

    from nolabel.components.common import tracking

    tracking.configure()
    model = mlflow.pyfunc.load_model("models:/nolabel-detector@candidate")
    path = sorted(trained_detector.gt_images.glob("*.jpg"))[0]
    frame = model.predict(pd.DataFrame({"image": [path.read_bytes(), str(path)]}))
    assert list(frame.columns) == ["boxes", "scores"]
    assert frame["boxes"][0] == frame["boxes"][1] and len(frame["boxes"][0]) >= 1
    assert len(frame["boxes"][0][0]) == 4 and 0 < frame["scores"][0][0] <= 1


def test_eval_cli_matches_training_metrics(trained_detector, detector_home):
    from typer.testing import CliRunner

    from nolabel.components.cli import build_app

    result = CliRunner().invoke(
        build_app(),
        [
            "detect",
            "eval",
            "--model",
            "models:/nolabel-detector/1",
            "--gt",
            str(trained_detector.gt_path),
            "--images",
            str(trained_detector.gt_images),
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    trained = trained_detector.result.metrics
    assert payload["images"] == 16
    assert payload["metrics"]["gt_ap50"] == pytest.approx(trained["gt_ap50"], abs=1e-6)
    assert payload["metrics"]["gt_mean_iou"] == pytest.approx(trained["gt_mean_iou"], abs=1e-6)


def test_entrypoint_reports_bad_input_in_one_line(tmp_path):
    import subprocess
    import sys

    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"images": [], "annotations": []}))
    done = subprocess.run(
        [sys.executable, "-m", "nolabel.components.detect", "train", "--boxes", str(empty)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: boxes")
    assert "has no images" in done.stderr and done.stdout == ""
