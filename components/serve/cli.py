"""``nolabel serve``: the REST API under uvicorn."""

from __future__ import annotations

import typer

from nolabel.components.common.cli import emit
from nolabel.components.serve.step import ServeParams, run


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (0.0.0.0 in a container)."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, min=1, help="uvicorn worker processes."),
    model: str | None = typer.Option(None, "--model", help="Classifier URI or local path."),
    detector: str | None = typer.Option(None, "--detector", help="Detector URI or local path."),
    log_level: str = typer.Option("info", help="Log level (debug, info, warning, error)."),
    report: str | None = typer.Option(
        None, "--report", help="Results JSON of `nolabel score` to show at /report."
    ),
) -> None:
    """Serve predictions over HTTP until interrupted (see GET /docs for the API)."""

    params = ServeParams(
        host=host,
        port=port,
        workers=workers,
        model=model,
        detector=detector,
        log_level=log_level,
        report=report,
    )
    emit(run(params))


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the top-level app."""
    app.command("serve")(serve)
