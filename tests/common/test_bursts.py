"""Burst grouping (EXIF time, file names, folders) and burst-level probabilities."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nolabel.components.common.bursts import (
    burst_keys,
    burst_probability,
    exif_timestamp,
    name_burst,
)
from nolabel.components.common.errors import InputError


def _jpeg(root: Path, relative: str, stamp: str | None = None, tag: int = 36867) -> str:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (16, 12), (90, 120, 60))
    exif = Image.Exif()
    if stamp is not None:
        if tag == 306:
            exif[306] = stamp
        else:
            exif.get_ifd(0x8769)[tag] = stamp
    image.save(path, exif=exif)
    return relative


def test_exif_timestamp_reads_original_then_falls_back(tmp_path):
    original = _jpeg(tmp_path, "a.jpg", "2024:05:01 22:10:03")
    digitized = _jpeg(tmp_path, "b.jpg", "2024:05:02 01:02:03", tag=36868)
    plain = _jpeg(tmp_path, "c.jpg", "2024:05:03 04:05:06", tag=306)
    assert exif_timestamp(tmp_path / original) == datetime(2024, 5, 1, 22, 10, 3)
    assert exif_timestamp(tmp_path / digitized) == datetime(2024, 5, 2, 1, 2, 3)
    assert exif_timestamp(tmp_path / plain) == datetime(2024, 5, 3, 4, 5, 6)
    assert exif_timestamp(tmp_path / _jpeg(tmp_path, "none.jpg")) is None
    assert exif_timestamp(tmp_path / _jpeg(tmp_path, "bad.jpg", "not a date")) is None
    assert exif_timestamp(tmp_path / "missing.jpg") is None


def test_corrupt_file_has_no_timestamp_and_does_not_break_grouping(tmp_path):
    (tmp_path / "junk.jpg").write_bytes(np.random.default_rng(0).bytes(512))
    (tmp_path / "trunc.jpg").write_bytes(b"\xff\xd8\xff\xe1\x00\x40Exif\x00\x00MM")
    assert exif_timestamp(tmp_path / "junk.jpg") is None
    assert exif_timestamp(tmp_path / "trunc.jpg") is None
    relatives = [_jpeg(tmp_path, "ok.jpg", "2024:05:01 22:10:03"), "junk.jpg", "trunc.jpg"]
    for mode in ("auto", "exif"):
        keys = burst_keys(tmp_path, relatives, mode=mode)
        assert keys == {rel: rel for rel in relatives}


def test_exif_mode_chains_frames_within_gap_per_folder(tmp_path):
    frames = [
        _jpeg(tmp_path, "cam1/x3.jpg", "2024:05:01 22:10:07"),
        _jpeg(tmp_path, "cam1/x1.jpg", "2024:05:01 22:10:03"),
        _jpeg(tmp_path, "cam1/x2.jpg", "2024:05:01 22:10:05"),
        _jpeg(tmp_path, "cam1/later.jpg", "2024:05:01 22:15:07"),  # five minutes on
        _jpeg(tmp_path, "cam2/same_time.jpg", "2024:05:01 22:10:04"),  # other folder
        _jpeg(tmp_path, "cam1/no_time_01.jpg"),
    ]
    keys = burst_keys(tmp_path, frames, mode="exif", gap_seconds=10)
    assert keys["cam1/x1.jpg"] == keys["cam1/x2.jpg"] == keys["cam1/x3.jpg"] == "cam1/x1.jpg"
    assert keys["cam1/later.jpg"] == "cam1/later.jpg"
    assert keys["cam2/same_time.jpg"] == "cam2/same_time.jpg"
    assert keys["cam1/no_time_01.jpg"] == "cam1/no_time_01.jpg"
    assert len(set(keys.values())) == 4
    # a 1 s gap splits frames 2 s apart; frames at the same second share a burst with gap 0
    tight = burst_keys(tmp_path, frames, mode="exif", gap_seconds=1)
    assert len({tight[f] for f in frames[:3]}) == 3
    assert burst_keys(tmp_path, frames, mode="exif", gap_seconds=0)["cam1/x2.jpg"] == "cam1/x2.jpg"


@pytest.mark.parametrize(
    "relative, expected",
    [
        ("SEQ75023_01.jpg", "SEQ75023"),
        ("SEQ75023-12.JPG", "SEQ75023"),
        ("cam2/site-4_ev12-3.jpg", "cam2/site-4_ev12"),
        ("a/b/RCNX0042_7.jpg", "a/b/RCNX0042"),
        ("IMG_0001.JPG", None),
        ("deer.jpg", None),
        ("001.jpg", None),
        ("cam2/IMG_01.jpg", None),  # prefix without a digit
        ("2024-05-01.jpg", None),  # a date
        ("cam/2024_05_01-3.jpg", "cam/2024_05_01"),  # a dated burst
    ],
)
def test_name_burst(relative, expected):
    assert name_burst(relative) == expected


def test_name_folder_and_none_modes_need_no_files(tmp_path):
    relatives = ["c/SEQ1_01.jpg", "c/SEQ1_02.jpg", "c/SEQ2_01.jpg", "d/deer.jpg", "top.jpg"]
    names = burst_keys(tmp_path, relatives, mode="name")
    assert names == {
        "c/SEQ1_01.jpg": "c/SEQ1",
        "c/SEQ1_02.jpg": "c/SEQ1",
        "c/SEQ2_01.jpg": "c/SEQ2",
        "d/deer.jpg": "d/deer.jpg",
        "top.jpg": "top.jpg",
    }
    folders = burst_keys(tmp_path, relatives, mode="folder")
    assert [folders[r] for r in relatives] == ["c", "c", "c", "d", "."]
    assert burst_keys(tmp_path, relatives, mode="none") == {r: r for r in relatives}


def test_auto_uses_exif_time_then_names(tmp_path):
    frames = [
        _jpeg(tmp_path, "s/IMG_0001.JPG", "2024:05:01 22:10:03"),
        _jpeg(tmp_path, "s/IMG_0002.JPG", "2024:05:01 22:10:05"),
        _jpeg(tmp_path, "s/SEQ9_01.jpg"),
        _jpeg(tmp_path, "s/SEQ9_02.jpg"),
        _jpeg(tmp_path, "s/deer.jpg"),
    ]
    keys = burst_keys(tmp_path, frames)  # auto is the default
    assert keys["s/IMG_0001.JPG"] == keys["s/IMG_0002.JPG"] == "s/IMG_0001.JPG"
    assert keys["s/SEQ9_01.jpg"] == keys["s/SEQ9_02.jpg"] == "s/SEQ9"
    assert keys["s/deer.jpg"] == "s/deer.jpg"
    assert len(set(keys.values())) == 3
    # exif mode leaves the frames without a time alone
    exif = burst_keys(tmp_path, frames, mode="exif")
    assert exif["s/SEQ9_01.jpg"] == "s/SEQ9_01.jpg" and exif["s/SEQ9_02.jpg"] == "s/SEQ9_02.jpg"


def test_bad_mode_or_gap_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="mode"):
        burst_keys(tmp_path, ["a.jpg"], mode="time")
    with pytest.raises(InputError, match="gap"):
        burst_keys(tmp_path, ["a.jpg"], gap_seconds=-1)
    with pytest.raises(InputError, match="gap"):
        burst_keys(tmp_path, ["a.jpg"], gap_seconds=float("nan"))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_burst_probability_methods():
    probs = [0.9, 0.5, 0.2, 0.1, 0.7]
    keys = ["a", "a", "a", "a", "b"]
    # mean of logits: logit(0.9) + logit(0.5) + logit(0.2) + logit(0.1) = ln 9 + 0 - ln 4 - ln 9
    mean = burst_probability(probs, keys, "mean")
    expected = _sigmoid(-math.log(4) / 4)
    np.testing.assert_allclose(mean, [expected] * 4 + [0.7])
    np.testing.assert_allclose(burst_probability(probs, keys, "max"), [0.9] * 4 + [0.7])
    # top half of four frames: 0.9 and 0.5
    np.testing.assert_allclose(burst_probability(probs, keys, "top"), [0.7] * 4 + [0.7])
    # three frames: the top one; one frame: itself
    np.testing.assert_allclose(burst_probability([0.2, 0.8, 0.4], ["k"] * 3, "top"), [0.8] * 3)
    np.testing.assert_allclose(burst_probability(probs, keys, "mean").sum(), 4 * expected + 0.7)


def test_burst_probability_singletons_clipping_and_errors():
    probs = [0.0, 0.3, 1.0]
    for method in ("mean", "max", "top"):
        out = burst_probability(probs, ["a", "b", "c"], method)
        np.testing.assert_array_equal(out, probs)
    extreme = burst_probability([0.0, 1.0], ["k", "k"], "mean")
    np.testing.assert_allclose(extreme, [0.5, 0.5])
    assert burst_probability([], [], "mean").shape == (0,)
    with pytest.raises(InputError, match="method"):
        burst_probability([0.5], ["a"], "median")
    with pytest.raises(InputError, match="keys"):
        burst_probability([0.5, 0.6], ["a"])
