"""Contracts declared once: the CLI's options are the Params' fields; flows check them upfront."""

from __future__ import annotations

import pytest
import typer
from typer.main import get_command

from nolabel.components.cli import build_app
from nolabel.components.common.cli import model_command, run_app
from nolabel.components.common.errors import InputError
from nolabel.components.serve.contract import ServeParams
from nolabel.flows.params import PipelineParams
from nolabel.flows.pipeline import check_step_params
from nolabel.flows.steps import STEPS

COMMANDS = {  # CLI command path -> its contract's Params
    ("crawl",): STEPS["crawl"].params,
    ("train",): STEPS["train"].params,
    ("explain",): STEPS["explain"].params,
    ("detect", "train"): STEPS["detect"].params,
    ("detect", "eval"): STEPS["evaluate"].params,
    ("score",): STEPS["score"].params,
    ("pipeline",): PipelineParams,
    ("serve",): ServeParams,
}


def _fields(model) -> set[str]:
    names = set()
    for name, info in model.model_fields.items():
        nested = getattr(info.annotation, "model_fields", None)
        names |= set(nested) if nested else {name}
    return names


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_every_params_field_is_an_option_of_its_command(path):
    command = get_command(build_app())
    for name in path:
        command = command.commands[name]
    options = {param.name for param in command.params}
    assert options == _fields(COMMANDS[path])


@pytest.mark.parametrize("step", sorted(STEPS))
def test_step_contracts_refuse_unknown_keys(step):
    contract = STEPS[step]
    for model in (contract.params, contract.result):
        assert model.model_config.get("extra") == "forbid", model.__name__


def test_generated_command_passes_defaults_and_names_flags_in_errors(capsys):
    seen = []
    app = typer.Typer()
    app.command("x")(model_command(STEPS["crawl"].params, seen.append, "doc", {}))
    app.command("y")(lambda: None)
    with pytest.raises(SystemExit):
        run_app(app, ["x", "--dataset", "d", "--positive", "cat", "--per-page", "5"])
    (params,) = seen
    assert params.per_page == 5 and params.pages == 1 and params.negative == []
    with pytest.raises(SystemExit) as exited:
        run_app(app, ["x", "--dataset", "d", "--positive", "cat", "--per-page", "0"])
    assert exited.value.code == 2
    assert "error: invalid parameters: --per-page: " in capsys.readouterr().err


def test_a_misspelled_step_option_fails_before_the_crawl():
    params = PipelineParams(
        dataset="d", positive=["cat"], train_options={"bakbone": "efficientnet-lite1"}
    )
    with pytest.raises(InputError, match="step train params: bakbone"):
        check_step_params(params)
    bad_explain = PipelineParams(dataset="d", positive=["cat"], explain_options={"lime": {"x": 1}})
    with pytest.raises(InputError, match="step explain params: lime.x"):
        check_step_params(bad_explain)
    check_step_params(PipelineParams(dataset="d", positive=["cat"], lime_samples=40))


def test_pipeline_lime_samples_and_lime_options_both_reach_the_explain_step():
    from types import SimpleNamespace

    from nolabel.flows.demo import demo_params
    from nolabel.flows.pipeline import explain_params

    params = PipelineParams.model_validate(demo_params("demo-x", promote=False))
    values = explain_params(params, SimpleNamespace(model_uri="models:/c/1"), None)
    lime = STEPS["explain"].check_params(values).lime
    assert lime.num_samples == params.lime_samples and lime.box_rule == "relative"
