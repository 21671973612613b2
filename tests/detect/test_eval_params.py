"""``detect eval`` names the detector ``detector``; ``model`` (its earlier name) still works."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from nolabel.components.common.cli import model_command
from nolabel.components.detect.cli import EVAL_FLAGS
from nolabel.components.detect.contract import DetectEvalParams


def test_both_names_give_the_detector():
    new = DetectEvalParams.model_validate({"detector": "models:/d/1", "gt": "g.json"})
    old = DetectEvalParams.model_validate({"model": "models:/d/1", "gt": "g.json"})
    assert new == old and new.detector == "models:/d/1"
    assert new.model_dump() == {"detector": "models:/d/1", "gt": "g.json", "images": None}


@pytest.mark.parametrize("flag", ["--detector", "--model"])
def test_the_cli_takes_either_flag(flag):
    app = typer.Typer()
    app.command("eval")(model_command(DetectEvalParams, lambda p: p, "eval", EVAL_FLAGS))
    result = CliRunner().invoke(app, [flag, "models:/d/1", "--gt", "g.json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["detector"] == "models:/d/1"
