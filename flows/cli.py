"""``nolabel pipeline`` (the whole method as a Prefect flow) and ``nolabel demo`` (offline)."""

from __future__ import annotations

import sys
import time
from typing import Any

import typer

from components.common.cli import emit
from flows.demo import DEMO_DATASET


def run_build_detector(values: dict[str, Any]) -> dict[str, Any]:
    """Validate the params (clear one-line errors) and run the ``build_detector`` flow.

    Prefect's defaults (analytics off, 180 s server start) are set before Prefect is imported;
    its temporary server, when one is needed, dies with this process even on SIGKILL."""
    from flows.server import set_prefect_defaults, start_temporary_server

    set_prefect_defaults()
    from flows.params import PipelineParams
    from flows.pipeline import build_detector

    params = PipelineParams.model_validate(values)
    start_temporary_server()
    return build_detector(params=params)


def pipeline(
    dataset: str = typer.Option(..., help="Dataset name in the store."),
    provider: str = typer.Option("demo", help="demo, folder, openverse, wikimedia, ..."),
    positive: list[str] = typer.Option(..., help="Positive query (repeatable)."),
    negative: list[str] = typer.Option([], help="Negative query (repeatable)."),
    random_negatives: int = typer.Option(0, help="Random-word negative queries."),
    pages: int = typer.Option(1, help="Result pages per positive query."),
    per_page: int = typer.Option(20, help="Images per page."),
    folder_root: str | None = typer.Option(None, help="Root directory (folder provider)."),
    backbone: str = typer.Option("efficientnet-lite0", help="Featurizer backbone."),
    variant: list[str] = typer.Option([], help="Classifier variant (repeatable; default all)."),
    lime_samples: int = typer.Option(300, help="LIME samples per image."),
    localizer: str = typer.Option("lime", help="Boxes from lime or gradcam (fast)."),
    target: str | None = typer.Option(
        None, help="Folder of your unlabeled frames: the detector adapts to your cameras."
    ),
    detector_negatives: bool = typer.Option(
        False, help="Train the detector on the crawl's negatives too (images holding nothing)."
    ),
    detector_config: str | None = typer.Option(None, help="Detector config name."),
    epochs: int = typer.Option(12, help="Detector epochs."),
    image_size: int = typer.Option(512, help="Detector image size."),
    promote: bool = typer.Option(False, help="Set alias 'production' on the new models."),
    run_tag: str = typer.Option("", help="New tag = redo every step instead of resuming."),
) -> None:
    """Run the whole method as the Prefect flow ``build_detector`` (resumes after a crash)."""
    values: dict[str, Any] = {
        "dataset": dataset,
        "provider": provider,
        "positive": positive,
        "negative": negative,
        "random_negatives": random_negatives,
        "pages": pages,
        "per_page": per_page,
        "folder_root": folder_root,
        "backbone": backbone,
        "variants": variant or None,
        "lime_samples": lime_samples,
        "localizer": localizer,
        "target": target,
        "detector_negatives": detector_negatives,
        "detector_config": detector_config,
        "epochs": epochs,
        "image_size": image_size,
        "promote": promote,
        "run_tag": run_tag,
    }
    emit(run_build_detector(values))


def demo(
    dataset: str = typer.Option(DEMO_DATASET, help="Dataset name for the demo images."),
    promote: bool = typer.Option(True, help="Make the demo models the production models."),
) -> None:
    """Run the method offline on synthetic photos, score a held-out card, write report.html."""
    from flows.demo import closing_note, run_demo

    started = time.monotonic()
    outcome = run_demo(dataset, promote)
    sys.stderr.write(closing_note(outcome, time.monotonic() - started))
    sys.stderr.flush()
    keys = ("dataset", "models", "mlflow_runs", "held_out", "report", "log")
    emit({**{k: outcome.get(k) for k in keys}, "score": outcome["score"]["out"]})


def register(app: typer.Typer) -> None:
    """Add ``pipeline`` and ``demo`` to the top-level app."""
    app.command("pipeline")(pipeline)
    app.command("demo")(demo)
