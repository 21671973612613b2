"""Hand-edited and hostile results files, odd file names and hostile targets: `nolabel sort`,
`report` and `export` read and write only below the scored root and the target, and bad input
is one `error:` line (exit 2) that overwrites nothing."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nolabel.components.cli import build_app
from nolabel.components.common.cli import run_app
from nolabel.components.common.errors import InputError
from nolabel.components.common.files import write_text_atomic
from nolabel.components.results.records import load_results

BAD_BYTES = os.fsdecode(b"bad\xffbyte.jpg")
NEWLINE = "two\nlines.jpg"


def _run(capsys, *args: str) -> tuple[int, dict | None, str]:
    """Run the real CLI entry: exit code, the JSON line it printed, its stderr."""
    try:
        run_app(build_app(), list(args))
        code = 0
    except SystemExit as stop:
        code = stop.code or 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    return code, (json.loads(lines[-1]) if code == 0 and lines else None), err


def _one_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


def _save(scored, **changes) -> None:
    scored.payload.update(changes)
    scored.results.write_text(json.dumps(scored.payload))


def _sort(capsys, scored, into, *extra: str):
    return _run(capsys, "sort", "--results", str(scored.results), "--into", str(into), *extra)


def _tree(root) -> list[str]:
    return sorted(os.path.relpath(p, root) for p in root.rglob("*") if not p.is_dir())


@pytest.fixture
def outside(tmp_path):
    secret = tmp_path / "probe" / "outside"
    secret.mkdir(parents=True)
    (secret / "secret.txt").write_text("private")
    Image.new("RGB", (200, 100), (9, 9, 9)).save(secret / "private.jpg")
    return secret


def test_failure_paths_outside_the_root_are_refused(scored, tmp_path, outside, capsys):
    failure = {"path": "../../probe/outside/secret.txt", "reason": "x", "message": "y"}
    _save(scored, failures=[failure])
    into = tmp_path / "sorted"
    code, _, err = _run(
        capsys, "sort", "--results", str(scored.results), "--into", str(into), "--mode", "copy"
    )
    _one_error(code, err, "failures[0]", "not inside the scored folder")
    assert not into.exists() or _tree(into) == []
    failure["path"] = "cam2/notes.txt"  # inside, but score lists no such file as a frame
    (scored.root / "cam2/notes.txt").write_text("not a frame")
    _save(scored, failures=[failure])
    code, out, err = _run(
        capsys, "sort", "--results", str(scored.results), "--into", str(into), "--mode", "copy"
    )
    assert code == 0, err
    assert not any("notes.txt" in name for name in _tree(into))


@pytest.mark.parametrize("root", ["/", "card", "/nonexistent/card"])
def test_a_recorded_root_must_be_an_absolute_folder_other_than_the_filesystem_root(
    scored, tmp_path, capsys, root
):
    _save(scored, root=root)
    for command in ("export", "report", "sort"):
        extra = {"report": ["--out", str(tmp_path / "r.html")], "sort": ["--into", "s"]}
        code, _, err = _run(
            capsys, command, "--results", str(scored.results), *extra.get(command, [])
        )
        _one_error(code, err, "root" if root != "/nonexistent/card" else "pass --images")
    with pytest.raises(InputError, match="filesystem root"):
        load_results(scored.results, images="/")
    assert not (scored.results.parent / "results.frames.csv").exists()


@pytest.mark.parametrize("mode", ["link", "hardlink", "copy"])
def test_sort_never_links_or_copies_a_frame_that_is_a_link(scored, tmp_path, outside, capsys, mode):
    frame = scored.root / "cam1/SEQ1_01.jpg"
    frame.unlink()
    frame.symlink_to(outside / "private.jpg")  # swapped for a link after scoring
    linked_folder = scored.root / "cam2"
    shutil.move(linked_folder, tmp_path / "cam2-elsewhere")
    linked_folder.symlink_to(tmp_path / "cam2-elsewhere")  # a folder swapped for a link
    into = tmp_path / f"sorted-{mode}"
    code, out, err = _sort(capsys, scored, into, "--mode", mode)
    assert code == 0, err
    assert (out["animal"], out["empty"], out["review"], out["missing"]) == (1, 0, 1, 0)
    assert len(out["refused"]) == 5
    assert _tree(into) == [
        ".nolabel-sort.json",
        "animal/cam1/SEQ1_02.jpg",
        "review/cam1/SEQ1_03.jpg",
    ]


def test_sort_link_mode_never_links_to_a_link_and_never_writes_through_a_linked_subfolder(
    scored, tmp_path, capsys
):
    into = tmp_path / "sorted"
    into.mkdir()
    (into / "review").symlink_to(scored.root)  # a planted link into the card
    before = _tree(scored.root)
    code, _, err = _sort(capsys, scored, into)
    _one_error(code, err, "review", "not a plain folder")
    (into / "review").unlink()
    (into / "animal").mkdir()
    (into / "animal" / "cam1").symlink_to(scored.root / "cam2")  # deeper down
    code, _, err = _sort(capsys, scored, into, "--mode", "copy")
    _one_error(code, err, "not a plain folder")
    assert _tree(scored.root) == before


def test_sort_keeps_a_copy_the_user_edited(scored, tmp_path, capsys):
    into = tmp_path / "sorted"
    code, out, err = _sort(capsys, scored, into, "--mode", "copy")
    assert code == 0 and out["kept"] == [], err
    edited = into / "animal/cam1/SEQ1_01.jpg"
    edited.write_bytes(b"the user's retouched frame")
    for _ in range(2):  # kept, and still kept on the run after
        code, out, err = _sort(capsys, scored, into, "--mode", "copy")
        assert code == 0, err
        assert out["kept"] == ["animal/cam1/SEQ1_01.jpg"] and out["animal"] == 2
        assert edited.read_bytes() == b"the user's retouched frame"
    untouched = into / "animal/cam1/SEQ1_02.jpg"
    assert untouched.read_bytes() == (scored.root / "cam1/SEQ1_02.jpg").read_bytes()
    # a hand-edited manifest cannot make sort delete outside the sort folders
    keep_me = tmp_path / "keep-me.jpg"
    keep_me.write_bytes(b"x")
    manifest = json.loads((into / ".nolabel-sort.json").read_text())
    manifest["made"] += ["../keep-me.jpg", "animal/../../keep-me.jpg", {"path": str(keep_me)}]
    (into / ".nolabel-sort.json").write_text(json.dumps(manifest))
    code, out, err = _sort(capsys, scored, into, "--mode", "copy")
    assert code == 0, err
    assert keep_me.exists()


def test_unwritable_targets_are_one_line_errors(scored, tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "a-file"
    a_file.write_text("mine")
    code, _, err = _sort(capsys, scored, a_file)
    _one_error(code, err, "is a file, not a folder")
    assert a_file.read_text() == "mine"
    code, _, err = _run(capsys, "export", "--results", str(scored.results), "--crops", str(a_file))
    _one_error(code, err, "is a file, not a folder")
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:  # root ignores permissions: make mkdir fail as a read-only folder does

        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(os, "mkdir", refuse)
    else:
        locked.chmod(0o555)
    try:
        code, _, err = _sort(capsys, scored, locked)
    finally:
        locked.chmod(0o755)
    _one_error(code, err, "Permission denied")


def _card_with(scored, names: list[str], boxes: bool = True) -> None:
    """Add frames with these names (in ``cam3/``), each with one box, to the results."""
    for index, name in enumerate(names):  # a flat colour of its own each
        path = scored.root / "cam3" / name
        path.parent.mkdir(exist_ok=True)
        colour = (40 * index + 20, 200 - 40 * index, 90)
        Image.new("RGB", (200, 100), colour).save(
            path, format="PNG" if name.endswith(".png") else "JPEG"
        )
        record = dict(scored.payload["images"][0], path=f"cam3/{name}", burst=f"cam3/{name}")
        record["boxes"] = [{"bbox": [10, 10, 100, 90], "score": 0.9}] if boxes else []
        scored.payload["images"].append(record)
    _save(scored)


def test_undecodable_and_multiline_names_are_exported_sorted_and_cropped(scored, tmp_path, capsys):
    _card_with(scored, [BAD_BYTES, NEWLINE])
    assert "\\udcff" in scored.results.read_text()  # how score's JSON spells the byte
    code, out, err = _run(
        capsys, "export", "--results", str(scored.results), "--crops", str(tmp_path / "c")
    )
    assert code == 0, err
    frames_csv = scored.results.parent / "results.frames.csv"
    frames = {r["file"]: r for r in csv.DictReader(io_text(frames_csv))}
    assert "cam3/bad\\xffbyte.jpg" in frames and f"cam3/{NEWLINE}" in frames
    document = json.loads((scored.results.parent / "results.megadetector.json").read_text())
    assert f"cam3/{BAD_BYTES}" in {image["file"] for image in document["images"]}
    assert out["crops"]["crops"] == 4 and out["crops"]["failed"] == []
    crops = {r["crop"] for r in csv.DictReader(io_text(tmp_path / "c" / "crops.csv"))}
    assert {"cam3/bad\\xffbyte_0.jpg", "cam3/two\nlines_0.jpg"} <= crops
    assert (tmp_path / "c" / "cam3" / os.fsdecode(b"bad\xffbyte_0.jpg")).is_file()
    assert not [p for p in scored.results.parent.iterdir() if p.name.endswith(".part")]
    code, out, err = _sort(capsys, scored, tmp_path / "s", "--mode", "copy")
    assert code == 0, err
    assert (tmp_path / "s/animal/cam3" / BAD_BYTES).read_bytes() == (
        scored.root / "cam3" / BAD_BYTES
    ).read_bytes()
    assert (tmp_path / "s/animal/cam3" / NEWLINE).is_file()
    code, out, err = _run(
        capsys, "report", "--results", str(scored.results), "--out", str(tmp_path / "r.html")
    )
    assert code == 0, err


def io_text(path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def test_crops_of_frames_sharing_a_stem_do_not_overwrite_each_other(scored, tmp_path, capsys):
    _card_with(scored, ["x.jpg", "x.png", "x.jpg.png", "solo.jpg"])
    code, out, err = _run(
        capsys, "export", "--results", str(scored.results), "--crops", str(tmp_path / "c")
    )
    assert code == 0, err
    rows = list(csv.DictReader(io_text(tmp_path / "c" / "crops.csv")))
    mine = {r["crop"]: r["file"] for r in rows if r["file"].startswith("cam3/")}
    assert len(mine) == 4 and set(mine.values()) == {
        "cam3/x.jpg", "cam3/x.png", "cam3/x.jpg.png", "cam3/solo.jpg",
    }  # fmt: skip
    assert mine["cam3/solo_0.jpg"] == "cam3/solo.jpg"
    assert mine["cam3/x.jpg_0.jpg"] == "cam3/x.jpg" and mine["cam3/x.png_0.jpg"] == "cam3/x.png"
    for crop, frame in mine.items():  # each crop file is its own frame's
        with Image.open(tmp_path / "c" / crop) as made, Image.open(scored.root / frame) as whole:
            assert made.size == (108, 96)
            own = np.asarray(whole.convert("RGB"), float).mean(axis=(0, 1))
            assert np.abs(np.asarray(made, float).mean(axis=(0, 1)) - own).max() < 4, crop


BAD_RECORDS = {
    "width": (lambda r: r.update(width="abc"), "images[0] 'cam1/SEQ1_01.jpg': width must be"),
    "no width": (lambda r: r.pop("width"), "images[0] 'cam1/SEQ1_01.jpg': width is missing"),
    "score": (lambda r: r["boxes"][0].update(score="high"), "boxes[0].score must be"),
    "bbox text": (lambda r: r["boxes"][0].update(bbox="abc"), "boxes[0].bbox must be"),
    "bbox short": (lambda r: r["boxes"][0].update(bbox=[1, 2, 3]), "boxes[0].bbox must be"),
    "box": (lambda r: r.update(boxes=["x"]), "boxes[0] must be an object"),
    "burst": (lambda r: r.update(burst=123), "burst must be a text"),
    "verdict": (lambda r: r.update(verdict="maybe"), "verdict must be one of"),
    "probability": (lambda r: r.update(probability=float("nan")), "probability must be"),
    "path": (lambda r: r.update(path="cam1/\x00.jpg"), "is not a file name"),
    "not an image": (lambda r: r.update(path="cam1/notes.txt"), "path must name an image"),
}


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_a_malformed_record_is_one_error_naming_file_record_and_field_and_writes_nothing(
    scored, tmp_path, capsys, case
):
    code, _, err = _run(capsys, "export", "--results", str(scored.results))
    assert code == 0, err
    written = {p.name: p.read_bytes() for p in scored.results.parent.iterdir()}
    change, message = BAD_RECORDS[case]
    change(scored.payload["images"][0])
    _save(scored)
    written["results.json"] = scored.results.read_bytes()
    for command in ("export", "sort", "report"):
        extra = {"sort": ["--into", str(tmp_path / "s")], "report": ["--out", str(tmp_path / "r")]}
        code, _, err = _run(
            capsys, command, "--results", str(scored.results), *extra.get(command, [])
        )
        _one_error(code, err, f"{scored.results}: ", message)
    assert {p.name: p.read_bytes() for p in scored.results.parent.iterdir()} == written
    assert not (tmp_path / "s").exists() and not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p["images"].append([]), "images[6]: a frame record must be an object"),
        (lambda p: p["images"].append(123), "images[6]: a frame record must be an object"),
        (lambda p: p["failures"].append("x"), "failures[1]: a failure must be an object"),
        (lambda p: p["failures"][0].pop("reason"), "failures[0] 'cam2/broken.jpg': reason is"),
        (lambda p: p["images"].append(dict(p["images"][2])), "'cam1/SEQ1_03.jpg' is listed twice"),
        (lambda p: p["failures"].append(p["failures"][0]), "'cam2/broken.jpg' is listed twice"),
        (lambda p: p.update(threshold="high"), "threshold must be"),
    ],
)
def test_malformed_entries_and_duplicates_are_refused(scored, change, message):
    change(scored.payload)
    _save(scored)
    with pytest.raises(InputError, match=f"^{scored.results}: .*") as caught:
        load_results(scored.results)
    assert message in str(caught.value)


def test_unreadable_results_bytes_and_a_failure_without_message(scored, tmp_path, capsys):
    scored.results.write_bytes(scored.results.read_bytes().replace(b"deer", b"d\xffer"))
    code, _, err = _run(capsys, "export", "--results", str(scored.results))
    _one_error(code, err, "cannot read results")
    scored.payload["failures"][0].pop("message")
    _save(scored)
    assert load_results(scored.results).failures[0]["message"] == ""  # filled for every reader
    code, out, err = _run(capsys, "export", "--results", str(scored.results))
    assert code == 0, err
    document = json.loads(Path(out["megadetector"]).read_text())
    failed = {"file": "cam2/broken.jpg", "failure": "undecodable", "detections": None}
    assert failed in document["images"]
    code, out, err = _run(
        capsys, "report", "--results", str(scored.results), "--out", str(tmp_path / "r.html")
    )
    assert code == 0, err


def test_validate_record_and_failure_for_partial_lines():
    from nolabel.components.results.schema import validate_failure, validate_record

    partial = {"path": "a/b.jpg", "width": 640, "height": 480, "raw_boxes": [], "models": {}}
    assert validate_record(partial, "log line 3") == partial  # no verdict yet: fine
    with pytest.raises(InputError, match="^log line 3 'a/b.jpg': verdict is missing"):
        validate_record(partial, "log line 3", finished=True)
    with pytest.raises(InputError, match="^log line 4: a frame record must be an object"):
        validate_record([], "log line 4")
    with pytest.raises(InputError, match="height must be a positive number, not -1"):
        validate_record(dict(partial, height=-1), "x")
    assert validate_failure({"path": "a.jpg", "reason": "r"}, "x")["message"] == ""


def test_atomic_writes_leave_no_part_file_on_failure(tmp_path, monkeypatch):
    folder = tmp_path / "out"
    (folder / "target.csv").mkdir(parents=True)  # a folder cannot be replaced by a file
    with pytest.raises(OSError):
        write_text_atomic(folder / "target.csv", "x")
    assert sorted(p.name for p in folder.iterdir()) == ["target.csv"]

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_text_atomic(folder / "other.csv", f"name {BAD_BYTES}")
    assert sorted(p.name for p in folder.iterdir()) == ["target.csv"]
    monkeypatch.undo()
    write_text_atomic(folder / "other.csv", f"name {BAD_BYTES}")
    assert (folder / "other.csv").read_text(encoding="utf-8") == "name bad\\udcffbyte.jpg"
