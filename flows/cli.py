"""``nolabel pipeline`` (the whole method as a Prefect flow) and ``nolabel demo`` (offline)."""

from __future__ import annotations

import sys
import time

import typer

from nolabel.components.common.cli import emit, model_command
from nolabel.flows.console import run_pipeline
from nolabel.flows.params import DEMO_DATASET, PipelineParams

FLAG_NAMES = {"variants": "--variant"}  # repeatable: one variant a flag


def demo(
    dataset: str = typer.Option(DEMO_DATASET, help="Dataset name for the demo images."),
    promote: bool = typer.Option(True, help="Make the demo models the production models."),
) -> None:
    """Run the method offline on synthetic photos, score a held-out card, write report.html."""
    from nolabel.flows.demo import closing_note, run_demo  # lazy: keeps `--help` light

    started = time.monotonic()
    outcome = run_demo(dataset, promote)
    sys.stderr.write(closing_note(outcome, time.monotonic() - started))
    sys.stderr.flush()
    keys = ("dataset", "models", "mlflow_runs", "held_out", "report", "log")
    emit({**{k: outcome.get(k) for k in keys}, "score": outcome["score"]["out"]})


def register(app: typer.Typer) -> None:
    """Add ``pipeline`` and ``demo`` to the top-level app."""
    doc = "Run the whole method as the Prefect flow ``build_detector`` (resumes after a crash)."
    app.command("pipeline")(model_command(PipelineParams, run_pipeline, doc, FLAG_NAMES))
    app.command("demo")(demo)
