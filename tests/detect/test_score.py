"""`nolabel score` on a folder: probabilities, boxes, unreadable files, resuming."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.detect.shapes import make_image

pytestmark = pytest.mark.slow


@pytest.fixture
def classifier_dir(tmp_path):
    """A quick pixels classifier: bright shape (positive) vs plain noise (negative)."""
    from nolabel.components.transfer.quick import train_classifier_from_arrays

    rng = np.random.default_rng(5)
    positives = [np.asarray(make_image(rng, 64)[0]) for _ in range(12)]
    negatives = [rng.integers(0, 60, size=(64, 64, 3), dtype=np.uint8) for _ in range(12)]
    target = tmp_path / "classifier"
    train_classifier_from_arrays(
        positives + negatives,
        [1] * 12 + [0] * 12,
        backbone="pixels",
        input_size=32,
        register=False,
        model_dir=target,
    )
    return target


@pytest.fixture
def sd_card(tmp_path):
    """A camera card: images in nested folders, a corrupt JPEG, a text file, a fake .jpg."""
    rng = np.random.default_rng(9)
    root = tmp_path / "DCIM"
    for index in range(5):
        folder = root / ("100CAM" if index < 3 else "101CAM/night")
        folder.mkdir(parents=True, exist_ok=True)
        make_image(rng, 64)[0].save(folder / f"IMG_{index:04d}.JPG", quality=95)
    Image.fromarray(rng.integers(0, 60, (48, 80, 3), dtype=np.uint8)).save(root / "empty.png")
    good = (root / "100CAM" / "IMG_0000.JPG").read_bytes()
    (root / "100CAM" / "IMG_0099.JPG").write_bytes(good[: len(good) // 3])  # cut short
    (root / "notes.txt").write_text("battery low\n")
    (root / "101CAM" / "fake.jpg").write_text("not really a jpeg")
    return root


def _score(args):
    from typer.testing import CliRunner

    from nolabel.components.cli import build_app

    result = CliRunner().invoke(build_app(), ["score", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_score_folder_with_bad_files_and_resume(
    trained_detector, detector_home, classifier_dir, sd_card, tmp_path
):
    out = tmp_path / "results.json"
    args = [
        "--images",
        str(sd_card),
        "--out",
        str(out),
        "--classifier",
        str(classifier_dir),
        "--batch-size",
        "2",
        "--min-score",
        "0.3",
        "--boxes-on-empty",  # every detector box, whatever the classifier says
    ]
    first = _score(args)
    assert first["files"] == 9 and first["scored"] == 6 and first["failed"] == 3
    assert first["resumed"] == 0 and first["detector"] == "nolabel-detector:1"
    results = json.loads(out.read_text())
    assert results["format_version"] == "nolabel-results-1.0"  # the results file's contract
    failures = {f["path"]: f["reason"] for f in results["failures"]}
    assert failures == {
        "100CAM/IMG_0099.JPG": "undecodable",
        "notes.txt": "not_an_image",
        "101CAM/fake.jpg": "not_an_image",
    }
    by_path = {r["path"]: r for r in results["images"]}
    assert set(by_path) == {
        "100CAM/IMG_0000.JPG",
        "100CAM/IMG_0001.JPG",
        "100CAM/IMG_0002.JPG",
        "101CAM/night/IMG_0003.JPG",
        "101CAM/night/IMG_0004.JPG",
        "empty.png",
    }
    threshold = json.loads((classifier_dir / "classifier.json").read_text())["threshold"]
    for path, record in by_path.items():
        assert 0.0 <= record["probability"] <= 1.0
        assert record["positive"] == (record["probability"] >= threshold)
        assert record["verdict"] == ("animal" if record["animal_score"] >= 0.9 else
                                     "candidate" if record["positive"] or
                                     record["animal_score"] >= 0.5 else "empty")  # fmt: skip
        assert record["burst"] == path and record["burst_size"] == 1  # no burst names here
        assert all(len(b["bbox"]) == 4 and b["score"] >= 0.3 for b in record["boxes"])
        if path != "empty.png":  # every shape is found, inside its 64x64 image
            assert record["boxes"], record
            x0, y0, x1, y1 = record["boxes"][0]["bbox"]
            assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64
    shapes = [r["probability"] for p, r in by_path.items() if p != "empty.png"]
    assert np.mean(shapes) > by_path["empty.png"]["probability"]
    assert first["positives"] == sum(r["positive"] for r in by_path.values())

    again = _score(args)  # everything already done: nothing is recomputed
    assert again["scored"] == 0 and again["resumed"] == 6 and again["failed"] == 3
    assert json.loads(out.read_text())["images"] == results["images"]

    partial = out.with_name(out.name + ".partial.jsonl")
    lines = partial.read_text().splitlines()
    partial.write_text("\n".join(lines[:4]) + "\n" + lines[4][:10])  # interrupted mid-line
    out.unlink()
    resumed = _score(args)
    done_before = sum(1 for line in lines[:4] if "error" not in json.loads(line))
    assert resumed["scored"] == 6 - done_before and resumed["resumed"] == done_before
    assert json.loads(out.read_text())["images"] == results["images"]

    # The default policy, from the same partial results: boxes on animal frames only.
    gated = _score(args[:-1])
    assert gated["scored"] == 0 and gated["resumed"] == 6
    for record in json.loads(out.read_text())["images"]:
        before = by_path[record["path"]]
        assert record["verdict"] == before["verdict"]
        assert record["boxes"] == (before["boxes"] if record["verdict"] == "animal" else [])
    assert gated["suppressed_boxes"] == sum(
        len(r["boxes"]) for r in by_path.values() if r["verdict"] != "animal"
    )


def test_score_rejects_a_missing_folder(tmp_path, classifier_dir):
    from nolabel.components.common.errors import InputError
    from nolabel.components.detect.score import ScoreParams, run_score

    with pytest.raises(InputError, match="is not a directory"):
        run_score(
            ScoreParams(
                images=str(tmp_path / "nope"),
                out=str(tmp_path / "r.json"),
                classifier=str(classifier_dir),
                use_detector=False,
            )
        )


def test_score_with_classifier_only(tmp_path, classifier_dir, sd_card):
    from nolabel.components.detect.score import ScoreParams, run_score

    result = run_score(
        ScoreParams(
            images=str(sd_card),
            out=str(tmp_path / "r.json"),
            classifier=str(classifier_dir),
            use_detector=False,
            proposals=False,
        )
    )
    assert result.scored == 6 and result.detector is None and result.proposer is None
    records = json.loads((tmp_path / "r.json").read_text())["images"]
    assert all("boxes" not in r and "probability" in r for r in records)


def test_large_frames_decode_reduced_with_boxes_in_full_pixels(
    trained_detector, detector_home, classifier_dir, tmp_path
):
    """A 1024 px JPEG is decoded at 1/8 scale for 64 px models; its boxes and size are still
    reported in full pixels and agree with the fully decoded PNG of the same frame."""
    from nolabel.components.detect.score import ScoreParams, run_score

    image, (x, y, w, h) = make_image(np.random.default_rng(21), 64)
    large = image.resize((1024, 1024), Image.Resampling.NEAREST)
    root = tmp_path / "frames"
    root.mkdir()
    large.save(root / "frame.jpg", quality=95)
    large.save(root / "frame.png")
    run_score(
        ScoreParams(
            images=str(root), out=str(tmp_path / "r.json"), classifier=str(classifier_dir),
            boxes_on_empty=True,
        )
    )  # fmt: skip
    records = {r["path"]: r for r in json.loads((tmp_path / "r.json").read_text())["images"]}
    jpeg, png = records["frame.jpg"], records["frame.png"]
    assert (jpeg["width"], jpeg["height"]) == (png["width"], png["height"]) == (1024, 1024)
    assert jpeg["boxes"] and png["boxes"]
    np.testing.assert_allclose(jpeg["boxes"][0]["bbox"], png["boxes"][0]["bbox"], atol=48)
    truth = np.array([x, y, x + w, y + h]) * 16
    np.testing.assert_allclose(jpeg["boxes"][0]["bbox"], truth, atol=160)


def test_score_writes_megadetector_csv_and_crops(
    trained_detector, detector_home, classifier_dir, sd_card, tmp_path
):
    from nolabel.components.results.megadetector import format_errors

    out = tmp_path / "card.json"
    crops = tmp_path / "crops"
    args = ["--images", str(sd_card), "--out", str(out), "--classifier", str(classifier_dir)]
    summary = _score([*args, "--label", "leopard", "--crops", str(crops), "--boxes-on-empty"])
    exports = summary["exports"]
    assert exports["megadetector"] == str(tmp_path / "card.megadetector.json")
    doc = json.loads((tmp_path / "card.megadetector.json").read_text())
    assert format_errors(doc) == []
    assert doc["classification_categories"] == {"1": "leopard"}
    files = {image["file"]: image for image in doc["images"]}
    assert len(files) == summary["files"]  # scored frames and failures alike
    assert files["notes.txt"]["detections"] is None and files["notes.txt"]["failure"]
    results = json.loads(out.read_text())
    boxes = sum(len(r["boxes"]) for r in results["images"])
    assert sum(len(files[r["path"]]["detections"]) for r in results["images"]) == boxes
    frames = (tmp_path / "card.frames.csv").read_text().splitlines()
    assert len(frames) == 1 + summary["files"]
    assert (tmp_path / "card.bursts.csv").read_text().startswith("burst,frames,")
    assert summary["crops"] == boxes > 0
    assert len(list(crops.rglob("*.jpg"))) == boxes
