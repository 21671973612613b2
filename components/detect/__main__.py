"""Container entrypoint: ``python -m components.detect train|eval|score|run-json``."""

from __future__ import annotations

from components.common.cli import add_json_entrypoint, new_app, run_app
from components.detect import cli


def _train(params):
    from components.detect.step import run

    return run(params)


def _eval(params):
    from components.detect.step import run_eval

    return run_eval(params)


def _score(params):
    from components.detect.score import run_score

    return run_score(params)


def main() -> None:
    """Build the step's own app and run it."""
    from components.detect.score import ScoreParams
    from components.detect.step import DetectEvalParams, DetectTrainParams

    app = new_app("nolabel detect step: Faster R-CNN on LIME boxes, folder scoring.")
    app.command("train")(cli.train)
    app.command("eval")(cli.evaluate)
    app.command("score")(cli.score)
    add_json_entrypoint(app, _train, DetectTrainParams)
    add_json_entrypoint(app, _eval, DetectEvalParams, name="eval-json")
    add_json_entrypoint(app, _score, ScoreParams, name="score-json")
    run_app(app)


if __name__ == "__main__":
    main()
