"""`nolabel demo`'s terminal: a progress bar and a short summary; the rest goes to a log file."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

from PIL import Image

from flows.demo import STAGES, StageProgress, closing_note, quiet_output
from flows.demo_card import write_demo_card


def test_libraries_and_children_write_to_the_log_not_the_terminal(tmp_path, capfd):
    log = tmp_path / "logs" / "demo.log"
    with quiet_output(log) as terminal:
        print("a library's print")
        sys.stderr.write("a warning on stderr\n")
        os.write(1, b"raw fd write\n")
        subprocess.run([sys.executable, "-c", "print('a child process')"], check=True)
        terminal.write("progress for people\n")
    print("after the demo")
    captured = capfd.readouterr()
    assert captured.err == "progress for people\n"
    assert captured.out == "after the demo\n"
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
    progress.close()
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
