"""``nolabel demo``: the whole method on offline synthetic photos, then a held-out "SD card"
scored, measured against its true boxes and shown as ``report.html``.

The terminal gets a progress bar over the stages and a short summary; everything the libraries
print (Prefect, mmengine, pycocotools, Spark) goes to a log file the summary names.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from nolabel.components.common.settings import get_settings
from nolabel.components.detect.score import ScoreParams, run_score
from nolabel.components.detect.step import DetectEvalParams, run_eval
from nolabel.components.lime.contract import LimeParams
from nolabel.components.results.records import load_results
from nolabel.components.results.report import heatmap_overlays, write_report
from nolabel.components.transfer.classifier import load_classifier
from nolabel.flows.demo_card import write_demo_card
from nolabel.flows.params import (
    DEMO_DATASET,
    CrawlOptions,
    DetectOptions,
    ExplainOptions,
    PipelineParams,
    TrainOptions,
)
from nolabel.flows.report import run_link
from nolabel.flows.server import run_build_detector, set_prefect_defaults, stop_temporary_server

STAGES = ("crawl", "train", "explain", "detect", "evaluate", "held-out", "score", "report")
LABEL = "snow leopard"
# Where the demo differs from the steps' defaults, and why; the rest (LIME's samples, the
# detector's epochs, the backbone...) are the steps' own.
DEMO_NEGATIVES = ["mountainside", "goat"]  # what the synthetic animal is told apart from
DEMO_PHOTOS = 60  # of the animal and as many without: enough to learn, ~3 min on 2 cores
DEMO_VARIANT = "cut1"  # one classifier variant: the demo shows the method, not the comparison
DEMO_INPUT_SIZE = 128  # classifier input and LIME's scoring side: the photos are 256 × 192
DEMO_IMAGE_SIZE = 192  # the detector's test-time long side, near the photos' own
DEMO_OVERLAYS = 4  # overlay images explain and detect draw (the report shows 4 frames)


def demo_params(dataset: str = DEMO_DATASET, promote: bool = True) -> dict[str, Any]:
    """CPU-friendly settings for the offline demo (~3 min on 2 cores), as JSON data (what a
    deployment run takes): the settings below, the steps' own defaults for everything else."""
    params = PipelineParams(
        dataset=dataset,
        provider="demo",  # offline: synthetic photos
        positive=[LABEL],
        negative=DEMO_NEGATIVES,
        per_page=DEMO_PHOTOS,
        variants=[DEMO_VARIANT],
        image_size=DEMO_IMAGE_SIZE,
        promote=promote,
        crawl_options=CrawlOptions(negative_per_query=DEMO_PHOTOS // len(DEMO_NEGATIVES)),
        train_options=TrainOptions(input_size=DEMO_INPUT_SIZE),
        explain_options=ExplainOptions(
            spark=False,  # in-process: starting Spark costs more than 60 images take
            overlays=DEMO_OVERLAYS,
            # The synthetic animal is one strong region: boxed relative to the top weight.
            lime=LimeParams(score_size=DEMO_INPUT_SIZE, box_rule="relative"),
            # The demo's animals are renders no COCO detector has seen: choosing among its
            # proposals took the held-out AP50 0.76 → 0.63 (real photos gain; lime README).
            proposals=False,
        ),
        detect_options=DetectOptions(overlays=DEMO_OVERLAYS),
    )
    return params.model_dump(mode="json", exclude_unset=True)


@contextlib.contextmanager
def quiet_output(log_path: Path) -> Iterator[IO[str]]:
    """Send file descriptors 1 and 2 (and so every library and child process) to ``log_path``;
    yield a stream on the original terminal."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved[1]), "w", buffering=1, encoding="utf-8")
    with log_path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            terminal.close()


class StageProgress(logging.Handler):
    """A tqdm bar over the demo's stages, advanced by the flow's own step log lines."""

    def __init__(self, terminal: IO[str]) -> None:
        super().__init__(logging.INFO)
        from tqdm import tqdm

        self.bar = tqdm(
            total=len(STAGES), file=terminal, unit="stage", desc="demo", ncols=78,
            bar_format="{desc:<22}{bar}| {n_fmt}/{total_fmt} [{elapsed}]",
        )  # fmt: skip
        self.started: dict[str, float] = {}
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        step, _, rest = record.getMessage().partition(": ")
        if step in STAGES and rest.startswith("running"):
            self.start(step)
        elif step in STAGES and rest.startswith(("finished", "already finished")):
            self.done(step)

    def start(self, stage: str) -> None:
        self.started[stage] = time.monotonic()
        self.bar.set_description_str(f"demo: {stage}")

    def done(self, stage: str, note: str = "") -> None:
        seconds = time.monotonic() - self.started.get(stage, time.monotonic())
        self.lines.append(f"  {stage:<9} {seconds:6.1f} s  {note}".rstrip())
        self.bar.update(1)

    def finish(self) -> None:
        self.bar.set_description_str("demo: done")
        self.bar.close()


def run_demo(dataset: str = DEMO_DATASET, promote: bool = True) -> dict[str, Any]:
    """Build the detector, score the held-out card, write the report; a summary dict."""

    home = get_settings().home
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_path = home / "logs" / f"demo-{stamp}.log"
    card = home / "demo-card"
    with quiet_output(log_path) as terminal:
        terminal.write(f"nolabel demo: logs in {log_path}\n")
        _configure_prefect_logging()  # first: its set-up closes handlers made before it
        progress = StageProgress(terminal)
        task_logger = logging.getLogger("prefect.task_runs")
        task_logger.addHandler(progress)
        try:
            outcome = _stages(dataset, promote, card, progress)
        except BaseException as exc:
            progress.bar.close()
            terminal.write(f"demo failed: {type(exc).__name__}: {exc}\nsee {log_path}\n")
            raise
        finally:
            task_logger.removeHandler(progress)
            stop_temporary_server()  # now, so its goodbye goes to the log
        progress.finish()
        outcome.update(log=str(log_path), stage_lines=progress.lines)
    return outcome


def _configure_prefect_logging() -> None:

    set_prefect_defaults()
    import prefect.main  # noqa: F401  (sets up Prefect's logging once, on import)


def _stages(dataset: str, promote: bool, card: Path, progress: StageProgress) -> dict[str, Any]:

    summary = run_build_detector(demo_params(dataset, promote))
    models = summary["models"]
    progress.start("held-out")
    truth = write_demo_card(card)
    held_out = run_eval(
        DetectEvalParams(model=models["detector"]["run_uri"], gt=str(truth), images=str(card))
    )
    metrics = held_out.metrics
    progress.done("held-out", f"AP50 {metrics['gt_ap50']:.2f} on {metrics['gt_images']:.0f} frames")
    progress.start("score")
    scored = run_score(
        ScoreParams(
            images=str(card / "DCIM"),
            out=str(card / "results.json"),
            classifier=models["classifier"]["run_uri"],
            detector=models["detector"]["run_uri"],
            label=LABEL,
            crops=str(card / "crops"),
        )
    )
    progress.done("score", f"{scored.files} frames, {scored.images_per_second:.1f} img/s")
    progress.start("report")
    results = load_results(scored.out)
    classifier = load_classifier(models["classifier"]["run_uri"])
    heat = heatmap_overlays(results, classifier, top=4)
    page = write_report(results, card / "report.html", heatmaps=heat)
    progress.done("report", str(page))
    return {
        **summary,
        "held_out": {"truth": str(truth), **metrics},
        "score": scored.model_dump(),
        "report": str(page),
    }


def closing_note(outcome: dict[str, Any], seconds: float) -> str:
    """The demo's summary: stage times, the held-out figures, and where to look next."""
    from nolabel.components.common.settings import get_settings

    held, score = outcome["held_out"], outcome["score"]
    verdicts = score.get("verdicts", {})
    lines = [f"nolabel demo finished in {seconds:.0f} s", *outcome["stage_lines"], ""]
    lines += [
        f"Detector on the held-out card ({held['gt_images']:.0f} frames with the animal, true "
        f"boxes): AP50 {held['gt_ap50']:.2f}, mean IoU {held['gt_mean_iou']:.2f}, "
        f"CorLoc {held['gt_corloc']:.2f}",
        f"Card verdicts: {verdicts.get('animal', 0)} animal, {verdicts.get('candidate', 0)} "
        f"candidate, {verdicts.get('empty', 0)} empty; {score['boxes']} boxes, "
        f"{score.get('crops') or 0} crops",
        "",
        f"Review page:   {outcome['report']}",
        f"Results:       {score['out']}",
        f"  MegaDetector {score['exports'].get('megadetector')}",
        f"  CSV          {score['exports'].get('frames_csv')}",
        f"Log file:      {outcome['log']}",
        "MLflow runs (`make mlflow-ui`):",
    ]
    settings = get_settings()
    for step, run_id in outcome.get("mlflow_runs", {}).items():
        lines.append(f"  {step:<8} {run_link(run_id, settings)}")
    lines += [
        "Next:",
        f"  nolabel sort --results {score['out']} --into sorted/",
        "  nolabel serve --port 8000   # then: curl -F file=@photo.jpg :8000/v1/predict",
        "  nolabel score --images DIR --out results.json   # your own card",
        "",
    ]
    return "\n".join(lines)
