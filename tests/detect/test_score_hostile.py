"""`nolabel score` on hostile folders: links out of the folder, FIFOs, unreadable folders,
extreme aspect ratios and images the models fail on are reported, and the run goes on."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from nolabel.components.detect.scan import scan_folder
from tests.detect.shapes import make_image
from tests.detect.test_score import classifier_dir  # noqa: F401  (fixture)


@pytest.fixture
def hostile_card(tmp_path):
    """Two good frames, a very elongated one, links in and out, a FIFO and hidden files."""
    rng = np.random.default_rng(3)
    root = tmp_path / "card"
    (root / "100CAM").mkdir(parents=True)
    for index in range(2):
        make_image(rng, 64)[0].save(root / "100CAM" / f"IMG_{index:04d}.JPG", quality=95)
    Image.new("RGB", (10000, 1), (90, 90, 90)).save(root / "100CAM" / "strip.jpg")
    outside = tmp_path / "secret"
    outside.mkdir()
    make_image(rng, 64)[0].save(outside / "private.jpg")
    (root / "out.jpg").symlink_to(outside / "private.jpg")
    (root / "outdir").symlink_to(outside)
    (root / "inside.jpg").symlink_to(root / "100CAM" / "IMG_0000.JPG")
    (root / "broken.jpg").symlink_to(tmp_path / "gone.jpg")
    os.mkfifo(root / "pipe.jpg")
    (root / ".hidden.jpg").write_bytes(b"x")
    return root


def test_scan_skips_and_reports_links_out_fifos_and_unreadable_folders(hostile_card, monkeypatch):
    (hostile_card / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    scan = scan_folder(hostile_card)
    files = [p.relative_to(hostile_card).as_posix() for p in scan.files]
    assert files == ["100CAM/IMG_0000.JPG", "100CAM/IMG_0001.JPG", "100CAM/strip.jpg", "inside.jpg"]
    assert {s.path: s.reason for s in scan.skipped} == {
        "broken.jpg": "broken_link",
        "locked": "unreadable_folder",
        "out.jpg": "link_outside_folder",
        "outdir": "link_outside_folder",
        "pipe.jpg": "not_a_file",
    }
    assert all(s.message for s in scan.skipped)


@pytest.mark.slow
def test_score_lists_skipped_entries_and_scores_an_elongated_frame(
    trained_detector,
    detector_home,
    classifier_dir,  # noqa: F811
    hostile_card,
    tmp_path,
):
    from nolabel.components.detect.score import ScoreParams, run_score

    out = tmp_path / "r.json"
    params = ScoreParams(
        images=str(hostile_card), out=str(out), classifier=str(classifier_dir), batch_size=4
    )
    result = run_score(params)
    results = json.loads(out.read_text())
    scored = {r["path"] for r in results["images"]}
    assert scored == {
        "100CAM/IMG_0000.JPG",
        "100CAM/IMG_0001.JPG",
        "100CAM/strip.jpg",
        "inside.jpg",
    }
    reasons = {f["path"]: f["reason"] for f in results["failures"]}
    assert reasons == {
        "broken.jpg": "broken_link",
        "out.jpg": "link_outside_folder",
        "outdir": "link_outside_folder",
        "pipe.jpg": "not_a_file",
    }
    assert result.scored == 4 and result.failed == 4
    strip = next(r for r in results["images"] if r["path"] == "100CAM/strip.jpg")
    assert (strip["width"], strip["height"]) == (10000, 1)


def test_a_model_failure_on_one_image_is_recorded_and_the_batch_goes_on():
    from nolabel.components.detect.evidence import FrameModels
    from nolabel.components.detect.score import _score_safely
    from nolabel.components.detect.score_frames import Decoded

    class Picky:
        """A detector that fails on any image wider than 100 px."""

        def predict(self, arrays):
            if any(a.shape[1] > 100 for a in arrays):
                raise RuntimeError("inv_scale_x > 0\nmore lines")
            return [{"boxes": np.zeros((0, 4)), "scores": np.zeros(0)} for _ in arrays]

    batch = [
        (name, Decoded(np.zeros((8, width, 3), np.uint8), (width, 8)), None)
        for name, width in (("a", 10), ("wide", 500), ("b", 20))
    ]
    records = _score_safely(batch, FrameModels(detector=Picky()), 0.3)
    assert [r["path"] for r in records] == ["a", "wide", "b"]
    assert "error" not in records[0] and "error" not in records[2]
    assert records[1]["error"] == "model_error"
    assert records[1]["message"].endswith("RuntimeError: inv_scale_x > 0")


@pytest.mark.slow
def test_score_records_do_not_depend_on_the_batch_size(
    trained_detector,
    detector_home,
    classifier_dir,  # noqa: F811
    tmp_path,
):
    from nolabel.components.detect.score import ScoreParams, run_score

    rng = np.random.default_rng(8)
    root = tmp_path / "mixed"
    root.mkdir()
    for index, size in enumerate([(64, 64), (150, 48), (200, 64), (48, 120), (96, 96)]):
        make_image(rng, 64)[0].resize(size).save(root / f"f{index}.jpg", quality=95)
    images = {}
    for batch_size in (1, 16):
        out = tmp_path / f"b{batch_size}.json"
        params = ScoreParams(
            images=str(root), out=str(out), classifier=str(classifier_dir),
            batch_size=batch_size, boxes_on_empty=True, min_score=0.05,
        )  # fmt: skip
        run_score(params)
        images[batch_size] = json.loads(out.read_text())["images"]
    assert any(record["boxes"] for record in images[1])
    assert images[1] == images[16]


def _classifier_args(card, out, classifier):
    return [
        "score", "--images", str(card), "--out", str(out), "--classifier", str(classifier),
        "--no-detect", "--no-proposals",
    ]  # fmt: skip


def _run_cli(argv: list[str]) -> int:
    from nolabel.components.cli import build_app
    from nolabel.components.common.cli import run_app

    with pytest.raises(SystemExit) as stopped:
        run_app(build_app(), argv)
    return stopped.value.code


def test_a_bad_partial_log_line_is_one_error_and_nothing_is_overwritten(
    classifier_dir,  # noqa: F811
    tmp_path,
    capsys,
):
    rng = np.random.default_rng(6)
    card = tmp_path / "card"
    card.mkdir()
    for index in range(3):
        make_image(rng, 64)[0].save(card / f"IMG_{index:04d}.JPG", quality=95)
    out = tmp_path / "r.json"
    args = _classifier_args(card, out, classifier_dir)
    assert _run_cli(args) == 0
    partial = out.with_name(out.name + ".partial.jsonl")
    lines = partial.read_bytes().splitlines(keepends=True)
    record = json.loads(lines[0])
    failure = {"path": "x.jpg", "error": "unreadable", "models": record["models"]}
    bad_lines = {
        b"[]": "line is not a JSON object",
        b"123": "line is not a JSON object",
        b"\xff\xfe{}": "line is not UTF-8",
        json.dumps({**record, "path": 5}).encode(): "path 5 is not a file name",
        json.dumps({**record, "width": "abc"}).encode(): "width is not a positive whole",
        json.dumps({k: v for k, v in record.items() if k != "width"}).encode(): "width is not",
        json.dumps(failure).encode(): "message is missing",
        json.dumps({**record, "change_boxes": [{"bbox": [1, 2], "score": 0.5}]}).encode(): (
            "change_boxes[0].bbox is not a list of 4 numbers"
        ),
    }
    before = out.read_bytes()
    capsys.readouterr()
    for bad, expected in bad_lines.items():
        log = b"".join([lines[0], bad + b"\n", *lines[1:]])
        partial.write_bytes(log)
        assert _run_cli(args) == 2, bad
        errors = capsys.readouterr().err.strip().splitlines()
        assert len(errors) == 1 and errors[0].startswith("error: "), errors
        assert f"{partial}, line 2: {expected}" in errors[0]
        assert out.read_bytes() == before and partial.read_bytes() == log
    partial.write_bytes(b"".join(lines) + lines[0][:25])  # a last line cut mid-write
    assert _run_cli(args) == 0
    assert partial.read_bytes() == b"".join(lines)


def test_a_failing_export_leaves_the_previous_results_file(
    classifier_dir,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    from nolabel.components.detect import score

    card = tmp_path / "card"
    card.mkdir()
    make_image(np.random.default_rng(7), 64)[0].save(card / "IMG_0001.JPG", quality=95)
    out = tmp_path / "r.json"
    params = {"images": str(card), "out": str(out), "classifier": str(classifier_dir)}
    params.update(use_detector=False, proposals=False)
    score.run_score(score.ScoreParams(**params))
    before = out.read_bytes()

    def broken_exports(results):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(score, "write_exports", broken_exports)
    with pytest.raises(OSError, match="No space"):
        score.run_score(score.ScoreParams(**params, label="zebra"))
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


@pytest.mark.timeout(300)
def test_score_lists_frames_with_undecodable_and_newline_names(
    classifier_dir,  # noqa: F811
    tmp_path,
):
    import subprocess
    import sys

    rng = np.random.default_rng(11)
    card = tmp_path / "card"
    card.mkdir()
    names = [b"bad\xffbyte.jpg", b"new\nline.jpg", b"plain.jpg"]
    for name in [*names, b"IMG_0001.THM"]:  # a camera's thumbnail: a JPEG, no image name
        make_image(rng, 64)[0].save(os.path.join(os.fsencode(card), name), format="JPEG")
    out = tmp_path / "r.json"
    command = [sys.executable, "-m", "nolabel.components.cli"]
    command += _classifier_args(card, out, classifier_dir)
    done = subprocess.run(command, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    scored = {r["path"] for r in json.loads(out.read_text())["images"]}
    assert scored == {os.fsdecode(name) for name in names}
    failures = json.loads(out.read_text())["failures"]
    assert [(f["path"], f["reason"]) for f in failures] == [("IMG_0001.THM", "not_an_image_name")]
    megadetector = json.loads((tmp_path / "r.megadetector.json").read_text())
    assert {image["file"] for image in megadetector["images"]} == scored | {"IMG_0001.THM"}
    assert (tmp_path / "r.frames.csv").exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]
