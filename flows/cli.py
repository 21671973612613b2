"""``nolabel pipeline`` (the whole method as a Prefect flow) and ``nolabel demo`` (offline)."""

from __future__ import annotations

import sys
import time
from typing import Any

import typer

from components.common.cli import emit

DEMO_DATASET = "demo"


def demo_params(dataset: str = DEMO_DATASET, promote: bool = True) -> dict[str, Any]:
    """Small CPU-friendly settings for the offline demo: 48 synthetic photos, one classifier
    variant at 128 px, 48 LIME samples in-process, 2 detector epochs at 192 px."""
    return {
        "dataset": dataset,
        "provider": "demo",
        "positive": ["snow leopard"],
        "negative": ["mountainside", "goat"],
        "pages": 1,
        "per_page": 24,
        "backbone": "efficientnet-lite0",
        "variants": ["cut1"],
        "lime_samples": 48,
        "epochs": 2,
        "image_size": 192,
        "promote": promote,
        "crawl_options": {"negative_per_query": 12},
        "train_options": {"input_size": 128},
        "explain_options": {"spark": False, "overlays": 4, "lime": {"score_size": 128}},
        "detect_options": {"overlays": 4},
    }


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


def where_to_look(summary: dict[str, Any], seconds: float) -> str:
    """The demo's closing note: where the runs, models and service are."""
    from components.common.settings import get_settings
    from flows.report import run_link

    settings = get_settings()
    lines = [f"\nnolabel demo finished in {seconds:.0f} s.", ""]
    lines.append(f"MLflow runs ({settings.tracking_uri}; open the UI with `make mlflow-ui`):")
    for step, run_id in summary.get("mlflow_runs", {}).items():
        lines.append(f"  {step:<8} {run_link(run_id, settings)}")
    lines.append("Registered models:")
    for info in summary.get("models", {}).values():
        lines.append(f"  {info['name']} version {info['version']}  →  {info['uri']}")
    lines += [
        "Serve them (REST, models from the registry):",
        "  nolabel serve --port 8000",
        "  curl -F file=@photo.jpg http://127.0.0.1:8000/v1/predict",
        "Score a folder:  nolabel score --images DIR --out results.json",
        "Flow runs and their artifacts: `make ui`, then http://127.0.0.1:4200/runs",
        "",
    ]
    return "\n".join(lines)


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
    """Run the pipeline offline on synthetic demo photos (CPU, a few minutes)."""
    started = time.monotonic()
    summary = run_build_detector(demo_params(dataset, promote))
    sys.stderr.write(where_to_look(summary, time.monotonic() - started))
    sys.stderr.flush()
    emit(summary)


def register(app: typer.Typer) -> None:
    """Add ``pipeline`` and ``demo`` to the top-level app."""
    app.command("pipeline")(pipeline)
    app.command("demo")(demo)
