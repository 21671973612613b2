"""``nolabel explain``: LIME boxes for the images a classifier calls positive."""

from __future__ import annotations

from pathlib import Path

import typer

from components.common.cli import emit


def explain(
    dataset: str | None = typer.Option(None, "--dataset", help="Dataset name in the store."),
    images: Path | None = typer.Option(None, "--images", help="Directory of images instead."),
    model: str | None = typer.Option(None, "--model", help="Classifier URI (default registry)."),
    out: Path = typer.Option(Path("boxes.coco.json"), "--out", help="COCO JSON to write."),
    gt: Path | None = typer.Option(None, "--gt", help="Human COCO boxes: report IoU/CorLoc/AP50."),
    num_samples: int | None = typer.Option(None, "--num-samples", help="Samples per image."),
    threshold: float | None = typer.Option(None, "--threshold", help="P(positive) to explain."),
    explain_all: bool = typer.Option(False, "--all", help="Explain negatives as well."),
    overlays: int = typer.Option(8, "--overlays", help="Overlay PNGs to draw."),
    spark: bool = typer.Option(True, "--spark/--no-spark", help="Use Spark (default) or not."),
    spark_master: str | None = typer.Option(None, "--spark-master", help="Spark master URL."),
    partitions: int | None = typer.Option(None, "--partitions", help="Spark partitions."),
    segmenter: str = typer.Option("slic", "--segmenter", help="slic or quickshift."),
    n_segments: int | None = typer.Option(None, "--n-segments", help="SLIC superpixel count."),
    fill: str | None = typer.Option(None, "--fill", help="black, mean or blur."),
    localizer: str = typer.Option("lime", "--localizer", help="lime or gradcam (fast)."),
    box_rule: str | None = typer.Option(
        None, "--box-rule", help="coverage, relative or percentile (superpixels boxed)."
    ),
    box_cut: float | None = typer.Option(
        None, "--box-cut", help="relative: share of the top weight; percentile: quantile."
    ),
    coverage: float | None = typer.Option(None, "--coverage", help="Share of weight boxed."),
    merge_distance: float | None = typer.Option(
        None, "--merge-distance", help="Merge box parts closer than this × diagonal."
    ),
    weight_floor: float | None = typer.Option(
        None, "--weight-floor", help="Ignore weights under this × the largest."
    ),
    seed: int = typer.Option(0, "--seed", help="Base random seed."),
) -> None:
    """Explain images with LIME and write the boxes as COCO JSON (+ weights, overlays)."""
    from components.lime.explain import LimeParams
    from components.lime.step import ExplainParams, run

    lime_fields = {"segmenter": segmenter, "seed": seed}
    optional = {
        "n_segments": n_segments,
        "fill": fill,
        "box_rule": box_rule,
        "box_cut": box_cut,
        "coverage": coverage,
        "merge_distance": merge_distance,
        "weight_floor": weight_floor,
    }
    for name, value in optional.items():
        if value is not None:
            lime_fields[name] = value
    params = ExplainParams(
        dataset=dataset,
        images=str(images) if images else None,
        model=model,
        out=str(out),
        gt=str(gt) if gt else None,
        num_samples=num_samples,
        threshold=threshold,
        explain_all=explain_all,
        overlays=overlays,
        spark=spark,
        spark_master=spark_master,
        partitions=partitions,
        localizer=localizer,
        lime=LimeParams(**lime_fields),
    )
    emit(run(params))


def register(app: typer.Typer) -> None:
    """Add ``explain`` to the top-level app."""
    app.command("explain")(explain)
