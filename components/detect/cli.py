"""``nolabel detect train|eval`` and ``nolabel score``."""

from __future__ import annotations

from pathlib import Path

import typer

from components.common.cli import emit, new_app
from components.detect.config import DEFAULT_CONFIG


def train(
    boxes: str = typer.Option(
        ..., "--boxes", help="COCO JSON from `nolabel explain` (path or URI)."
    ),
    config: str = typer.Option(DEFAULT_CONFIG, "--config", help="Config name or file."),
    epochs: int = typer.Option(8, "--epochs", help="Training epochs."),
    image_size: int = typer.Option(
        256, "--image-size", help="Test-time long side (train: -12%..+25%)."
    ),
    batch_size: int = typer.Option(4, "--batch-size", help="Images per iteration."),
    lr: float | None = typer.Option(None, "--lr", help="SGD learning rate (config default)."),
    frozen_stages: int | None = typer.Option(None, "--frozen-stages", help="Frozen stages."),
    load_from: str | None = typer.Option(None, "--load-from", help="Start checkpoint (path/URL)."),
    val_fraction: float = typer.Option(0.2, "--val-fraction", help="Share of images held out."),
    negatives: list[str] = typer.Option(
        [], "--negatives", help="Images without the object: a directory or dataset (repeatable)."
    ),
    max_negatives: int | None = typer.Option(
        None, "--max-negatives", help="At most this many negatives (default: as many as boxed)."
    ),
    target: str | None = typer.Option(
        None, "--target", help="Your unlabeled frames: confident-empty ones become negatives."
    ),
    classifier: str | None = typer.Option(
        None, "--classifier", help="Classifier ranking --target frames (default registry)."
    ),
    target_empty_share: float = typer.Option(
        0.3, "--target-empty-share", help="Lowest-probability share of --target frames used."
    ),
    pastes: int = typer.Option(
        0, "--pastes", help="Composites: boxed objects pasted onto the negatives' images."
    ),
    seed: int = typer.Option(0, "--seed", help="Split/training seed."),
    gt: str | None = typer.Option(None, "--gt", help="Human COCO boxes to score against."),
    images: str | None = typer.Option(None, "--images", help="Directory of the --gt images."),
    overlays: int = typer.Option(8, "--overlays", help="Images in the overlay sample."),
    register_model: bool = typer.Option(
        True, "--register/--no-register", help="Register candidate."
    ),
) -> None:
    """Fine-tune Faster R-CNN on LIME boxes; store, evaluate and register it."""
    from components.detect.step import DetectTrainParams, run

    emit(
        run(
            DetectTrainParams(
                boxes=boxes,
                config=config,
                epochs=epochs,
                image_size=image_size,
                batch_size=batch_size,
                lr=lr,
                frozen_stages=frozen_stages,
                load_from=load_from,
                val_fraction=val_fraction,
                negatives=negatives,
                max_negatives=max_negatives,
                target=target,
                classifier=classifier,
                target_empty_share=target_empty_share,
                pastes=pastes,
                seed=seed,
                gt=gt,
                images=images,
                overlays=overlays,
                register_model=register_model,
            )
        )
    )


def evaluate(
    model: str | None = typer.Option(None, "--model", help="Detector URI (default registry)."),
    gt: str = typer.Option(..., "--gt", help="Human COCO boxes (path or store URI)."),
    images: str | None = typer.Option(None, "--images", help="Directory of the images."),
) -> None:
    """Score a detector against human boxes: COCO mAP, AP50, mean IoU, CorLoc."""
    from components.detect.step import DetectEvalParams, run_eval

    emit(run_eval(DetectEvalParams(model=model, gt=gt, images=images)))


def score(
    images: Path = typer.Option(..., "--images", help="Folder to score (recursively)."),
    out: Path = typer.Option(..., "--out", help="Results JSON."),
    classifier: str | None = typer.Option(None, "--classifier", help="Classifier URI."),
    detector: str | None = typer.Option(None, "--detector", help="Detector URI."),
    batch_size: int = typer.Option(16, "--batch-size", help="Images per batch."),
    min_score: float = typer.Option(
        0.3, "--min-score", help="Drop boxes scoring (detector x classifier) below this."
    ),
    bursts: str = typer.Option(
        "auto", "--bursts", help="Burst grouping: auto, exif, name, folder or none."
    ),
    burst_gap: float = typer.Option(10.0, "--burst-gap", help="EXIF seconds within a burst."),
    boxes_on_empty: bool = typer.Option(
        False, "--boxes-on-empty/--no-boxes-on-empty", help="Keep boxes on frames called empty."
    ),
    use_classifier: bool = typer.Option(True, "--classify/--no-classify", help="Run classifier."),
    use_detector: bool = typer.Option(True, "--detect/--no-detect", help="Run detector."),
    resume: bool = typer.Option(True, "--resume/--restart", help="Reuse partial results."),
    label: str = typer.Option("animal", "--label", help="What the models find (exports)."),
    crops: Path | None = typer.Option(None, "--crops", help="Write crops of the boxes here."),
    crop_padding: float = typer.Option(0.1, "--crop-padding", help="Crop padding × box size."),
) -> None:
    """Classifier probability and detector boxes for every image under a folder (resumable)."""
    from components.detect.score import ScoreParams, run_score

    emit(
        run_score(
            ScoreParams(
                images=str(images),
                out=str(out),
                classifier=classifier,
                detector=detector,
                batch_size=batch_size,
                min_score=min_score,
                bursts=bursts,
                burst_gap=burst_gap,
                boxes_on_empty=boxes_on_empty,
                use_classifier=use_classifier,
                use_detector=use_detector,
                resume=resume,
                label=label,
                crops=str(crops) if crops is not None else None,
                crop_padding=crop_padding,
            )
        )
    )


def build_detect_app() -> typer.Typer:
    """The ``detect`` sub-app: train and eval."""
    app = new_app("Faster R-CNN (MMDetection) fine-tuned on LIME boxes.")
    app.command("train")(train)
    app.command("eval")(evaluate)
    return app


def register(app: typer.Typer) -> None:
    """Add ``detect train|eval`` and ``score`` to the top-level app."""
    app.add_typer(build_detect_app(), name="detect")
    app.command("score")(score)
