"""`nolabel score` when the card changes after the scan: a frame swapped for a FIFO or for a
link out of the folder, a folder swapped for a link, a deleted frame. Each is a failure with a
reason, nothing outside the folder is read, and the run goes on (a FIFO must never hang it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.detect.shapes import make_image
from tests.detect.test_score import classifier_dir  # noqa: F401  (fixture)

BURST = [f"SEQ1_{index:02d}.jpg" for index in range(1, 7)]  # one burst by name: change runs


@pytest.fixture
def card(tmp_path: Path) -> Path:
    """A six-frame burst, a frame in a folder, a folder to swap, an in-folder link, and an
    image outside the folder."""
    rng = np.random.default_rng(4)
    root = tmp_path / "card"
    for folder in (root / "sub", root / "moved", tmp_path / "outside"):
        folder.mkdir(parents=True)
    for name in [*BURST, "sub/keep.jpg", "moved/away.jpg", "../outside/away.jpg"]:
        make_image(rng, 64)[0].save(root / name, quality=95)
    make_image(rng, 64)[0].save(tmp_path / "outside" / "secret.jpg")
    (root / "inside.jpg").symlink_to(root / BURST[0])
    return root


def _swap(root: Path) -> None:
    """After the scan: a FIFO, a link out of the folder, a deleted frame, a linked folder."""
    outside = root.parent / "outside"
    (root / BURST[1]).unlink()
    os.mkfifo(root / BURST[1])
    (root / BURST[2]).unlink()
    (root / BURST[2]).symlink_to(outside / "secret.jpg")
    (root / BURST[3]).unlink()
    (root / "moved").rename(root.parent / "moved-away")
    (root / "moved").symlink_to(outside)


@pytest.mark.timeout(120)
def test_frames_swapped_after_the_scan_are_failures_and_never_read(
    card,
    classifier_dir,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    from nolabel.components.detect import frame_source, score

    real_scan = frame_source.scan_folder

    def scan_then_swap(root: Path):
        scan = real_scan(root)
        _swap(root)
        return scan

    monkeypatch.setattr(frame_source, "scan_folder", scan_then_swap)
    out = tmp_path / "r.json"
    params = score.ScoreParams(
        images=str(card), out=str(out), classifier=str(classifier_dir), use_detector=False,
        proposals=False,
    )  # fmt: skip
    result = score.run_score(params)
    results = json.loads(out.read_text())
    scored = {r["path"] for r in results["images"]}
    assert scored == {BURST[0], BURST[4], BURST[5], "sub/keep.jpg", "inside.jpg"}
    reasons = {f["path"]: f["reason"] for f in results["failures"]}
    assert reasons == {
        BURST[1]: "not_a_file",
        BURST[2]: "link_outside_folder",
        BURST[3]: "unreadable",
        "moved/away.jpg": "linked_folder",
    }
    assert all(f["message"] for f in results["failures"])
    assert result.scored == 5 and result.failed == 4


@pytest.mark.timeout(30)
def test_burst_change_and_exif_never_open_a_fifo_or_follow_a_link(tmp_path):
    from nolabel.components.common.bursts import exif_timestamp
    from nolabel.components.common.change import _load_grey

    frame = tmp_path / "frame.jpg"
    make_image(np.random.default_rng(1), 64)[0].save(frame, exif=_exif_with_time())
    os.mkfifo(tmp_path / "pipe.jpg")
    (tmp_path / "link.jpg").symlink_to(frame)
    assert _load_grey(frame, 4) is not None and exif_timestamp(frame) is not None
    for name in ("pipe.jpg", "link.jpg", "gone.jpg"):
        assert _load_grey(tmp_path / name, 4) is None
        assert exif_timestamp(tmp_path / name) is None


def _exif_with_time():
    from PIL import Image

    exif = Image.Exif()
    exif[306] = "2024:05:01 22:10:03"  # DateTime
    return exif


@pytest.mark.timeout(120)
def test_a_card_named_by_a_relative_path_is_scored(
    card,
    classifier_dir,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    from nolabel.components.detect import score

    monkeypatch.chdir(tmp_path)
    params = score.ScoreParams(
        images="card", out="r.json", classifier=str(classifier_dir), use_detector=False,
        proposals=False,
    )  # fmt: skip
    result = score.run_score(params)
    results = json.loads((tmp_path / "r.json").read_text())
    assert {f["path"] for f in results["failures"]} == set()
    assert len(results["images"]) == result.scored == 9
