"""``nolabel sort``, ``nolabel report`` and ``nolabel export``: use score results."""

from __future__ import annotations

from pathlib import Path

import typer

from nolabel.components.common.cli import emit
from nolabel.components.common.errors import InputError
from nolabel.components.results.crops import write_crops
from nolabel.components.results.outputs import write_exports
from nolabel.components.results.records import load_results
from nolabel.components.results.report import heatmap_overlays, write_report
from nolabel.components.results.sorting import sort_frames

RESULTS = typer.Option(..., "--results", help="Results JSON from `nolabel score`.")
IMAGES = typer.Option(None, "--images", help="Where the scored folder is now (default: recorded).")


def sort(
    results: Path = RESULTS,
    into: Path = typer.Option(..., "--into", help="Folder for animal/, empty/ and review/."),
    mode: str = typer.Option("link", "--mode", help="link (symbolic), hardlink or copy."),
    animal_at: float | None = typer.Option(
        None, "--animal-at", help="Animal frames whose evidence is under this go to review/."
    ),
    empty_below: float | None = typer.Option(
        None, "--empty-below", help="Empty frames whose evidence reaches this go to review/."
    ),
    images: Path | None = IMAGES,
) -> None:
    """Put links (or copies) of the frames into animal/, empty/ and review/; originals stay."""

    if mode not in ("link", "hardlink", "copy"):
        raise InputError(f"--mode must be link, hardlink or copy, not {mode!r}")
    loaded = load_results(results, images)
    emit(sort_frames(loaded, into, mode=mode, animal_at=animal_at, empty_below=empty_below))


def report(
    results: Path = RESULTS,
    out: Path = typer.Option(Path("report.html"), "--out", help="The HTML page to write."),
    embed: bool = typer.Option(
        False, "--embed/--link", help="Embed thumbnails (one self-contained file)."
    ),
    heatmaps: int = typer.Option(
        0, "--heatmaps", help="LIME heat maps for this many of the most likely frames."
    ),
    classifier: str | None = typer.Option(
        None, "--classifier", help="Classifier for --heatmaps (default: the registry's)."
    ),
    max_frames: int = typer.Option(5000, "--max-frames", help="Frames on the page at most."),
    images: Path | None = IMAGES,
) -> None:
    """Write a static review page: counts, verdict filter, bursts, boxes, heat maps."""
    loaded = load_results(results, images)
    overlays = {}
    if heatmaps > 0:
        from nolabel.components.transfer.classifier import load_classifier

        overlays = heatmap_overlays(loaded, load_classifier(classifier), heatmaps)
    page = write_report(loaded, out, embed=embed, heatmaps=overlays, max_frames=max_frames)
    emit({"report": str(page), "frames": len(loaded.images), "heatmaps": len(overlays)})


def export(
    results: Path = RESULTS,
    crops: Path | None = typer.Option(None, "--crops", help="Also write crops of the boxes here."),
    crop_padding: float = typer.Option(0.1, "--crop-padding", help="Padding × box size."),
    images: Path | None = IMAGES,
) -> None:
    """(Re)write the MegaDetector JSON and CSV tables beside a results file; crops on request."""
    loaded = load_results(results, images)
    written: dict = write_exports(loaded)
    if crops is not None:
        written["crops"] = write_crops(loaded, crops, crop_padding)
    emit(written)


def register(app: typer.Typer) -> None:
    """Add ``sort``, ``report`` and ``export`` to the top-level app."""
    app.command("sort")(sort)
    app.command("report")(report)
    app.command("export")(export)
