"""``nolabel explain``: its options are ``ExplainParams``' fields and the LIME knobs in them."""

from __future__ import annotations

import typer

from nolabel.components.common.cli import model_command
from nolabel.components.lime.contract import EXPLAIN, ExplainParams

FLAG_NAMES = {"explain_all": "--all"}


def register(app: typer.Typer) -> None:
    """Add ``explain`` to the top-level app."""
    doc = "Explain images with LIME and write the boxes as COCO JSON (+ weights, overlays)."
    app.command("explain")(model_command(ExplainParams, EXPLAIN, doc, FLAG_NAMES))
