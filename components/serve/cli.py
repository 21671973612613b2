"""``nolabel serve``: the REST API under uvicorn; its options are ``ServeParams``' fields."""

from __future__ import annotations

import typer

from nolabel.components.common.cli import model_command
from nolabel.components.serve.contract import SERVE, ServeParams


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the top-level app."""
    doc = "Serve predictions over HTTP until interrupted (see GET /docs for the API)."
    app.command("serve")(model_command(ServeParams, SERVE, doc))
