"""CSV tables, `nolabel sort` folders and crops from score results."""

from __future__ import annotations

import csv
import json
import os

import pytest
from PIL import Image
from typer.testing import CliRunner

from nolabel.components.cli import build_app
from nolabel.components.results.tables import FRAME_COLUMNS


def _invoke(*args):
    result = CliRunner().invoke(build_app(), list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        result.output_text = f"{type(result.exception).__name__}: {result.exception}"
    else:
        result.output_text = result.output
    return result, (
        json.loads(result.stdout.strip().splitlines()[-1]) if result.exit_code == 0 else None
    )


def _rows(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_export_writes_frame_and_burst_tables_and_crops(scored, tmp_path):
    result, out = _invoke(
        "export", "--results", str(scored.results), "--crops", str(tmp_path / "c")
    )
    assert result.exit_code == 0, result.output_text
    frames = {r["file"]: r for r in _rows(tmp_path / "out" / "results.frames.csv")}
    assert len(frames) == 7
    assert tuple(frames["cam1/SEQ1_01.jpg"]) == FRAME_COLUMNS
    first = frames["cam1/SEQ1_01.jpg"]
    assert (first["burst"], first["burst_size"], first["verdict"]) == ("cam1/SEQ1", "3", "animal")
    assert (first["probability"], first["burst_probability"], first["boxes"]) == (
        "0.93",
        "0.8",
        "1",
    )
    assert first["box_list"] == "20.0 10.0 120.0 90.0 0.9000"
    assert frames["cam2/broken.jpg"]["verdict"] == "failed"
    assert frames["cam2/broken.jpg"]["failure"] == "undecodable"
    bursts = {r["burst"]: r for r in _rows(tmp_path / "out" / "results.bursts.csv")}
    assert bursts["cam1/SEQ1"]["frames"] == "3" and bursts["cam1/SEQ1"]["verdict"] == "animal"
    assert bursts["cam1/SEQ1"]["animal_frames"] == "2" and bursts["cam1/SEQ1"]["boxes"] == "2"
    assert (
        bursts["cam2/SEQ2"]["verdict"] == "empty"
        and bursts["cam2/SEQ2"]["max_probability"] == "0.05"
    )
    assert json.loads((tmp_path / "out" / "results.megadetector.json").read_text())["images"]

    assert out["crops"]["crops"] == 2
    crops = {r["crop"]: r for r in _rows(tmp_path / "c" / "crops.csv")}
    assert set(crops) == {"cam1/SEQ1_01_0.jpg", "cam1/SEQ1_02_0.jpg"}
    # 100×80 box padded by 10 % on each side: 120×96, inside the 200×100 frame.
    assert Image.open(tmp_path / "c" / "cam1/SEQ1_01_0.jpg").size == (120, 96)
    # a box reaching past the frame is clipped to the frame.
    assert Image.open(tmp_path / "c" / "cam1/SEQ1_02_0.jpg").size == (200, 55)


def _tree(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_sort_links_frames_into_animal_empty_review(scored, tmp_path):
    before = {p: p.stat().st_mtime_ns for p in scored.root.rglob("*")}
    into = tmp_path / "sorted"
    result, out = _invoke("sort", "--results", str(scored.results), "--into", str(into))
    assert result.exit_code == 0, result.output_text
    assert (out["animal"], out["empty"], out["review"], out["missing"]) == (2, 3, 2, 0)
    assert _tree(into) == [  # the verdicts, as the CSVs and the MegaDetector file say
        ".nolabel-sort.json",
        "animal/cam1/SEQ1_01.jpg",
        "animal/cam1/SEQ1_02.jpg",
        "empty/cam2/SEQ2_01.jpg",
        "empty/cam2/SEQ2_02.jpg",
        "empty/cam2/odd name #1.jpg",
        "review/cam1/SEQ1_03.jpg",  # candidate: a weak frame of a burst with an animal frame
        "review/cam2/broken.jpg",  # could not be scored
    ]
    link = into / "animal/cam1/SEQ1_01.jpg"
    assert link.is_symlink() and link.resolve() == (scored.root / "cam1/SEQ1_01.jpg").resolve()
    assert {p: p.stat().st_mtime_ns for p in scored.root.rglob("*")} == before  # nothing moved

    # More cautious on a re-run: the previous links are replaced, not left stale; 0.4 is not
    # sure enough to be empty, 0.8 not sure enough to be an animal.
    result, out = _invoke(
        "sort", "--results", str(scored.results), "--into", str(into),
        "--animal-at", "0.9", "--empty-below", "0.1", "--mode", "copy",
    )  # fmt: skip
    assert result.exit_code == 0, result.output_text
    assert (out["animal"], out["empty"], out["review"]) == (1, 2, 4)
    assert "animal/cam1/SEQ1_02.jpg" not in _tree(into)
    assert "review/cam2/odd name #1.jpg" in _tree(into)
    copied = into / "review/cam1/SEQ1_02.jpg"
    assert copied.is_file() and not copied.is_symlink()
    assert copied.read_bytes() == (scored.root / "cam1/SEQ1_02.jpg").read_bytes()


def test_sort_refuses_what_would_lose_or_mix_files(scored, tmp_path):
    result, _ = _invoke("sort", "--results", str(scored.results), "--into", str(scored.root / "s"))
    assert result.exit_code != 0 and "outside the scored one" in result.output_text
    into = tmp_path / "sorted"
    (into / "animal/cam1").mkdir(parents=True)
    (into / "animal/cam1/SEQ1_01.jpg").write_text("the user's own file")
    result, _ = _invoke("sort", "--results", str(scored.results), "--into", str(into))
    assert result.exit_code != 0 and "not made by nolabel sort" in result.output_text
    assert (into / "animal/cam1/SEQ1_01.jpg").read_text() == "the user's own file"
    result, _ = _invoke(
        "sort", "--results", str(scored.results), "--into", str(tmp_path / "x"),
        "--animal-at", "0.2", "--empty-below", "0.3",
    )  # fmt: skip
    assert result.exit_code != 0 and "--empty-below" in result.output_text
    result, _ = _invoke("sort", "--results", str(scored.results), "--into", "y", "--mode", "move")
    assert result.exit_code != 0 and "--mode" in result.output_text


@pytest.mark.skipif(not hasattr(os, "link"), reason="no hard links here")
def test_sort_hardlinks(scored, tmp_path):
    result, out = _invoke(
        "sort",
        "--results",
        str(scored.results),
        "--into",
        str(tmp_path / "h"),
        "--mode",
        "hardlink",
    )
    assert result.exit_code == 0, result.output_text
    assert os.path.samefile(
        tmp_path / "h/animal/cam1/SEQ1_01.jpg", scored.root / "cam1/SEQ1_01.jpg"
    )
