"""Foundation subcommands: ``nolabel doctor`` checks the store and tracking configuration."""

from __future__ import annotations

import typer

from nolabel.components.common import tracking
from nolabel.components.common.cli import emit
from nolabel.components.common.errors import NolabelError
from nolabel.components.common.settings import get_settings
from nolabel.components.common.store import open_store


def doctor() -> None:
    """Open the artifact store and MLflow tracking; print where everything lives and which
    pretrained weights are fetched."""

    settings = get_settings()
    store = open_store(settings)
    probe_key = ".nolabel-doctor"
    store.put_bytes(probe_key, b"ok")
    readable = store.get_bytes(probe_key) == b"ok"
    store.delete(probe_key)
    experiment_id = tracking.configure(settings)
    emit(
        {
            "home": str(settings.home),
            "store": store.root_uri(),
            "store_writable": readable,
            "tracking_uri": settings.tracking_uri,
            "experiment_id": experiment_id,
            "artifact_root": tracking.artifact_root(settings),
            "execution": settings.execution,
            "spark_master": settings.spark_master,
            "weights_dir": str(settings.weights_folder),
            "weights": _weights_present(),
        }
    )


def _weights_present() -> dict[str, bool]:
    """Which converted proposal detectors are in the weights folder (`nolabel weights fetch`)."""
    from nolabel.components.proposals.weights import CATALOGUE, weights_path

    present = {}
    for name in CATALOGUE:
        try:
            present[name] = weights_path(name).is_file()
        except NolabelError:
            present[name] = False
    return present


def register(app: typer.Typer) -> None:
    """Add the foundation commands to the top-level app."""
    app.command("doctor")(doctor)
