"""Container entrypoint: ``python -m nolabel.components.detect train|eval|score|run-json``."""

from __future__ import annotations

import typer

from nolabel.components.common.cli import container_main
from nolabel.components.detect import cli
from nolabel.components.detect.contract import DETECT, EVALUATE, SCORE


def register(app: typer.Typer) -> None:
    """The step's own commands, at the top of its app."""
    app.command("train")(cli.train_command())
    app.command("eval")(cli.eval_command())
    app.command("score")(cli.score_command())


if __name__ == "__main__":
    help_text = "nolabel detect step: Faster R-CNN on LIME boxes, folder scoring."
    container_main(help_text, register, (DETECT, EVALUATE, SCORE))
