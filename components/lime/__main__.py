"""Container entrypoint: ``python -m components.lime explain|run-json``."""

from __future__ import annotations

from components.common.cli import add_json_entrypoint, new_app, run_app
from components.lime import cli


def _run_json(params):
    from components.lime.step import run

    return run(params)


def main() -> None:
    """Build the step's own app and run it."""
    from components.lime.step import ExplainParams

    app = new_app("nolabel LIME step: boxes from classifier explanations.")
    cli.register(app)
    add_json_entrypoint(app, _run_json, ExplainParams)
    run_app(app)


if __name__ == "__main__":
    main()
