"""``nolabel train`` and ``nolabel classify``."""

from __future__ import annotations

import typer

from components.common.cli import emit


def train(
    dataset: str = typer.Option(..., "--dataset", help="dataset name (crawled first)"),
    variants: str = typer.Option("all", help="all, seeds, or e.g. L120,cut1,cut2,cut2+flip"),
    backbone: str = typer.Option("efficientnet-lite0", help="efficientnet-lite0/1/2 or resnet50"),
    weights: str = typer.Option(None, help="resnet50: torchvision state dict (path or URL)"),
    input_size: int = typer.Option(224, help="backbone input side in pixels"),
    spark_master: str = typer.Option(None, help="Spark master URL (default local[*])"),
    batch_size: int = typer.Option(32, help="images per inference batch"),
    reg_param: float = typer.Option(0.01, help="LogisticRegression regParam"),
    elastic_net: float = typer.Option(0.0, help="LogisticRegression elasticNetParam"),
    class_weights: bool = typer.Option(True, help="weight classes to balance them"),
    test_fraction: float = typer.Option(0.25, help="held-out share (stratified)"),
    threshold_method: str = typer.Option("f1", help="threshold calibration: f1 or youden"),
    seed: int = typer.Option(42, help="split seed"),
    register: bool = typer.Option(True, help="register the best as nolabel-classifier"),
    refresh_features: bool = typer.Option(False, help="recompute cached features"),
) -> None:
    """Featurize on Spark, compare classifier variants in MLflow, register the best."""
    from components.transfer.step import TrainParams, run

    params = TrainParams(
        dataset=dataset, variants=variants, backbone=backbone, weights=weights,
        input_size=input_size, spark_master=spark_master, batch_size=batch_size,
        reg_param=reg_param, elastic_net=elastic_net, class_weights=class_weights,
        test_fraction=test_fraction, threshold_method=threshold_method, seed=seed,
        register_model=register, refresh_features=refresh_features,
    )  # fmt: skip
    emit(run(params))


def classify(
    images: str = typer.Option(..., "--images", help="directory of images"),
    out: str = typer.Option(..., "--out", help="output .csv or .json"),
    model: str = typer.Option(None, "--model", help="model URI (default: registry)"),
    batch_size: int = typer.Option(32, help="images per batch"),
) -> None:
    """Score a folder of images: file, probability, label."""
    from components.transfer.classify import ClassifyParams, run_classify

    emit(run_classify(ClassifyParams(images=images, out=out, model=model, batch_size=batch_size)))


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``classify`` to an app."""
    app.command("train")(train)
    app.command("classify")(classify)
