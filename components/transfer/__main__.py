"""Container entrypoint: ``python -m components.transfer train|classify|run-json|classify-json``."""

from __future__ import annotations

from components.common.cli import add_json_entrypoint, new_app, run_app
from components.transfer.classify import ClassifyParams, run_classify
from components.transfer.cli import register
from components.transfer.step import TrainParams, run


def main() -> None:
    """Build the transfer app and run it."""
    app = new_app("nolabel transfer step: train and compare classifiers, classify images.")
    register(app)
    add_json_entrypoint(app, run, TrainParams)
    add_json_entrypoint(app, run_classify, ClassifyParams, name="classify-json")
    run_app(app)


if __name__ == "__main__":
    main()
