"""The ``nolabel`` command: one subcommand per step, each printing one JSON line last."""

from __future__ import annotations

import importlib

import typer

from nolabel.components.common.cli import new_app, run_app

# Each module exposes ``register(app)`` adding its subcommands to the top-level app.
STEP_CLI_MODULES = (
    "nolabel.components.crawl.cli",
    "nolabel.components.transfer.cli",
    "nolabel.components.lime.cli",
    "nolabel.components.detect.cli",
    "nolabel.components.serve.cli",
    "nolabel.components.results.cli",
    "nolabel.components.proposals.cli",
    "nolabel.flows.cli",
    "nolabel.components.common.doctor",
)


def build_app() -> typer.Typer:
    """The top-level Typer app with every step's subcommands."""
    app = new_app(
        "nolabel: an object detector for almost anything from web image search, no labels."
    )
    for module_name in STEP_CLI_MODULES:
        importlib.import_module(module_name).register(app)
    return app


def main() -> None:
    """Console-script entry point."""
    run_app(build_app())


if __name__ == "__main__":
    main()
