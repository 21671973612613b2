"""`nolabel demo`'s terminal: a progress bar and a short summary; the rest goes to a log file."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from nolabel.flows.demo import STAGES, StageProgress, closing_note
from nolabel.flows.demo_card import write_demo_card
from tests.conftest import REPO_ROOT


def test_libraries_and_children_write_to_the_log_not_the_terminal(tmp_path):
    log = tmp_path / "logs" / "demo.log"
    script = f"""
import os, subprocess, sys
from nolabel.flows.demo import quiet_output
with quiet_output(__import__("pathlib").Path({str(log)!r})) as terminal:
    print("a library's print")
    sys.stderr.write("a warning on stderr\\n")
    os.write(1, b"raw fd write\\n")
    subprocess.run([sys.executable, "-c", "print('a child process')"], check=True)
    terminal.write("progress for people\\n")
print("after the demo")
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=True,
    )
    assert done.stderr == "progress for people\n"
    assert done.stdout == "after the demo\n"
    text = log.read_text()
    for line in ("a library's print", "a warning on stderr", "raw fd write", "a child process"):
        assert line in text


def test_stage_progress_follows_the_flow_log(tmp_path):
    stream = (tmp_path / "terminal.txt").open("w")
    progress = StageProgress(stream)
    logger = logging.getLogger("test.demo.stages")
    logger.addHandler(progress)
    logger.setLevel(logging.INFO)
    try:
        logger.info("%s: running (%s execution)", "crawl", "local")
        logger.info("%s: finished, result saved to %s", "crawl", "file:///x")
        logger.info("%s: already finished for these inputs, reusing %s", "train", "file:///y")
        logger.info("something else entirely")
    finally:
        logger.removeHandler(progress)
    progress.start("score")
    progress.done("score", "12 frames")
    progress.finish()
    stream.close()
    assert progress.bar.n == 3 and progress.bar.total == len(STAGES)
    assert [line.split()[0] for line in progress.lines] == ["crawl", "train", "score"]
    assert progress.lines[-1].endswith("12 frames")


def test_closing_note_is_short_and_says_where_to_look():
    outcome = {
        "stage_lines": [f"  {s:<9}    1.0 s" for s in STAGES],
        "held_out": {"gt_images": 18, "gt_ap50": 0.61, "gt_mean_iou": 0.55, "gt_corloc": 0.7},
        "score": {
            "verdicts": {"animal": 17, "candidate": 1, "empty": 18},
            "boxes": 18,
            "crops": 18,
            "out": "/h/demo-card/results.json",
            "exports": {"megadetector": "/h/m.json", "frames_csv": "/h/f.csv"},
        },  # fmt: skip
        "report": "/h/demo-card/report.html",
        "log": "/h/logs/demo.log",
        "mlflow_runs": {},
    }
    note = closing_note(outcome, 123.4)
    assert len(note.splitlines()) <= 40
    for needle in ("AP50 0.61", "report.html", "/h/logs/demo.log", "nolabel sort", "m.json"):
        assert needle in note


def test_the_demo_card_is_bursts_with_true_boxes(tmp_path):
    truth = json.loads(write_demo_card(tmp_path, bursts=4, frames=3, seed=1).read_text())
    frames = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.jpg"))
    assert len(frames) == 12 and frames[0] == "DCIM/CAM01/SEQ0001_01.jpg"
    boxed = {image["file_name"] for image in truth["images"]}
    assert boxed and all("SEQ0001" in f or "SEQ0003" in f for f in boxed)  # even bursts: animal
    for annotation in truth["annotations"]:
        x, y, w, h = annotation["bbox"]
        assert x >= 0 and y >= 0 and w > 1 and h > 1 and x + w <= 256 and y + h <= 192
    first = [a["bbox"] for a in truth["annotations"][:3]]
    assert first[0] != first[1] or first[1] != first[2]  # the animal moves within a burst
    assert Image.open(tmp_path / frames[0]).size == (256, 192)
    again = tmp_path / "again"
    assert json.loads(write_demo_card(again, bursts=4, frames=3, seed=1).read_text()) == truth


@pytest.mark.slow
def test_nolabel_demo_as_a_newcomer_runs_it(nolabel_home):
    """The real `nolabel demo`: at most 60 lines, a report of the held-out card, a named log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(NOLABEL_HOME=str(nolabel_home), PYTHONPATH=str(REPO_ROOT), COLUMNS="100")
    done = subprocess.run(
        [sys.executable, "-m", "nolabel.components.cli", "demo"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    terminal = (done.stdout + done.stderr).replace("\r", "\n")
    lines = [line for line in terminal.splitlines() if line.strip()]
    assert len(done.stdout.splitlines()) + len(done.stderr.splitlines()) <= 60, terminal
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    report = Path(summary["report"])
    assert report.is_file() and report.name == "report.html"
    assert report.read_text().count('class="frame ') == 36  # every frame of the held-out card
    log = Path(summary["log"])
    assert log.is_file() and "mmengine" in log.read_text()  # the libraries' output went there
    assert 0.0 <= summary["held_out"]["gt_ap50"] <= 1.0
    assert any("AP50" in line for line in lines) and str(report) in terminal
